"""Write tests/data/review_glmm_rows.csv: the exact rows the default review of the bundled
evidence base pools in its single-proportion analyses (xi of ni, with the subgroup variables)
and its controlled AIS
analysis (2x2 tables), the input of make_metafor_review_glmm.R.

Run: .venv/bin/python tests/review/export_review_glmm_rows.py  (then the R script); re-run both
whenever the bundled data change these rows (test_review_glmm_metafor.py checks they did not).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

OUT = Path(__file__).parents[1] / "data" / "review_glmm_rows.csv"
PROPORTIONS = ("ais_improved_prop", "ae_any_prop", "ae_serious_prop")
TABLES = ("ais_improved_rr",)
#: Subgroup variables of the single-proportion analyses (the GLMM moderator tests).
SUBGROUPS = ("baseline_group", "route", "cell_source", "injury_phase")


def review_rows() -> pd.DataFrame:
    """The rows, as the review used them, one line per study and analysis."""
    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.analyses import run_analysis
    from sci_evidence.review.protocol import load_protocol

    evidence, protocol = load_evidence(), load_protocol()
    out = []
    for aid in PROPORTIONS + TABLES:
        a = run_analysis(evidence, protocol.analysis(aid), protocol)
        if aid in PROPORTIONS:
            cols = ["label", "xi", "ni", *SUBGROUPS]
        else:
            cols = ["label", "ai", "n1i", "ci", "n2i"]
        out.append(a.main.rows[cols].assign(analysis=aid))
    rows = pd.concat(out, ignore_index=True)
    for c in ("xi", "ni", "ai", "n1i", "ci", "n2i"):
        rows[c] = rows[c].astype("Int64")
    return rows[["analysis", "label", "xi", "ni", "ai", "n1i", "ci", "n2i", *SUBGROUPS]]


if __name__ == "__main__":
    review_rows().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
