"""What the evidence base records about its own studies: how they were found (PRISMA 2020),
their risk of bias, their labels, possible duplicates and the tier of their sources.

Small read-only functions over an :class:`~sci_evidence.evidence.model.EvidenceSet`, so the
review and the report ask the base instead of restating its rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from sci_evidence.evidence.model import EvidenceSet

#: Stages whose counts PRISMA 2020 shows in its boxes, in flow order.
PRISMA_STAGES = (
    "identified",
    "duplicates_removed",
    "screened",
    "records_excluded",
    "sought",
    "not_retrieved",
    "assessed",
    "excluded",
    "included",
)


@dataclass(frozen=True)
class PrismaFlow:
    """The PRISMA 2020 flow one review records in the ``screening`` frame.

    Counts are ``None`` when the review records no row for that stage. ``sources`` maps each
    source searched to its records (``None`` when not stated separately); ``excluded_reasons``
    and ``not_retrieved_reasons`` map each reason to a count.
    """

    review: str
    sources: dict[str, int | None] = field(default_factory=dict)
    identified: int | None = None
    duplicates_removed: int | None = None
    screened: int | None = None
    records_excluded: int | None = None
    sought: int | None = None
    not_retrieved: int | None = None
    assessed: int | None = None
    excluded: int | None = None
    included: int | None = None
    excluded_reasons: dict[str, int] = field(default_factory=dict)
    not_retrieved_reasons: dict[str, int] = field(default_factory=dict)
    included_by_design: dict[str, int] = field(default_factory=dict)

    def inconsistencies(self) -> list[str]:
        """The PRISMA identities that fail (an empty list when the counts add up).

        identified − duplicates_removed = screened; screened − records_excluded = sought;
        sought − not_retrieved = assessed; assessed − excluded = included; Σ sources =
        identified (when every source states its records); Σ reasons = their stage count.
        """
        out = []
        checks = (
            ("identified", "duplicates_removed", "screened"),
            ("screened", "records_excluded", "sought"),
            ("sought", "not_retrieved", "assessed"),
            ("assessed", "excluded", "included"),
        )
        for total, minus, rest in checks:
            a, b, c = getattr(self, total), getattr(self, minus), getattr(self, rest)
            if None not in (a, b, c) and a - b != c:
                out.append(f"{total} {a} − {minus} {b} ≠ {rest} {c}")
        src = list(self.sources.values())
        if src and None not in src and self.identified is not None:
            if sum(src) != self.identified:
                out.append(f"sources add up to {sum(src)}, not identified {self.identified}")
        for stage, reasons in (
            ("excluded", self.excluded_reasons),
            ("not_retrieved", self.not_retrieved_reasons),
        ):
            n = getattr(self, stage)
            if reasons and n is not None and sum(reasons.values()) != n:
                out.append(f"{stage} reasons add up to {sum(reasons.values())}, not {n}")
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"PRISMA 2020 flow of {self.review} (records and reports, counts)"]
        for name, n in self.sources.items():
            lines.append(f"  source: {name}: {'not stated' if n is None else n}")
        for stage in PRISMA_STAGES:
            n = getattr(self, stage)
            lines.append(f"  {stage}: {'not recorded' if n is None else n}")
        for reason, n in self.excluded_reasons.items():
            lines.append(f"    excluded, {reason}: {n}")
        return "\n".join(lines)


def prisma_counts(evidence: EvidenceSet, review: str = "bundled") -> PrismaFlow:
    """The PRISMA 2020 flow of ``review`` (default: the evidence base itself).

    A stage's count is the sum of its aggregate rows (``study_id == ""``) when it has any,
    else the number of its per-study rows; reasons come from the rows of ``excluded`` and
    ``not_retrieved``. Stages without rows are ``None`` (not recorded), never guessed.
    """
    sc = evidence.screening
    rows = sc[sc["review"] == review]
    counts: dict[str, int | None] = {}
    for stage in PRISMA_STAGES:
        part = rows[rows["stage"] == stage]
        if part.empty:
            counts[stage] = None
            continue
        agg = part[part["study_id"] == ""]
        if len(agg) and agg["count"].notna().any():
            counts[stage] = int(agg["count"].sum())
        else:
            counts[stage] = int(part["count"].fillna(1).sum())
    src = rows[rows["stage"] == "source"]
    sources = {
        r: None if pd.isna(c) else int(c) for r, c in zip(src["reason"], src["count"], strict=True)
    }
    return PrismaFlow(
        review=review,
        sources=sources,
        excluded_reasons=_reasons(rows, "excluded"),
        not_retrieved_reasons=_reasons(rows, "not_retrieved"),
        included_by_design=_reasons(rows, "included_by_design"),
        **counts,
    )


def _reasons(rows: pd.DataFrame, stage: str) -> dict[str, int]:
    """reason → count; per-study rows when the stage has any, else its aggregate rows."""
    out: dict[str, int] = {}
    part = rows[(rows["stage"] == stage) & (rows["reason"] != "")]
    if (part["study_id"] != "").any():
        part = part[part["study_id"] != ""]
    for reason, count in zip(part["reason"], part["count"], strict=True):
        out[reason] = out.get(reason, 0) + (1 if pd.isna(count) else int(count))
    return out


def risk_of_bias(evidence: EvidenceSet) -> pd.DataFrame:
    """One row per study: ``study_id, label, tool, overall`` and the number of domains judged.

    ``overall`` is the tool's overall judgement as recorded (``""`` for a study without an
    assessment; the bundled base assesses every study).
    """
    rob = evidence.risk_of_bias
    studies = evidence.studies[["study_id", "label"]]
    over = rob[rob["domain"] == "overall"][["study_id", "tool", "judgement"]]
    n_domains = rob[rob["domain"] != "overall"].groupby("study_id").size().rename("domains")
    out = studies.merge(over, on="study_id", how="left").merge(
        n_domains, left_on="study_id", right_index=True, how="left"
    )
    out = out.rename(columns={"judgement": "overall"})
    out[["tool", "overall"]] = out[["tool", "overall"]].fillna("")
    out["domains"] = out["domains"].fillna(0).astype(int)
    return out.reset_index(drop=True)


def study_labels(evidence: EvidenceSet) -> dict[str, str]:
    """study_id → the label a person reads ("Surname Year"; the id when no label is stored)."""
    s = evidence.studies
    return {i: (lab or i) for i, lab in zip(s["study_id"], s["label"], strict=True)}


def possible_duplicates(evidence: EvidenceSet) -> pd.DataFrame:
    """Pairs ``study_id, duplicate_of, overlap_note`` of studies that may report the same
    patients: the review excludes ``study_id`` from main analyses and tries it back as a
    sensitivity analysis."""
    s = evidence.studies
    return s.loc[s["duplicate_of"] != "", ["study_id", "duplicate_of", "overlap_note"]].reset_index(
        drop=True
    )


def primary_sources_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (``outcomes``, ``adverse_events`` or ``studies``) whose values rest
    on a primary report (``source_tier == "primary"``): the "primary sources only"
    sensitivity analysis."""
    return frame[frame["source_tier"] == "primary"].reset_index(drop=True)


