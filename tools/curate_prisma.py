"""The PRISMA 2020 flow of the bundled base, counted from the base itself, and the stated flow of
the published reviews (``screening`` frame).

How the studies of the base were found: three passes over public pages, each a "source" in
PRISMA terms: the first extraction (``studies_raw.csv``, source keys ``S_*``), the second
(``outcomes_raw.csv``, keys ``E2_*``) and the audit (``raw/audit/``, sources cited by URL). A
record is one study named by one source entry of a pass (an abstract, a review-table row, a
registry page); the same study named again is a duplicate. Candidates that never entered the
base are listed in ``decisions/prisma_candidates.yaml`` with the reason. Counts:

    identified = Σ records over the passes          duplicates_removed = identified − screened
    screened = distinct studies and candidates      records_excluded (title/abstract) = 0
    sought = screened − records_excluded            not_retrieved = candidates without a report
    assessed = sought − not_retrieved               excluded = assessed − included (with reasons)
    included = studies of the base
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from sci_evidence.evidence.columns import coerce_frame

HERE = Path(__file__).resolve().parent
DECISIONS_DIR = HERE / "curation" / "decisions"
RAW_DIR = HERE / "curation" / "raw"

PASSES = (
    ("S_", "extraction pass 1: studies_raw.csv (sources.md: abstracts, review tables, registries)"),
    ("E2_", "extraction pass 2: outcomes_raw.csv (sources_outcomes.md: tables, figures)"),
    ("http", "audit of the base: shared/evidence/audit (pages cited by URL)"),
)
NOTE = "counted from the source keys of every row of the base (tools/curate_prisma.py)"


def _keys_by_study(frames: dict[str, pd.DataFrame]) -> dict[str, set[str]]:
    """study_id → every source key or URL that names it, over all rows of the base."""
    arm_study = dict(zip(frames["arms"]["arm_id"], frames["arms"]["study_id"], strict=True))
    out: dict[str, set[str]] = {s: set() for s in frames["studies"]["study_id"]}

    def add(study: str, keys: str) -> None:
        if study in out:
            out[study] |= {k.strip() for k in str(keys).split(";") if k.strip()}

    for name in ("studies", "arms", "outcomes", "adverse_events"):
        for s, k in zip(frames[name]["study_id"], frames[name]["source_key"], strict=True):
            add(s, k)
    prov = frames["provenance"]
    for key, k in zip(prov["key"], prov["source_key"], strict=True):
        add(arm_study.get(key, key.split(":")[0]), k)
    return out


def _row(stage, count, reason="", study_id="", source="", where="", verbatim="", status=""):
    return dict(
        review="bundled",
        stage=stage,
        count=count,
        study_id=study_id,
        reason=reason,
        source_key=source,
        where_in_source=where,
        verbatim=verbatim,
        status=status or "derived",
    )


def bundled_flow(frames: dict[str, pd.DataFrame]) -> list[dict]:
    with (DECISIONS_DIR / "prisma_candidates.yaml").open(encoding="utf-8") as fh:
        candidates = yaml.safe_load(fh)
    keys = _keys_by_study(frames)
    records = {prefix: 0 for prefix, _ in PASSES}
    for study_keys in keys.values():
        for prefix, _ in PASSES:
            records[prefix] += sum(1 for k in study_keys if k.startswith(prefix))
    for c in candidates:
        records[c["pass"]] += 1
    rows = [_row("source", records[p], what, where=NOTE) for p, what in PASSES]
    identified = sum(records.values())
    included = len(frames["studies"])
    screened = included + len(candidates)
    not_retrieved = [c for c in candidates if c["stage"] == "not_retrieved"]
    excluded = [c for c in candidates if c["stage"] == "excluded"]
    sought = screened
    assessed = sought - len(not_retrieved)
    if assessed - len(excluded) != included:
        raise ValueError("PRISMA counts do not add up: assessed - excluded != included")
    rows += [
        _row("identified", identified, "records: studies named by a source entry", where=NOTE),
        _row("duplicates_removed", identified - screened, "the same study named again", where=NOTE),
        _row("screened", screened, "distinct studies and candidates", where=NOTE),
        _row("records_excluded", 0, "none: every record was a clinical study of cells in SCI"),
        _row("sought", sought, "reports sought for every screened record", where=NOTE),
        _row("assessed", assessed, "reports assessed for eligibility", where=NOTE),
        _row("included", included, "studies in the evidence base", where=NOTE),
    ]
    # One row per candidate that left (count 1, with its reason); the candidate is named in
    # where_in_source, not study_id, because it is no study of the base.
    for c in not_retrieved + excluded:
        rows.append(
            _row(
                c["stage"],
                1,
                c["reason"],
                "",
                c["source_url"],
                f"candidate {c['candidate']} (decisions/prisma_candidates.yaml)",
                c["quote"],
                "interpreted",
            )
        )
    for s in frames["studies"].to_dict("records"):
        rows.append(
            _row(
                "included",
                1,
                "clinical study of MSC (or a flagged related product) in SCI",
                s["study_id"],
                s["source_key"],
                s["where_in_source"],
                "",
                "interpreted",
            )
        )
    return rows


def anchor_review_flow() -> list[dict]:
    """Montoto-Meijide 2023's stated methods and flow (its abstract)."""
    url = "http://47.251.13.51:8081/37511478"
    quote = (
        "A comprehensive search of PUBMED and COCHRANE databases until February 2023 ... Among "
        "the 53 studies initially identified, 22 (21 clinical trials and 1 case series) were "
        "included."
    )
    out = []
    for stage, count, reason in (
        ("source", None, "PubMed, searched until February 2023"),
        ("source", None, "Cochrane, searched until February 2023"),
        ("included_by_design", 21, "clinical trial"),
        ("included_by_design", 1, "case series"),
    ):
        out.append(
            dict(
                review="montoto2023",
                stage=stage,
                count=count,
                study_id="",
                reason=reason,
                source_key=url,
                where_in_source="abstract",
                verbatim=quote,
                status="reported",
            )
        )
    return out


def build(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The published reviews' rows of the first stage, the anchor's flow, the base's flow."""
    published = frames["screening"][frames["screening"]["review"] != "bundled"]
    rows = published.to_dict("records") + anchor_review_flow() + bundled_flow(frames)
    return coerce_frame(pd.DataFrame(rows), "screening")
