"""ASIA motor, light touch and pin prick scores: the numbers behind a score analysis and the
correlation sensitivity of change scores (what the review says when fewer than two studies
can be pooled is :mod:`sci_evidence.review.score_studies`).

Rules (stated in the report's methods):

* **Reported or converted** — an arm's mean and SD are taken as reported; otherwise a median
  with its interquartile range and/or range (``q1``/``q3``; ``min``/``max`` where the
  evidence has such columns) is converted with :func:`sci_evidence.meta.fivenum_to_mean_sd`
  (default Luo et al. 2018 mean, Wan et al. 2014 / Shi et al. 2020 SD; metafor
  ``conv.fivenum``), and the row is marked "converted" with the method.
* **Motor total from its parts** — an arm without a motor total whose upper- and
  lower-extremity motor scores (UEMS, LEMS) are both reported at the same time point gets
  ``motor_total = UEMS + LEMS``; the SD of the sum is ``sd_U + sd_L`` (correlation 1
  between the parts: the largest SD the two allow, a conservative choice) and is marked.
* **SD from a CI** — a reported mean (change) with its 95% CI and n, without an SD:
  ``SD = √n·(upper − lower)/(2·t)`` (Cochrane Handbook §6.5.2.3; :func:`sd_from_ci`).
* **Change SD** — from baseline and follow-up SDs, ``sd_change = √(sd₁² + sd₂² − 2·r·sd₁·sd₂)``
  (Cochrane Handbook §6.5.2.8) with the protocol's ``ri`` (default 0.5); the sensitivity
  analysis ``change_correlation`` refits with r = 0.2, 0.5 and 0.8.
* **Fewer than two studies** — see :mod:`sci_evidence.review.score_studies`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from sci_evidence import meta
from sci_evidence.errors import InputError

#: The correlations of the change-score sensitivity analysis (Cochrane Handbook §6.5.2.8).
CHANGE_CORRELATIONS = (0.2, 0.5, 0.8)

#: Outcome → (name a reader knows, range of the scale). International Standards for
#: Neurological Classification of SCI: motor 0–100 (UEMS and LEMS 0–50 each), light touch
#: and pin prick 0–112 each; "sensory_total" is light touch + pin prick, 0–224.
SCALES = {
    "motor_total": ("ASIA motor score", "0–100"),
    "uems": ("upper-extremity motor score", "0–50"),
    "lems": ("lower-extremity motor score", "0–50"),
    "lt_total": ("ASIA light touch score", "0–112"),
    "pp_total": ("ASIA pin prick score", "0–112"),
    "sensory_total": ("ASIA sensory score (light touch + pin prick)", "0–224"),
}

#: A total that may be built from its parts when the total itself is not reported.
COMPONENTS = {"motor_total": ("uems", "lems")}

_KEY = ("study_id", "arm_id", "subgroup", "timepoint_months", "is_baseline", "is_change")


def number(v) -> float | None:
    """``v`` as a finite float, or None (missing, NaN, not a number)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def summary(r: dict, n: float | None = None) -> tuple[float, float, str] | None:
    """``(mean, sd, how)`` of one outcome record, or None when neither is available.

    ``how`` is ``""`` for a reported mean and SD (or the derivation note of a derived
    row); a mean with its 95% CI (``ci_lb``, ``ci_ub`` where an evidence set carries them)
    gives the SD by :func:`sd_from_ci`; else ``"converted from median and IQR (luo-wan)"``
    and the like: the median with ``q1``/``q3`` and/or ``min``/``max`` converted by
    :func:`meta.fivenum_to_mean_sd` (needs ``n`` ≥ 3: the record's own or the one given).

    Raises
    ------
    InputError
        A summary the conversion refuses (values out of order), naming the outcome row.
    """
    mean, sd = number(r.get("mean")), number(r.get("sd"))
    if mean is not None and sd is not None:
        d = r.get("derived")
        return mean, sd, "" if d is None or pd.isna(d) else f"derived: {d}"
    nn = number(r.get("n"))
    nn = nn if nn is not None else n
    lo, hi = number(r.get("ci_lb")), number(r.get("ci_ub"))
    if mean is not None and lo is not None and hi is not None and nn is not None and nn >= 2:
        return mean, sd_from_ci(lo, hi, nn), "SD from the 95% CI of the mean (Cochrane 6.5.2.3)"
    med = number(r.get("median"))
    if med is None or nn is None or nn < 3:
        return None
    q = {k: number(r.get(k)) for k in ("min", "q1", "q3", "max")}
    iqr = q["q1"] is not None and q["q3"] is not None
    rng = q["min"] is not None and q["max"] is not None
    if not (iqr or rng):
        return None
    try:
        est = meta.fivenum_to_mean_sd(
            min=q["min"] if rng else None,
            q1=q["q1"] if iqr else None,
            median=med,
            q3=q["q3"] if iqr else None,
            max=q["max"] if rng else None,
            n=nn,
        )
    except InputError as e:
        raise InputError(f"outcome row {r.get('outcome_id')}: {e}") from e
    what = "IQR and range" if iqr and rng else ("IQR" if iqr else "range")
    return est.mean, est.sd, f"converted from median and {what} ({est.method})"