@dataclass(frozen=True)
class AnchorComparison:
    """How the base relates to an anchor review whose included list could not be read.

    ``stated_included`` is the review's own count; ``candidates`` the studies found that may be
    among them (none confirmed); ``eligible`` those meeting its stated criteria;
    ``eligible_in_base`` / ``eligible_not_in_base`` split them by whether this base holds them;
    ``base_not_candidates`` are studies of the base that are no candidate of the review.
    """

    review: str
    stated_identified: int | None
    stated_included: int | None
    stated_by_design: dict[str, int]
    candidates: int
    confirmed: int
    eligible: tuple[str, ...]
    eligible_in_base: tuple[str, ...]
    eligible_not_in_base: tuple[str, ...]
    base_not_candidates: tuple[str, ...]

    @property
    def reconstructed(self) -> bool:
        """Whether the review's included list is known: every included study confirmed."""
        return self.stated_included is not None and self.confirmed == self.stated_included

    def to_dict(self) -> dict:
        return asdict(self) | {"reconstructed": self.reconstructed}


def anchor_comparison(evidence: EvidenceSet, review: str = "montoto2023") -> AnchorComparison:
    """The anchor review's stated flow beside its candidate list and this base's studies."""
    cand = evidence.review_candidates
    cand = cand[cand["review"] == review]
    flow = prisma_counts(evidence, review)
    eligible = cand[cand["eligible"].str.lower().str.startswith("yes")]
    in_base = set(evidence.studies["study_id"])
    linked = {s for ids in cand["study_id"] for s in ids.split(";") if s}
    pairs = list(zip(eligible["label"], eligible["study_id"], strict=True))
    eligible_in = [lab for lab, ids in pairs if ids]
    eligible_out = [lab for lab, ids in pairs if not ids]
    confirmed = int(cand["inclusion_status"].str.lower().str.startswith("confirmed").sum())
    return AnchorComparison(
        review=review,
        stated_identified=flow.identified,
        stated_included=flow.included,
        stated_by_design=flow.included_by_design,
        candidates=int((cand["design"] != "systematic review").sum()),
        confirmed=confirmed,
        eligible=tuple(eligible["label"]),
        eligible_in_base=tuple(eligible_in),
        eligible_not_in_base=tuple(eligible_out),
        base_not_candidates=tuple(sorted(in_base - linked)),
    )
