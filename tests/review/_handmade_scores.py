"""The hand-made evidence set (_handmade.py) with light-touch score rows reported as
medians: quartiles (s1), a range (s2, a change) and all five numbers (s4, follow-up). The
evidence schema has no ``min``/``max`` columns; they are added here as a base that records
ranges would carry them. Reference values: make_metafor_scores.R."""

from __future__ import annotations

import pandas as pd
from _handmade import handmade_evidence

from sci_evidence.evidence.model import EvidenceSet

LT_ROWS = [
    # outcome_id, study, baseline?, change?, months, n, mean, sd, min, q1, median, q3, max
    ("s1:lt0", "s1", True, False, 0.0, 14, None, None, None, 30, 40, 52, None),
    ("s1:lt1", "s1", False, False, 12.0, 14, None, None, None, 35, 46, 60, None),
    ("s2:lt1", "s2", False, True, 12.0, 31, None, None, -2, None, 6, None, 20),
    ("s4:lt0", "s4", True, False, 0.0, 11, 50.0, 12.0, None, None, None, None, None),
    ("s4:lt1", "s4", False, False, 12.0, 11, None, None, 30, 45, 55, 66, 80),
]


def score_evidence(rows=LT_ROWS, ci: dict | None = None) -> EvidenceSet:
    """``ci`` maps an outcome id to the 95% CI ``(lower, upper)`` of its mean (columns
    ``ci_lb``/``ci_ub``, which the evidence schema does not have either)."""
    ci = ci or {}
    base = handmade_evidence()
    frames = base.frames()
    o = frames["outcomes"]
    new = []
    for oid, sid, b, ch, t, n, m, sd, lo, q1, med, q3, hi in rows:
        r = {c: (pd.NA if str(o[c].dtype) in ("Int64", "boolean") else None) for c in o.columns}
        r.update(
            outcome_id=oid,
            study_id=sid,
            arm_id=f"{sid}:treated",
            subgroup="",
            outcome="lt_total",
            domain="sensory",
            timepoint="baseline" if b else f"{t:g} months",
            timepoint_months=t,
            is_baseline=b,
            is_change=ch,
            n=n,
            mean=m,
            sd=sd,
            median=med,
            q1=q1,
            q3=q3,
            flags="",
            min=lo,
            max=hi,
            ci_lb=ci.get(oid, (None, None))[0],
            ci_ub=ci.get(oid, (None, None))[1],
        )
        new.append(r)
    add = pd.DataFrame(new)
    frames["outcomes"] = pd.concat([o, add], ignore_index=True)
    for c in (
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
        "min",
        "max",
        "ci_lb",
        "ci_ub",
        "timepoint_months",
    ):
        frames["outcomes"][c] = pd.to_numeric(frames["outcomes"][c], errors="coerce")
    return EvidenceSet.from_frames(frames, origin="handmade-scores")