def sd_from_ci(lower: float, upper: float, n: float) -> float:
    """SD of a mean (or mean change) from its 95% confidence interval.

    ``SD = √n · (upper − lower) / (2·q)`` with ``q`` the 97.5% quantile of Student's t on
    n − 1 degrees of freedom for n < 60 and of the normal distribution (1.96) otherwise
    (Cochrane Handbook for Systematic Reviews of Interventions v6.4, §6.5.2.2–6.5.2.3).
    """
    if upper < lower:
        raise InputError(f"CI upper bound {upper:g} is below its lower bound {lower:g}")
    q = stats.t.ppf(0.975, n - 1) if n < 60 else stats.norm.ppf(0.975)
    return math.sqrt(n) * (upper - lower) / (2.0 * float(q))


def with_components(outcomes: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The rows of ``outcome``, plus rows summed from its parts (:data:`COMPONENTS`) for
    arms that report no ``outcome`` row: one per time point where every part has a mean
    (SD of the sum ``Σ sd`` when every part has one; n the smallest of the parts')."""
    parts = COMPONENTS.get(outcome, ())
    # filter first: the whole outcomes frame is large and copying it per analysis is slow
    o = outcomes[outcomes["outcome"] == outcome]
    if not parts:
        return o
    have = set(o["arm_id"])
    sub = outcomes[outcomes["outcome"].isin(parts) & ~outcomes["arm_id"].isin(have)]
    sub = sub[sub["mean"].notna()]
    if sub.empty:
        return o
    groups: dict[tuple, dict[str, dict]] = {}
    for r in sub.to_dict(orient="records"):
        key = tuple(
            ("" if pd.isna(r[c]) else r[c]) if c in ("subgroup", "timepoint_months") else r[c]
            for c in _KEY
        )
        groups.setdefault(key, {})[r["outcome"]] = r
    new = []
    for got in groups.values():
        if set(got) != set(parts):
            continue  # "only when both are given"
        first = got[parts[0]]
        sds = [number(got[p]["sd"]) for p in parts]
        ns = [number(got[p]["n"]) for p in parts]
        row = dict(first)
        row.update(
            outcome_id=";".join(str(got[p]["outcome_id"]) for p in parts),
            outcome=outcome,
            mean=sum(float(got[p]["mean"]) for p in parts),
            sd=sum(sds) if all(s is not None for s in sds) else np.nan,
            n=min(ns) if all(x is not None for x in ns) else pd.NA,
            median=np.nan,
            q1=np.nan,
            q3=np.nan,
            flags=";".join(
                sorted({f for p in parts for f in str(got[p]["flags"] or "").split(";") if f})
            ),
            derived=" + ".join(p.upper() for p in parts)
            + " (SD of the sum at correlation 1 between the parts, conservative)",
        )
        new.append(row)
    if not new:
        return o
    return pd.concat([o, pd.DataFrame(new)], ignore_index=True)


def correlation_fits(rows: pd.DataFrame, spec, fit) -> dict:
    """The change-correlation sensitivity analysis: the main model refitted with the change
    SD of every pre/post row computed at r = 0.2, 0.5 and 0.8 (:data:`CHANGE_CORRELATIONS`).

    ``fit(spec_at_r, r) -> Fit`` recomputes the effect sizes and refits. Returns
    ``{"change_correlation_r=0.2": Fit, …}``, or
    ``{"change_correlation": why}`` when no row has its change SD computed from baseline
    and follow-up SDs (nothing would change).
    """
    kind = rows["kind"] if "kind" in rows.columns else pd.Series("", index=rows.index)
    if not (kind == "pre-post").any():
        return {
            "change_correlation": "not run: every study reports its change SD "
            "(none was computed from baseline and follow-up SDs)"
        }
    out = {}
    for r in CHANGE_CORRELATIONS:
        s = replace(spec, ri=r)
        out[f"change_correlation_r={r:g}"] = fit(s, r)
    return out
