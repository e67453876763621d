"""Single-arm results read against spontaneous recovery: the natural-history comparison of
one pooled analysis (the rates and changes come from the one engine,
:mod:`sci_evidence.evidence.natural_history`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sci_evidence.evidence import natural_history as nh
from sci_evidence.review.results import back

__all__ = ["conversion_comparison", "score_comparison"]


def conversion_comparison(evidence, rows, res, protocol):
    """Each study's AIS conversion beside the spontaneous rate expected for its baseline
    grades, level and phase (:mod:`sci_evidence.evidence.natural_history`), and the pooled
    proportion beside the weighted expected rate. Returns ``(table, pooled)``."""
    benchmarks = nh.conversion_benchmarks(evidence.natural_history_conversion)
    strata: dict = {}  # each stratum's expected rate, computed once
    recs = []
    for r in rows.to_dict(orient="records"):
        rate, note = nh.study_expected_conversion(
            benchmarks,
            grade_counts=r["grade_counts"],
            level_group=r["level_group"],
            injury_phase=r["injury_phase"],
            cache=strata,
        )
        x, n = int(r["xi"]), int(r["ni"])
        if rate is not None:
            ex = nh.excess_over_expected(x, n, rate, level=protocol.level)
            lo, hi = ex.ci_lb + rate, ex.ci_ub + rate
            recs.append(
                {
                    "study_id": r["study_id"],
                    "label": r["label"],
                    "injury_phase": r["injury_phase"],
                    "baseline_group": r["baseline_group"],
                    "xi": x,
                    "ni": n,
                    "observed": x / n,
                    "ci_lb": lo,
                    "ci_ub": hi,
                    "expected": rate,
                    "excess": ex.excess,
                    "excess_lb": ex.ci_lb,
                    "excess_ub": ex.ci_ub,
                    "pval": ex.pval,
                    "note": note,
                }
            )
        else:
            ex = nh.excess_over_expected(x, n, 0.5, level=protocol.level)
            recs.append(
                {
                    "study_id": r["study_id"],
                    "label": r["label"],
                    "injury_phase": r["injury_phase"],
                    "baseline_group": r["baseline_group"],
                    "xi": x,
                    "ni": n,
                    "observed": x / n,
                    "ci_lb": ex.ci_lb + 0.5,
                    "ci_ub": ex.ci_ub + 0.5,
                    "expected": np.nan,
                    "excess": np.nan,
                    "excess_lb": np.nan,
                    "excess_ub": np.nan,
                    "pval": np.nan,
                    "note": note,
                }
            )
    t = pd.DataFrame(recs)
    known = t["expected"].notna().to_numpy()
    pooled = None
    if known.any():
        w = np.asarray(res.weights, dtype=float)[known]
        expected = float(np.sum(w * t.loc[known, "expected"]) / np.sum(w))
        est, lo, hi = back(res.measure, [res.estimate, res.ci_lb, res.ci_ub], rows)
        pooled = {
            "observed": float(est),
            "ci_lb": float(lo),
            "ci_ub": float(hi),
            "expected": expected,
            "excess": float(est - expected),
            "excess_lb": float(lo - expected),
            "excess_ub": float(hi - expected),
            "by_phase": {
                ph: {
                    "k": int(len(g)),
                    "observed_events": int(g["xi"].sum()),
                    "n": int(g["ni"].sum()),
                    "expected_mean": float(g["expected"].mean())
                    if g["expected"].notna().any()
                    else None,
                }
                for ph, g in t.groupby("injury_phase")
            },
        }
    return t, pooled


_SCORE_LABEL = {
    "motor_total": "ASIA motor score",
    "lt_total": "light touch",
    "pp_total": "pin prick",
}


def score_comparison(evidence, rows, res, spec, protocol):
    """Each study's score change beside the spontaneous change over the same weeks after
    injury (EMSCI means), and the pooled change beside the weighted expected one. Returns
    ``(table, pooled)``."""
    from scipy import stats

    z = stats.norm.ppf(0.5 + protocol.level / 2)
    scores = evidence.natural_history_scores
    recs = []
    for r in rows.to_dict(orient="records"):
        phase = r["injury_phase"]
        tsi = r.get("time_since_injury_months")
        if pd.notna(tsi):
            start_wk = float(tsi) * nh.WEEKS_PER_MONTH
        else:
            start_wk = {"acute": 2.0, "subacute": 12.0, "chronic": 60.0}.get(phase, 2.0)
        fu = r.get("timepoint_months")
        fu = r.get("follow_up_months") if pd.isna(fu) else fu
        fu = 6.0 if (fu is None or pd.isna(fu)) else float(fu)
        end_wk = start_wk + fu * nh.WEEKS_PER_MONTH
        grades = [g for g, c in r["grade_counts"].items() if c]
        grade = max(grades, key=lambda g: r["grade_counts"][g]) if grades else "A"
        ec = nh.expected_score_change(
            scores,
            outcome=spec.outcome,
            baseline_grade=grade,
            level_group=r["level_group"],
            week_from=start_wk,
            week_to=end_wk,
        )
        se = float(np.sqrt(r["vi"]))
        rec = {
            "study_id": r["study_id"],
            "label": r["label"],
            "injury_phase": phase,
            "baseline_grade": grade,
            "observed": r["yi"],
            "ci_lb": r["yi"] - z * se,
            "ci_ub": r["yi"] + z * se,
            "week_from": ec.week_from,
            "week_to": ec.week_to,
            "expected": ec.change,
            "note": ec.note or "",
        }
        if ec.change is not None:
            ese = ec.se or 0.0
            tot = float(np.sqrt(r["vi"] + ese**2))
            rec |= {
                "expected_lb": ec.change - z * ese,
                "expected_ub": ec.change + z * ese,
                "excess": r["yi"] - ec.change,
                "excess_lb": r["yi"] - ec.change - z * tot,
                "excess_ub": r["yi"] - ec.change + z * tot,
            }
        else:
            rec |= {
                "expected": np.nan,
                "expected_lb": np.nan,
                "expected_ub": np.nan,
                "excess": np.nan,
                "excess_lb": np.nan,
                "excess_ub": np.nan,
            }
        recs.append(rec)
    t = pd.DataFrame(recs)
    known = t["expected"].notna().to_numpy()
    pooled = None
    if known.any():
        w = np.asarray(res.weights, dtype=float)[known]
        expected = float(np.sum(w * t.loc[known, "expected"]) / np.sum(w))
        pooled = {
            "observed": res.estimate,
            "ci_lb": res.ci_lb,
            "ci_ub": res.ci_ub,
            "expected": expected,
            "excess": res.estimate - expected,
            "excess_lb": res.ci_lb - expected,
            "excess_ub": res.ci_ub - expected,
        }
    return t, pooled
