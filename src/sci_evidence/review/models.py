"""The models of a review analysis beside inverse-variance pooling of ``yi``/``vi``: the
binomial-normal GLMM for single proportions, Mantel–Haenszel, Peto and the conditional GLMM
for controlled 2x2 data, and the Bayesian random-effects sensitivity analysis for few studies.

Why: with few, small studies and rare events, inverse-variance pooling of logit or
Freeman–Tukey transformed proportions is biased (a 0/1 case report pulls the Freeman–Tukey
back-transformation towards 0; the logit needs 1/2 added to zero cells), so the main model of
a single proportion is the GLMM fitted to the counts (Stijnen, Hamza & Özdemir 2010, Stat Med
29:3046; Schwarzer et al. 2019, Res Synth Methods 10:476) and the inverse-variance fits are
sensitivity analyses whose disagreement with it is reported (:func:`iv_disagreement`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence import meta
from sci_evidence.errors import DataWarning
from sci_evidence.meta.transforms import measure_scale
from sci_evidence.review.protocol import AnalysisSpec, Protocol
from sci_evidence.review.results import Fit, back

__all__ = [
    "BAYES_MAX_K",
    "DISAGREE_PP",
    "BayesSensitivity",
    "bayes_sensitivity",
    "binary_model_fit",
    "default_tau_scale",
    "fit_glmm",
    "glmm_identification",
    "glmm_subgroup_test",
    "iv_disagreement",
    "iv_proportion_spec",
]

#: Two CI ends further apart than this (percentage points) count as a disagreement of an
#: inverse-variance fit with the GLMM (see :func:`iv_disagreement`).
DISAGREE_PP = 5.0
#: The Bayesian sensitivity analysis runs for pooled analyses with k below this.
BAYES_MAX_K = 5


def fit_glmm(
    rows: pd.DataFrame, protocol: Protocol, *, method: str = "ML", mods: dict | None = None
):
    """The binomial-normal GLMM of ``rows["xi"]`` events of ``rows["ni"]`` (metafor's
    ``rma.glmm(measure="PLO", method=method)``): ``x_i ~ Bin(n_i, expit(theta_i))``,
    ``theta_i ~ N(mu, tau^2)``, tau² by ML, 7-node adaptive Gauss–Hermite quadrature."""
    return meta.pool_glmm(
        xi=rows["xi"].to_numpy(float),
        ni=rows["ni"].to_numpy(float),
        measure="PLO",
        method=method,
        mods=mods,
        level=protocol.level,
        labels=list(rows["label"]),
    )


def glmm_identification(step: str, rows: pd.DataFrame, sink: list[tuple[str, str]]) -> None:
    """Warn when the counts cannot identify the GLMM's between-study variance: with events
    in one study only (or all patients with events in all but one), ML drives τ² up and the
    mean proportion towards 0 (or 1) with an interval over nearly the whole range (metafor
    gives the same); the raw pooled rate is then the plainer summary."""
    xi, ni = rows["xi"].to_numpy(float), rows["ni"].to_numpy(float)
    with_events, not_all = int((xi > 0).sum()), int((xi < ni).sum())
    if len(rows) > 1 and min(with_events, not_all) <= 1:
        what = "events" if with_events <= 1 else "patients without events"
        n = min(with_events, not_all)
        sink.append(
            (
                step,
                f"{what} in {n} of {len(rows)} studies only: the GLMM cannot separate the "
                "between-study variance from the mean, so its estimate and interval say little; "
                f"raw pooled rate {int(xi.sum())}/{int(ni.sum())} = "
                f"{100 * xi.sum() / ni.sum():.1f}%",
            )
        )


def glmm_subgroup_test(rows: pd.DataFrame, protocol: Protocol, groups) -> dict:
    """Test for subgroup differences in the binomial-normal GLMM: the GLMM with one indicator
    per level but the first (in sorted order) as moderators and a common τ²; the Wald test
    of those coefficients (QM, df = levels − 1; metafor's ``rma.glmm(mods = ~ factor(g))``)."""
    g = np.asarray(groups, dtype=str)
    levels = sorted(set(g))
    mods = {f"{lv}": (g == lv).astype(float) for lv in levels[1:]}
    res = fit_glmm(rows, protocol, mods=mods)
    return {
        "model": "binomial-normal GLMM with the subgroup as moderator (common tau2)",
        "reference_level": levels[0],
        "QM": float(res.QM),
        "df": len(levels) - 1,
        "pval": float(res.QM_pval),
        "tau2": float(res.tau2),
        "converged": bool(res.converged),
        # optimiser problems, e.g. a diverging coefficient where a group has no events
        "diagnostics": list(res.diagnostics),
    }


def iv_proportion_spec(spec: AnalysisSpec, which: str) -> tuple[AnalysisSpec, str]:
    """The spec and title of an inverse-variance sensitivity fit of a single proportion:
    random-effects pooling (the spec's ``method``) on the logit (``which="iv_logit"``; 1/2
    added to the cells of a study with 0 or n events, as escalc) or on the Freeman–Tukey
    double arcsine (``"iv_freeman_tukey"``; back-transformed at the harmonic mean of n,
    Miller 1978)."""
    measure = {"iv_logit": "PLO", "iv_freeman_tukey": "PFT"}[which]
    title = {
        "iv_logit": "Inverse-variance model, logit proportions",
        "iv_freeman_tukey": "Inverse-variance model, Freeman–Tukey double arcsine",
    }[which]
    return replace(spec, measure=measure, model="iv"), title


def iv_disagreement(main: Fit, iv: Fit) -> str | None:
    """A warning when an inverse-variance fit disagrees with the GLMM ``main`` (None when
    they agree).

    Rule, on the proportion scale: the fits disagree when the inverse-variance point
    estimate lies outside the GLMM's confidence interval, or when either end of the two
    confidence intervals differs by more than :data:`DISAGREE_PP` (5) percentage points.
    """
    g = back(main.result.measure, _ends(main.result), main.rows)
    v = back(iv.result.measure, _ends(iv.result), iv.rows)
    outside = not (g[1] <= v[0] <= g[2])
    gap = 100 * max(abs(g[1] - v[1]), abs(g[2] - v[2]))
    if not outside and gap <= DISAGREE_PP:
        return None
    why = []
    if outside:
        why.append("its estimate lies outside the GLMM's confidence interval")
    if gap > DISAGREE_PP:
        why.append(f"a CI end differs by {gap:.1f} percentage points (> {DISAGREE_PP:g})")
    pct = int(round(100 * main.result.level))
    return (
        f"{iv.title} gives {_pct(v)} against the GLMM's {_pct(g, pct)}: "
        f"{' and '.join(why)}; the GLMM, fitted to the counts, is the main result"
    )


def _ends(res) -> list[float]:
    return [res.estimate, res.ci_lb, res.ci_ub]


def _pct(v, pct: int = 95) -> str:
    return f"{100 * v[0]:.1f}% ({pct}% CI {100 * v[1]:.1f}–{100 * v[2]:.1f}%)"


_BINARY_TITLES = {
    "mantel_haenszel": "Mantel–Haenszel model (equal effects)",
    "peto": "Peto odds ratio (equal effects)",
    "glmm_conditional": "Conditional GLMM, odds ratio (exact likelihood, random effects)",
}


def binary_model_fit(rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol, which: str):
    """Another model of the controlled 2x2 ``rows`` (a :class:`Fit`, or why not): the
    Mantel–Haenszel estimate of the spec's measure (metafor ``rma.mh``), Peto's odds ratio
    (``rma.peto``; rare events) or the conditional GLMM of the odds ratio with the exact
    non-central hypergeometric likelihood (``rma.glmm(measure="OR", model="CM.EL")``).
    Tables without events in both arms are left out of the GLMM (metafor's ``drop00``)."""
    ai = rows["ai"].to_numpy(float)
    n1i = rows["n1i"].to_numpy(float)
    ci = rows["ci"].to_numpy(float)
    n2i = rows["n2i"].to_numpy(float)
    labels = list(rows["label"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # dropped tables are named below
        if which == "mantel_haenszel":
            res = meta.pool_mh(
                ai, n1i=n1i, ci=ci, n2i=n2i, measure=spec.measure, level=protocol.level,
                labels=labels,
            )  # fmt: skip
        elif which == "peto":
            res = meta.pool_peto(ai, n1i=n1i, ci=ci, n2i=n2i, level=protocol.level, labels=labels)
        elif which == "glmm_conditional":
            keep = ~(((ai + ci) == 0) | ((ai + ci) == (n1i + n2i)))
            if keep.sum() < protocol.min_studies:
                n = int(keep.sum())
                return f"not run: {n} table(s) with events (needs {protocol.min_studies})"
            res = meta.pool_glmm(
                ai=ai[keep], n1i=n1i[keep], ci=ci[keep], n2i=n2i[keep], measure="OR",
                model="CM.EL", level=protocol.level,
                labels=[x for x, k in zip(labels, keep, strict=True) if k],
            )  # fmt: skip
        else:  # pragma: no cover - the protocol validates the names
            raise ValueError(which)
    used = rows
    if len(res.weights) != len(rows):  # tables without events left out of yi (drop00)
        used = rows[[x in set(res.labels) for x in rows["label"]]]
    used = used.reset_index(drop=True).copy()
    used["yi"] = np.asarray(res.yi, float)
    used["vi"] = np.asarray(res.vi, float)
    note = ""
    if len(used) < len(rows):
        left = sorted(set(rows["label"]) - set(used["label"]))
        note = "tables without events in either arm left out: " + ", ".join(map(str, left))
    return Fit(f"{spec.id}:{which}", "sensitivity", _BINARY_TITLES[which], used, res, note)


def default_tau_scale(measure: str) -> float:
    """Scale of the half-normal prior on τ when the protocol does not give one.

    0.5 on log and logit scales (log OR, log RR, logit proportion) and for the SMD: it puts
    95% of the prior below τ = 0.98, i.e. between-study ratios within a factor of about 7
    (Röver et al. 2021, Res Synth Methods 12:448). The same prior carried to the other
    proportion scales by their slope at p = 1/2 (logit 4, double arcsine 2, arcsine 1,
    raw 1): 0.25 (PFT), 0.125 (PAS, PR and the risk difference). 10 points for ASIA score
    differences and changes (MD, MC, MN): the motor score spans 0–100 and the sensory scores
    0–112, so half-normal(10) gives 95% prior mass to τ below 20 points, a tenth to a fifth of
    the range: weakly informative.
    """
    m = measure.upper()
    if m in ("MD", "MC", "MN"):
        return 10.0
    if m == "PFT":
        return 0.25
    if m in ("PAS", "PR", "RD"):
        return 0.125
    return 0.5


@dataclass(frozen=True)
class BayesSensitivity:
    """The Bayesian random-effects sensitivity analysis of one analysis, on the reader's
    scale: posterior median and equal-tailed interval of the mean effect (``median``,
    ``lower``, ``upper``; proportions 0–1, ratios as ratios, points as points), the
    probability that the effect exceeds the null (``prob_above_null``; None for a single
    proportion, which has no null), and the prior."""

    measure: str
    scale: str
    k: int
    tau_prior: tuple
    level: float
    median: float
    lower: float
    upper: float
    tau_median: float
    prob_above_null: float | None
    null: float | None
    result: Any = None  # BayesResult, on the scale of yi

    def text(self) -> str:
        """One sentence, e.g. ``"RR 1.80 (95% credible interval 0.90–3.61); P(RR > 1) = 0.95"``."""
        pct = int(round(100 * self.level))
        m = self.measure
        if self.scale == "proportion":
            est = (
                f"{100 * self.median:.1f}% ({pct}% credible interval "
                f"{100 * self.lower:.1f}–{100 * self.upper:.1f}%)"
            )
        elif self.scale == "ratio":
            est = (
                f"{m} {self.median:.2f} ({pct}% credible interval "
                f"{self.lower:.2f}–{self.upper:.2f})"
            )
        elif m == "RD":
            est = (
                f"RD {100 * self.median:.1f} percentage points ({pct}% credible interval "
                f"{100 * self.lower:.1f} to {100 * self.upper:.1f})"
            )
        else:
            est = (
                f"{self.median:.2f} points ({pct}% credible interval "
                f"{self.lower:.2f} to {self.upper:.2f})"
            )
        if self.prob_above_null is not None:
            name = m if self.scale == "ratio" else ("RD" if m == "RD" else "effect")
            p = self.prob_above_null
            ptxt = "> 0.999" if p > 0.999 else ("< 0.001" if p < 0.001 else f"= {p:.3f}")
            est += f"; P({name} > {self.null:g}) {ptxt}"
        return est

    def prior_text(self) -> str:
        unit = " points" if self.measure in ("MD", "MC", "MN") else ""
        if self.measure == "RD":  # τ in proportion units; the report reads percentage points
            unit = f", i.e. {100 * self.tau_prior[1]:g} percentage points"
        where = {
            "PLO": "logit",
            "PFT": "Freeman–Tukey double-arcsine",
            "PAS": "arcsine",
            "PR": "proportion",
            "RD": "risk difference",
        }.get(self.measure, f"log {self.measure}" if self.scale == "ratio" else "")
        on = f" on the {where} scale" if where else ""
        return (
            f"τ ~ half-normal({self.tau_prior[1]:g}{unit}){on}, flat prior on the mean; "
            f"k = {self.k}"
        )

    def to_dict(self) -> dict:
        return {
            "model": "bayesian random effects (normal-normal)",
            "measure": self.measure,
            "scale": self.scale,
            "k": self.k,
            "tau_prior": list(self.tau_prior),
            "level": self.level,
            "median": self.median,
            "lower": self.lower,
            "upper": self.upper,
            "tau_median": self.tau_median,
            "null": self.null,
            "prob_above_null": self.prob_above_null,
            "text": self.text(),
            "prior": self.prior_text(),
        }


def bayes_sensitivity(
    rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol
) -> BayesSensitivity | str:
    """The Bayesian random-effects sensitivity analysis (:func:`meta.pool_bayes`) of ``rows``
    (``yi``/``vi`` of the spec's measure; logit for a single proportion, log for RR/OR) with
    a half-normal prior on τ (``spec.bayes_tau_scale`` or :func:`default_tau_scale`) and a
    flat prior on the mean; or why it was not run (k ≥ :data:`BAYES_MAX_K`).

    Posterior quantiles are carried to the reader's scale by the (monotone) back-transform,
    which keeps them quantiles. ``prob_above_null`` is P(mu > null) on the analysis scale
    (P(RR > 1) for ratios); a single proportion has none.
    """
    k = len(rows)
    if k >= BAYES_MAX_K:
        return f"not run: k = {k} (run for k < {BAYES_MAX_K})"
    measure = spec.measure
    scale = measure_scale(measure)
    tau = spec.bayes_tau_scale or default_tau_scale(measure)
    res = meta.pool_bayes(
        rows["yi"].to_numpy(float),
        np.sqrt(rows["vi"].to_numpy(float)),
        tau_prior=("halfnormal", tau),
        level=protocol.level,
        measure=measure,
    )
    q = [res.mu.median, res.mu.ci_lb, res.mu.ci_ub]
    med, lo, hi = (float(x) for x in back(measure, q, rows))
    null = scale.analysis_null if spec.design == "controlled" or measure in ("MC", "MN") else None
    p_above = None if null is None else 1.0 - res.prob_below(null)
    return BayesSensitivity(
        measure=measure,
        scale=scale.scale,
        k=k,
        tau_prior=tuple(res.tau_prior),
        level=protocol.level,
        median=med,
        lower=lo,
        upper=hi,
        tau_median=float(res.tau.median),
        prob_above_null=None if p_above is None else float(p_above),
        null=None if null is None else float(back(measure, [null], rows)[0]),
        result=res,
    )
