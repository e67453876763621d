"""Study filters shared by the study list and the live analysis.

A filter is read from the URL's query string (so a filtered view can be shared) and applied to
an :class:`~sci_evidence.evidence.model.EvidenceSet`. Study-level filters (design, controlled,
source type, risk of bias, search) keep or drop whole studies; arm-level filters (cell source,
autologous/allogeneic, route, dose range, injury phase, baseline AIS) keep the treated arms that
match, and a study stays when at least one of its treated arms does. The arm characteristics
come from the review's own rules (:func:`sci_evidence.review.select.characteristics`, the
same ``baseline_group`` and ``log_dose`` the analyses use), so the web cannot disagree with the
report about what an arm is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from urllib.parse import urlencode

import pandas as pd

from sci_evidence.errors import InputError

#: Source types, from the study flags (``secondary_source_only``).
SOURCE_TYPES = ("primary", "secondary_only")
BASELINE_GROUPS = ("A", "B–D", "mixed", "unknown")
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class StudyFilter:
    """Filter values as given (empty string: no filter). Doses in cells per administration."""

    q: str = ""
    design: str = ""
    controlled: str = ""
    cell_source: str = ""
    auto_allo: str = ""
    route: str = ""
    dose_min: str = ""
    dose_max: str = ""
    injury_phase: str = ""
    baseline_ais: str = ""
    rob: str = ""
    source_type: str = ""

    @classmethod
    def from_query(cls, params) -> StudyFilter:  # noqa: ANN001 - a Mapping of str → str
        values = {f.name: str(params.get(f.name, "") or "").strip()[:200] for f in fields(cls)}
        out = cls(**values)
        out.dose_bounds()  # a bad number is refused here, with its field
        return out

    def items(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def query_string(self) -> str:
        return urlencode(self.items())

    def dose_bounds(self) -> tuple[float, float]:
        """(log10 min, log10 max) of the dose filter; ±inf when open."""
        out = []
        for name, default in (("dose_min", -math.inf), ("dose_max", math.inf)):
            text = getattr(self, name)
            if not text:
                out.append(default)
                continue
            try:
                v = float(text)
            except ValueError:
                raise InputError(
                    "not a number (cells, e.g. 1e6)", column=name, value=text
                ) from None
            if not v > 0 or not math.isfinite(v):
                raise InputError(
                    "the dose must be a positive number of cells", column=name, value=text
                )
            out.append(math.log10(v))
        return out[0], out[1]

    @property
    def arm_level(self) -> bool:
        return any(
            getattr(self, n)
            for n in (
                "cell_source",
                "auto_allo",
                "route",
                "dose_min",
                "dose_max",
                "injury_phase",
                "baseline_ais",
            )
        )


def overall_rob(evidence) -> dict[str, str]:  # noqa: ANN001
    """study_id → overall risk-of-bias judgement (the review's rule)."""
    from sci_evidence.review.pipeline import overall_rob as rule

    return rule(evidence.risk_of_bias)


def arm_table(evidence) -> pd.DataFrame:  # noqa: ANN001
    """One row per treated arm with the review's characteristics of it."""
    from sci_evidence.review.select import characteristics

    studies = evidence.studies.set_index("study_id", drop=False)
    rows = []
    for _, arm in evidence.arms.iterrows():
        if arm["role"] != "treated" or arm["study_id"] not in studies.index:
            continue
        ch = characteristics(arm, studies.loc[arm["study_id"]])
        rows.append(
            {
                "study_id": arm["study_id"],
                "arm_id": arm["arm_id"],
                "cell_source": ch["cell_source"],
                "auto_allo": ch["auto_allo"],
                "route": ch["route"],
                "injury_phase": ch["injury_phase"],
                "baseline_ais": ch["baseline_group"],
                "log_dose": ch["log_dose"],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "study_id",
            "arm_id",
            "cell_source",
            "auto_allo",
            "route",
            "injury_phase",
            "baseline_ais",
            "log_dose",
        ],
    )


def source_type(flags: str) -> str:
    return "secondary_only" if "secondary_source_only" in str(flags or "").split(";") else "primary"


def matching(
    evidence, f: StudyFilter, arms: pd.DataFrame | None = None
) -> tuple[list[str], set[str]]:  # noqa: ANN001
    """(study ids that match, treated arm ids that match) under ``f``."""
    s = evidence.studies
    keep = pd.Series(True, index=s.index)
    if f.q:
        needle = f.q.lower()
        text = (
            s["study_id"].astype(str)
            + " "
            + s["first_author"].astype(str)
            + " "
            + s["title"].astype(str)
            + " "
            + s["journal"].astype(str)
            + " "
            + s["year"].astype(str)
        ).str.lower()
        keep &= text.str.contains(needle, regex=False)
    if f.design:
        keep &= s["design"] == f.design
    if f.controlled:
        ctl = s["controlled"].fillna(False).astype(bool)
        keep &= ctl if f.controlled == "yes" else ~ctl
    if f.source_type:
        keep &= s["flags"].map(source_type) == f.source_type
    if f.rob:
        rob = overall_rob(evidence)
        keep &= s["study_id"].map(lambda sid: rob.get(sid, "not_assessed")) == f.rob
    ids = s.loc[keep, "study_id"].tolist()
    arms = arm_table(evidence) if arms is None else arms
    arms = arms[arms["study_id"].isin(ids)]
    if f.arm_level:
        m = pd.Series(True, index=arms.index)
        for name in ("cell_source", "auto_allo", "route", "injury_phase", "baseline_ais"):
            v = getattr(f, name)
            if v:
                m &= arms[name] == v
        lo, hi = f.dose_bounds()
        if f.dose_min or f.dose_max:
            d = arms["log_dose"].astype(float)
            m &= d.notna() & (d >= lo - 1e-9) & (d <= hi + 1e-9)
        arms = arms[m]
        with_arm = set(arms["study_id"])
        ids = [sid for sid in ids if sid in with_arm]
    return ids, set(arms["arm_id"])


def apply(evidence, f: StudyFilter, arms: pd.DataFrame | None = None):  # noqa: ANN001, ANN201
    """The evidence set restricted to the matching studies and, under arm-level filters, to
    their matching treated arms (control arms of kept studies stay)."""
    ids, treated = matching(evidence, f, arms)
    idset = set(ids)
    a = evidence.arms
    keep_arm = a["study_id"].isin(idset) & ((a["role"] != "treated") | a["arm_id"].isin(treated))
    arm_ids = set(a.loc[keep_arm, "arm_id"])

    def by_study(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["study_id"].isin(idset)]

    def by_arm(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["study_id"].isin(idset) & (df["arm_id"].isin(arm_ids) | (df["arm_id"] == ""))]

    return replace(
        evidence,
        studies=by_study(evidence.studies),
        arms=a[keep_arm],
        outcomes=by_arm(evidence.outcomes),
        adverse_events=by_arm(evidence.adverse_events),
        risk_of_bias=by_study(evidence.risk_of_bias),
    )


def choices(evidence, arms: pd.DataFrame | None = None) -> dict[str, list[str]]:  # noqa: ANN001
    """The values each select box offers (those present in the evidence)."""
    arms = arm_table(evidence) if arms is None else arms
    rob = sorted(set(overall_rob(evidence).values()) | {"not_assessed"})
    return {
        "design": sorted(set(evidence.studies["design"]) - {""}),
        "controlled": list(YES_NO),
        "cell_source": sorted(set(arms["cell_source"])),
        "auto_allo": sorted(set(arms["auto_allo"])),
        "route": sorted(set(arms["route"])),
        "injury_phase": sorted(set(arms["injury_phase"])),
        "baseline_ais": [g for g in BASELINE_GROUPS if g in set(arms["baseline_ais"])],
        "rob": rob,
        "source_type": list(SOURCE_TYPES),
    }
