"""``results.json``: the machine-readable results of a review.

Top level: ``software_version``, ``data_hash``, ``protocol`` (the full protocol as read),
``run`` (the run record: seeds, versions, time), ``analyses`` (one entry per pooled
analysis — main analyses, their sensitivity analyses and every subgroup), ``not_pooled``
(analyses without enough data and why), ``syntheses``, ``grade``, ``comparisons``,
``excluded_studies``.

Each ``analyses`` entry: ``id``, ``parent`` (the main analysis for sensitivity and subgroup
entries), ``kind``, ``title``, ``outcome``, ``measure``, ``method``, ``test``, ``level``,
``studies`` (``study_id``, ``label``, ``arm_id``, the raw numbers used, ``yi``, ``vi``,
``weight`` in percent, ``outcome_ids`` — the evidence rows), ``pooled`` (``k``,
``estimate``, ``se``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``, ``tau2``, ``I2``, ``Q``,
``Q_df``, ``Q_pval``, ``pval`` on the scale of ``yi``; and ``back_transformed`` with
``scale``, ``estimate``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub`` where the measure is
transformed), and for main analyses ``subgroup_tests``, ``meta_regression``,
``robustness``, ``natural_history``, ``grade``, ``notes``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence.review.analyses import RAW_COLUMNS, AnalysisResult, Fit, back
from sci_evidence.review.protocol import TRANSFORMED_MEASURES

_SCALE = {
    "PLO": "proportion",
    "PFT": "proportion",
    "PAS": "proportion",
    "RR": "risk ratio",
    "OR": "odds ratio",
}


def jsonable(v: Any) -> Any:
    """Convert numpy/pandas scalars and containers to JSON-safe values (NaN → None)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, pd.DataFrame):
        return [jsonable(r) for r in v.to_dict(orient="records")]
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return None if not math.isfinite(f) else f
    if isinstance(v, str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def pooled_dict(res, measure: str, rows: pd.DataFrame) -> dict:
    """Pooled numbers on the yi scale and, for transformed measures, back-transformed."""
    d = {
        "k": res.k,
        "estimate": res.estimate,
        "se": res.se,
        "pval": res.pval,
        "ci_lb": res.ci_lb,
        "ci_ub": res.ci_ub,
        "pi_lb": res.pi_lb,
        "pi_ub": res.pi_ub,
        "tau2": res.tau2,
        "I2": res.I2,
        "Q": res.Q,
        "Q_df": res.Q_df,
        "Q_pval": res.Q_pval,
    }
    if measure in TRANSFORMED_MEASURES:
        vals = [res.estimate, res.ci_lb, res.ci_ub, res.pi_lb, res.pi_ub]
        vals = [np.nan if v is None else v for v in vals]
        bt = back(measure, vals, rows)
        d["back_transformed"] = {
            "scale": _SCALE[measure],
            **dict(zip(("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"), bt, strict=True)),
        }
    return jsonable(d)


def studies_list(fit: Fit, measure: str) -> list[dict]:
    rows = fit.rows
    cols = [c for c in RAW_COLUMNS[measure] if c in rows.columns]
    out = []
    for i, (_, r) in enumerate(rows.iterrows()):
        d = {"study_id": r["study_id"], "label": r["label"], "arm_id": r.get("arm_id")}
        for c in cols:
            d[c] = r[c]
        if "control_arm_id" in rows.columns:
            d["control_arm_id"] = r["control_arm_id"]
        if "kind" in rows.columns:
            d["data"] = r["kind"]
        d["timepoint"] = r.get("timepoint")
        d["yi"] = r["yi"]
        d["vi"] = r["vi"]
        d["weight"] = float(fit.result.weights[i])
        d["outcome_ids"] = str(r.get("outcome_ids", "")).split(";")
        out.append(d)
    return jsonable(out)


def fit_entry(fit: Fit, a: AnalysisResult, *, parent: str | None) -> dict:
    s = a.spec
    return {
        "id": fit.id,
        "parent": parent,
        "kind": fit.kind,
        "title": fit.title,
        "outcome": s.outcome,
        "design": s.design,
        "measure": s.measure,
        "method": fit.result.method,
        "test": fit.result.test,
        "level": fit.result.level,
        "studies": studies_list(fit, s.measure),
        "pooled": pooled_dict(fit.result, s.measure, fit.rows),
    }


def subgroup_fits(a: AnalysisResult) -> list[Fit]:
    """One Fit per subgroup level of every subgroup variable."""
    out = []
    for sg in a.subgroups:
        if sg.result is None:
            continue
        groups = np.asarray(sg.result.group_of or a.main.rows[sg.variable].astype(str))
        for g in sg.result.groups:
            rows = a.main.rows[groups == g].reset_index(drop=True)
            out.append(
                Fit(
                    f"{a.spec.id}:{sg.variable}={g}",
                    "subgroup",
                    f"{a.spec.title} — {sg.variable}: {g}",
                    rows,
                    sg.result.results[g],
                )
            )
    return out


def _to_dict(obj: Any) -> Any:
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return jsonable(obj)


def analysis_entries(a: AnalysisResult) -> list[dict]:
    if a.main is None:
        return []
    main = fit_entry(a.main, a, parent=None)
    main["subgroup_tests"] = [
        {
            "variable": sg.variable,
            "Q_between": None if sg.result is None else sg.result.Q_between,
            "Q_between_df": None if sg.result is None else sg.result.Q_between_df,
            "Q_between_pval": None if sg.result is None else sg.result.Q_between_pval,
            "tau2": None if sg.result is None else sg.result.tau2_mode,
            "groups": [] if sg.result is None else list(sg.result.groups),
            "cautions": list(sg.cautions),
            "note": sg.note,
        }
        for sg in a.subgroups
    ]
    main["meta_regression"] = {
        m: (
            r
            if isinstance(r, str)
            else {
                "k": r.k,
                "coefficients": jsonable(r.coefficients.reset_index().to_dict(orient="records")),
                "QM": r.QM,
                "QM_pval": r.QM_pval,
                "tau2": r.tau2,
                "R2": r.R2,
                "note": "log_dose = log10(cells per administration); cells/kg at 70 kg"
                if m == "log_dose"
                else "",
            }
        )
        for m, r in a.regressions.items()
    }
    main["robustness"] = {k: _to_dict(v) for k, v in a.robustness.items()}
    main["sensitivity"] = {k: (v if isinstance(v, str) else v.id) for k, v in a.sensitivity.items()}
    if a.natural_history is not None:
        main["natural_history"] = {
            "kind": a.spec.natural_history,
            "studies": jsonable(a.natural_history),
            "pooled": jsonable(a.natural_history_pooled),
        }
    main["grade"] = a.grade.to_dict() if a.grade else None
    main["notes"] = list(a.notes)
    main["excluded_studies"] = jsonable(a.selection.excluded)
    out = [main]
    for v in a.sensitivity.values():
        if isinstance(v, Fit):
            out.append(fit_entry(v, a, parent=a.spec.id))
    for f in subgroup_fits(a):
        out.append(fit_entry(f, a, parent=a.spec.id))
    return jsonable(out)


def results_dict(review) -> dict:
    """The whole ``results.json`` document of a :class:`ReviewResult`."""
    analyses = []
    for a in review.analyses:
        analyses.extend(analysis_entries(a))
    return jsonable(
        {
            "software_version": review.record.software_version,
            "data_hash": review.record.data_hash,
            "protocol": review.protocol.to_dict(),
            "run": review.record.to_dict(),
            "analyses": analyses,
            "not_pooled": [
                {
                    "id": a.spec.id,
                    "title": a.spec.title,
                    "status": a.status,
                    "notes": list(a.notes),
                    "k": len(a.selection.rows),
                }
                for a in review.analyses
                if a.main is None
            ],
            "syntheses": [
                {"id": spec.id, "title": spec.title, **res.to_dict()}
                for spec, res in review.syntheses
            ],
            "grade": [a.grade.to_dict() for a in review.analyses if a.grade is not None],
            "comparisons": review.comparisons,
            "excluded_studies": review.excluded,
            "serious_adverse_events": review.safety_events,
        }
    )
