r"""Small-study effects and publication bias: Egger's regression test, Begg's rank test,
PET-PEESE limit estimates and fail-safe N, as metafor 3.8-1 computes them.

* :func:`egger_test` -- metafor's ``regtest``. ``model="rma"`` (default) adds the predictor
  (default the standard error :math:`\sqrt{v_i}`) to the model's design matrix and refits it
  with the model's estimator and test: the predictor's Wald z (or t) test is the test of
  funnel asymmetry. ``model="lm"`` is the classical Egger test: weighted least squares of
  :math:`y_i` on the predictor with weights :math:`1/v_i` and a multiplicative dispersion
  :math:`\hat\phi = \sum w_i e_i^2/(k-p-1)`, t test with :math:`k-p-1` df.
* :func:`rank_test` -- Begg and Mazumdar: Kendall's tau between the standardised deviates
  :math:`(y_i-\hat\theta_{EE})/\sqrt{v_i - 1/\sum_j w_j}` and :math:`v_i`; exact p-value
  without ties (any k, as ``ranktest`` asks ``cor.test`` for it), normal approximation with
  the tie-corrected variance otherwise.
* :func:`pet_peese` -- the limit estimates (intercepts) of the regressions on
  :math:`\sqrt{v_i}` (PET) and on :math:`v_i` (PEESE).
* :func:`fail_safe_n` -- Rosenthal (Stouffer), Orwin and Rosenberg.

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). BMJ 315:629-634.
doi:10.1136/bmj.315.7109.629
Begg CB, Mazumdar M (1994). Biometrics 50:1088-1101. doi:10.2307/2533446
Stanley TD, Doucouliagos H (2014). Res Synth Methods 5:60-78. doi:10.1002/jrsm.1095
Rosenthal R (1979). Psychol Bull 86:638-641. doi:10.1037/0033-2909.86.3.638
Orwin RG (1983). J Educ Stat 8:157-159. doi:10.3102/10769986008002157
Rosenberg MS (2005). Evolution 59:464-468. doi:10.1111/j.0014-3820.2005.tb01004.x
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import chdtrc, ndtr, ndtri, stdtr, stdtrit

from ..errors import InputError
from .models import fit_design
from .validation import check_option

__all__ = [
    "EggerResult",
    "RankTestResult",
    "PetPeeseResult",
    "FailSafeResult",
    "egger_test",
    "rank_test",
    "pet_peese",
    "fail_safe_n",
]

EGGER_MODELS = ("rma", "lm")
EGGER_PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: Predictors whose limit (intercept) is the effect of an infinitely large study.
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")


def _jf(x: Any) -> Any:
    """JSON-safe scalar: NaN/inf become None, numpy scalars Python ones."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, (np.integer, int)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def _dict(obj: Any) -> dict[str, Any]:
    return {k: _jf(v) for k, v in asdict(obj).items()}


def _check_pool_result(res: Any, what: str) -> None:
    for attr in ("yi", "vi", "X", "method"):
        if not hasattr(res, attr):
            raise InputError(f"{what} needs a fitted model (a PoolResult from pool())")


# --------------------------------------------------------------------------- Egger


@dataclass(frozen=True)
class EggerResult:
    """Regression test for funnel plot asymmetry (metafor ``regtest``).

    ``z`` is the test statistic of the predictor: a z value (``model="rma"`` with a z test)
    or a t value (``model="lm"``, or a Knapp-Hartung/t model; then ``dof`` is set).
    ``limit_estimate`` is the intercept (the effect as the predictor goes to 0: PET for
    ``sei``, PEESE for ``vi``), with its confidence interval.
    """

    model: str
    predictor: str
    method: str
    k: int
    z: float
    pval: float
    dof: int | None
    slope: float
    slope_se: float
    limit_estimate: float | None
    limit_se: float | None
    limit_ci_lb: float | None
    limit_ci_ub: float | None
    level: float

    @property
    def stat(self) -> float:
        return self.z

    def summary(self) -> str:
        kind = (
            "mixed-effects meta-regression model"
            if self.model == "rma"
            else "weighted regression with multiplicative dispersion"
        )
        name = "t" if self.dof is not None else "z"
        dof = f", df = {self.dof}" if self.dof is not None else ""
        out = [
            "Regression test for funnel plot asymmetry",
            f"  model: {kind} ({self.method if self.model == 'rma' else 'lm'}); "
            f"predictor: {self.predictor}",
            f"  test for funnel plot asymmetry: {name} = {self.z:.4f}{dof}, p = {self.pval:.4f}",
        ]
        if self.limit_estimate is not None:
            out.append(
                f"  limit estimate (as {self.predictor} -> 0): {self.limit_estimate:.4f} "
                f"({100 * self.level:g}% CI {self.limit_ci_lb:.4f} to {self.limit_ci_ub:.4f})"
            )
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return _dict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def _predictor_column(res: Any, predictor: str, ni: Any) -> np.ndarray:
    vi = np.asarray(res.vi, dtype=float)
    if predictor == "sei":
        return np.sqrt(vi)
    if predictor == "vi":
        return vi
    if ni is None:
        raise InputError(
            f"predictor={predictor!r} needs the sample sizes; pass ni= (one per study)",
            column="ni",
        )
    n = np.asarray(ni, dtype=float)
    if n.shape != vi.shape:
        raise InputError(f"ni has {n.size} values but the model has {vi.size} studies", column="ni")
    if not np.all(np.isfinite(n) & (n > 0)):
        bad = int(np.flatnonzero(~(np.isfinite(n) & (n > 0)))[0])
        raise InputError("sample sizes must be positive", row=bad + 1, column="ni", value=n[bad])
    return {"ni": n, "ninv": 1.0 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1.0 / np.sqrt(n)}[predictor]


def egger_test(
    res: Any,
    model: str = "rma",
    *,
    predictor: str = "sei",
    ni: Any = None,
) -> EggerResult:
    r"""Egger's regression test for funnel plot asymmetry (metafor's ``regtest``).

    Parameters
    ----------
    res : PoolResult
        The fitted model. Its moderators, estimator, test and level are kept.
    model : {"rma", "lm"}, default "rma"
        ``"rma"``: the model refitted with the predictor added (metafor's default; z test
        when the model uses z). ``"lm"``: the classical test, weighted least squares with
        weights :math:`1/v_i` and multiplicative dispersion, t test with k - p - 1 df.
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}, default "sei"
    ni : array_like, optional
        Sample sizes, needed by the ``n*`` predictors.

    Returns
    -------
    EggerResult
        ``z`` and ``pval`` of the predictor, and the limit estimate (intercept) for the
        predictors ``sei``, ``vi``, ``ninv``, ``sqrtninv`` in models without moderators.
    """
    _check_pool_result(res, "egger_test")
    model = check_option("model", model, EGGER_MODELS)
    predictor = check_option("predictor", predictor, EGGER_PREDICTORS)
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    X0 = np.asarray(res.X, dtype=float)
    k, p = X0.shape
    X = np.column_stack([X0, _predictor_column(res, predictor, ni)])
    if k <= p + 1 or np.linalg.matrix_rank(X) < p + 1:
        raise InputError(
            f"the regression test needs the model matrix to stay of full rank after adding "
            f"{predictor} and at least {p + 2} studies (k = {k})"
        )
    level = float(getattr(res, "level", 0.95))
    has_int = bool(np.all(X0[:, 0] == 1.0))
    limit_ok = predictor in _LIMIT_PREDICTORS and p == 1 and has_int
    if model == "rma":
        fit = fit_design(
            yi,
            vi,
            X,
            method=res.method,
            test=res.test,
            level=level,
            tau2=res.tau2 if getattr(res, "tau2_fixed", False) else None,
            control=getattr(res, "control", None) or None,
        )
        z, pval = float(fit.beta_stat[p]), float(fit.beta_pval[p])
        dof = fit.dof
        slope, slope_se = float(fit.beta[p]), float(fit.beta_se[p])
        b0, se0, lb, ub = (
            float(fit.beta[0]),
            float(fit.beta_se[0]),
            float(fit.beta_ci_lb[0]),
            float(fit.beta_ci_ub[0]),
        )
    else:
        w = 1.0 / vi
        XtW = X.T * w
        A = np.linalg.inv(XtW @ X)
        beta = A @ (XtW @ yi)
        e = yi - X @ beta
        dof = k - p - 1
        phi = float(w @ (e * e)) / dof
        se = np.sqrt(np.diag(A) * phi)
        tvals = beta / se
        z, pval = float(tvals[p]), float(2.0 * stdtr(dof, -abs(tvals[p])))
        slope, slope_se = float(beta[p]), float(se[p])
        crit = float(stdtrit(dof, 1.0 - (1.0 - level) / 2.0))
        b0, se0 = float(beta[0]), float(se[0])
        lb, ub = b0 - crit * se0, b0 + crit * se0
    return EggerResult(
        model=model,
        predictor=predictor,
        method=res.method,
        k=k,
        z=z,
        pval=pval,
        dof=dof,
        slope=slope,
        slope_se=slope_se,
        limit_estimate=b0 if limit_ok else None,
        limit_se=se0 if limit_ok else None,
        limit_ci_lb=lb if limit_ok else None,
        limit_ci_ub=ub if limit_ok else None,
        level=level,
    )


# --------------------------------------------------------------------------- rank test


@dataclass(frozen=True)
class RankTestResult:
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``)."""

    k: int
    tau: float
    pval: float
    exact: bool

    def summary(self) -> str:
        how = "exact" if self.exact else "normal approximation"
        return (
            "Rank correlation test for funnel plot asymmetry\n"
            f"  Kendall's tau = {self.tau:.4f}, p = {self.pval:.4f} ({how}, k = {self.k})"
        )

    def to_dict(self) -> dict[str, Any]:
        return _dict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def rank_test(res: Any, *, exact: bool = True) -> RankTestResult:
    r"""Begg and Mazumdar's rank correlation test for funnel plot asymmetry.

    Kendall's :math:`\tau_b` between :math:`y_i^* = (y_i - \hat\theta)/\sqrt{v_i^*}`, with
    :math:`\hat\theta = \sum w_i y_i/\sum w_i`, :math:`w_i = 1/v_i` and
    :math:`v_i^* = v_i - 1/\sum w_j`, and :math:`v_i`.

    Parameters
    ----------
    res : PoolResult
        Only ``yi`` and ``vi`` are used (moderators are ignored, as in metafor).
    exact : bool, default True
        Exact p-value (the permutation distribution of Kendall's S) when there are no ties,
        as metafor requests it; with ties, or ``exact=False``, the normal approximation with
        the tie-corrected variance of S (no continuity correction), as R's ``cor.test``.
    """
    _check_pool_result(res, "rank_test")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    k = yi.size
    if k < 3:
        raise InputError("the rank test needs at least 3 studies", value=k)
    w = 1.0 / vi
    theta = float(w @ yi / w.sum())
    ystar = (yi - theta) / np.sqrt(vi - 1.0 / w.sum())
    ties = np.unique(ystar).size < k or np.unique(vi).size < k
    use_exact = bool(exact) and not ties
    r = stats.kendalltau(ystar, vi, method="exact" if use_exact else "asymptotic")
    return RankTestResult(k=k, tau=float(r.statistic), pval=float(r.pvalue), exact=use_exact)


# --------------------------------------------------------------------------- PET-PEESE


@dataclass(frozen=True)
class PetPeeseResult:
    """PET and PEESE limit estimates and the conditional PET-PEESE choice.

    ``estimate`` is the PEESE limit when PET's intercept differs from 0 (two-sided
    ``pval < alpha``), otherwise the PET limit (Stanley and Doucouliagos 2014).
    """

    model: str
    k: int
    pet: EggerResult
    peese: EggerResult
    pet_intercept_pval: float
    alpha: float
    chosen: str
    estimate: float
    ci_lb: float
    ci_ub: float

    def summary(self) -> str:
        return (
            "PET-PEESE limit estimates\n"
            f"  PET   (predictor sei): {self.pet.limit_estimate:.4f} "
            f"[{self.pet.limit_ci_lb:.4f}, {self.pet.limit_ci_ub:.4f}], "
            f"p(intercept = 0) = {self.pet_intercept_pval:.4f}\n"
            f"  PEESE (predictor vi):  {self.peese.limit_estimate:.4f} "
            f"[{self.peese.limit_ci_lb:.4f}, {self.peese.limit_ci_ub:.4f}]\n"
            f"  conditional estimate ({self.chosen}): {self.estimate:.4f} "
            f"[{self.ci_lb:.4f}, {self.ci_ub:.4f}]"
        )

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for name, r in (("PET", self.pet), ("PEESE", self.peese)):
            rows.append(
                {
                    "estimator": name,
                    "predictor": r.predictor,
                    "estimate": r.limit_estimate,
                    "se": r.limit_se,
                    "ci_lb": r.limit_ci_lb,
                    "ci_ub": r.limit_ci_ub,
                    "slope": r.slope,
                    "slope_pval": r.pval,
                }
            )
        return pd.DataFrame(rows).set_index("estimator")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "k": self.k,
            "pet": self.pet.to_dict(),
            "peese": self.peese.to_dict(),
            "pet_intercept_pval": _jf(self.pet_intercept_pval),
            "alpha": self.alpha,
            "chosen": self.chosen,
            "estimate": _jf(self.estimate),
            "ci_lb": _jf(self.ci_lb),
            "ci_ub": _jf(self.ci_ub),
        }


def pet_peese(res: Any, model: str = "lm", *, alpha: float = 0.10) -> PetPeeseResult:
    r"""PET-PEESE: limit estimates of the regressions on :math:`\sqrt{v_i}` and :math:`v_i`.

    Parameters
    ----------
    res : PoolResult
        A model without moderators.
    model : {"lm", "rma"}, default "lm"
        ``"lm"`` is the weighted least squares regression with multiplicative dispersion of
        Stanley and Doucouliagos (metafor ``regtest(model="lm")``); ``"rma"`` refits the
        model's own random/mixed-effects model with the predictor.
    alpha : float, default 0.10
        PEESE is chosen when PET's intercept differs from 0 at this two-sided level
        (0.10 two-sided is the one-sided 5% test the authors use).
    """
    _check_pool_result(res, "pet_peese")
    if np.asarray(res.X).shape[1] != 1:
        raise InputError("PET-PEESE needs a model without moderators")
    if not 0 < alpha < 1:
        raise InputError("alpha must lie between 0 and 1", column="alpha", value=alpha)
    pet = egger_test(res, model, predictor="sei")
    peese = egger_test(res, model, predictor="vi")
    t0 = pet.limit_estimate / pet.limit_se
    if pet.dof is None:
        p0 = float(2.0 * ndtr(-abs(t0)))
    else:
        p0 = float(2.0 * stdtr(pet.dof, -abs(t0)))
    chosen = peese if p0 < alpha else pet
    return PetPeeseResult(
        model=model,
        k=pet.k,
        pet=pet,
        peese=peese,
        pet_intercept_pval=p0,
        alpha=alpha,
        chosen="PEESE" if chosen is peese else "PET",
        estimate=float(chosen.limit_estimate),
        ci_lb=float(chosen.limit_ci_lb),
        ci_ub=float(chosen.limit_ci_ub),
    )


# --------------------------------------------------------------------------- fail-safe N

FSN_TYPES = ("Rosenthal", "Orwin", "Rosenberg", "Fisher", "General")


@dataclass(frozen=True)
class FailSafeResult:
    """Fail-safe N: how many unpublished null studies would overturn the result."""

    type: str
    fsnum: int | float
    alpha: float
    pval: float | None
    mean_effect: float | None
    target: float | None
    k: int
    #: General type: the estimate, tau² and p-value with the fail-safe N studies added
    est_fsn: float | None = None
    tau2_fsn: float | None = None
    pval_fsn: float | None = None

    def summary(self) -> str:
        lines = [f"Fail-safe N calculation using the {self.type} approach"]
        if self.type == "Orwin":
            lines.append(f"  average effect size: {self.mean_effect:.4f}")
            lines.append(f"  target effect size: {self.target:.4f}")
        else:
            if self.mean_effect is not None:
                lines.append(f"  average effect size: {self.mean_effect:.4f}")
            lines.append(f"  observed significance level: {self.pval:.4g}")
            lines.append(f"  target significance level: {self.alpha:g}")
        lines.append(f"  fail-safe N: {self.fsnum}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return _dict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def fail_safe_n(
    res: Any,
    type: str = "Rosenthal",  # noqa: A002 - the name metafor and the contract use
    *,
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
) -> FailSafeResult:
    r"""Fail-safe N (metafor ``fsn``).

    * Rosenthal (Stouffer): :math:`N = k\,(\bar z/z_{1-\alpha})^2 - k` with
      :math:`\bar z = |\sum z_i|/\sqrt k`, :math:`z_i = y_i/\sqrt{v_i}`; one-sided ``alpha``.
    * Orwin: :math:`N = k(\bar y - y_T)/y_T`, :math:`\bar y` the mean effect (weighted by
      :math:`1/v_i` when ``weighted``), target :math:`y_T` default :math:`\bar y/2`.
    * Rosenberg: :math:`N = k\,[(\sum w_i y_i / z_{1-\alpha/2})^2 - \sum w_i]/\sum w_i`.
    * Fisher (metafor ≥ 4, ``fsn(..., pool="Fisher")``), metafor's definition exactly: N is
      the root of :math:`f(N) = P(\chi^2_{2(k+N)} > -2[\sum\ln p_i +
      \lfloor N\rfloor\ln 0.5]) - \alpha`, :math:`p_i = 1 - \Phi(|z_i|)`, treated as a
      continuous number (the degrees of freedom grow with N, the added null p-values 0.5
      count :math:`\lfloor N\rfloor` times, as R's ``rep(0.5, N)``), found by R's
      ``uniroot`` (Brent's zeroin on :math:`[0, 50k]`, ``tol`` =
      :math:`\epsilon^{1/4}`, the interval extended upwards if needed) and rounded up; 0
      when the combined p of the k studies is already :math:`\geq \alpha`. What the number
      means: N is *not* always the smallest whole number of null studies that brings
      Fisher's combined p to ``alpha`` — for dat.raudenbush1985 metafor's (and our) N is 40
      while with 40 null studies the combined p is still 0.048 (41 are needed); we return
      metafor's number so that results match the reference.
    * General (metafor ≥ 4, approximate method, ``exact=FALSE``): add N studies with effect
      0 and sampling variance :math:`v_t = k/\sum(1/v_i)` (harmonic mean) to the fitted
      model, with :math:`\hat\mu_N = k\hat\mu/(k+N)` and
      :math:`\hat\tau^2_N = \max\{0, [(k-1)\hat\tau^2 + \max(0, N-1)\hat\tau^2 +
      k(\hat\mu-\hat\mu_N)^2 + N\hat\mu_N^2]/(k+N-1)\}` (0 for EE fits); the
      estimate is re-weighted with :math:`1/(v + \hat\tau^2_N)` and N is the smallest
      number that makes the two-sided p-value reach ``alpha`` (or, with ``target``, brings
      the estimate to ``target``). 0 when the model is not significant to begin with.

    N is rounded up to the next integer (0 at least), as metafor does.

    Parameters
    ----------
    res : PoolResult
        Only ``yi`` and ``vi`` are used.
    type : {"Rosenthal", "Orwin", "Rosenberg", "Fisher", "General"}, default "Rosenthal"
    alpha : float, default 0.05
    target : float, optional
        Orwin's target effect (default half the average effect); General: the estimate to
        reach instead of a p-value.
    weighted : bool, default False
        Orwin: weight the average effect by 1/v_i.
    """
    _check_pool_result(res, "fail_safe_n")
    kind = check_option("type", type, FSN_TYPES)
    if not 0 < alpha < 1:
        raise InputError("alpha must lie between 0 and 1", column="alpha", value=alpha)
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    k = yi.size
    pval = mean_effect = tgt = None
    if kind == "Rosenthal":
        z_avg = abs(float(np.sum(yi / np.sqrt(vi)))) / math.sqrt(k)
        pval = float(ndtr(-z_avg))
        fsnum = max(0.0, k * (z_avg / float(ndtri(1.0 - alpha))) ** 2 - k)
    elif kind == "Orwin":
        if weighted:
            w = 1.0 / vi
            mean_effect = float(w @ yi / w.sum())
        else:
            mean_effect = float(np.mean(yi))
        tgt = mean_effect / 2.0 if target is None else float(target)
        if tgt == 0:
            fsnum = math.inf
        else:
            if np.sign(tgt) != np.sign(mean_effect):
                tgt = -tgt
            fsnum = max(0.0, k * (mean_effect - tgt) / tgt)
    elif kind == "Fisher":
        z = yi / np.sqrt(vi)
        x0 = -2.0 * float(np.sum(np.log(ndtr(-np.abs(z)))))
        pval = float(chdtrc(2 * k, x0))
        if pval >= alpha:
            fsnum = 0.0
        else:
            log_half = math.log(0.5)

            def excess(n: float) -> float:  # metafor's .fsn.fisher
                return float(chdtrc(2 * (k + n), x0 - 2.0 * math.floor(n) * log_half)) - alpha

            fsnum = _uniroot_up(excess, 0.0, 50.0 * k, tol=np.finfo(float).eps ** 0.25)
    elif kind == "General":
        return _fsn_general(res, yi, vi, alpha, target)
    else:
        w = 1.0 / vi
        mean_effect = float(w @ yi / w.sum())
        zval = mean_effect / math.sqrt(1.0 / w.sum())
        wp = (float(w @ yi) / float(ndtri(1.0 - alpha / 2.0))) ** 2 - float(w.sum())
        pval = float(2.0 * ndtr(-abs(zval)))
        fsnum = max(0.0, k * wp / float(w.sum()))
    if math.isfinite(fsnum):
        # metafor: round up unless within sqrt(machine eps) of an integer
        fsnum = (
            int(math.ceil(fsnum))
            if abs(fsnum - round(fsnum)) >= np.finfo(float).eps ** 0.5
            else int(round(fsnum))
        )
    return FailSafeResult(
        type=kind, fsnum=fsnum, alpha=alpha, pval=pval, mean_effect=mean_effect, target=tgt, k=k
    )


def _uniroot_up(f, lower: float, upper: float, *, tol: float, maxiter: int = 1000) -> float:
    """A root of ``f`` as R's ``uniroot(f, c(lower, upper), extendInt="upX", tol=tol)``:
    the interval's upper end is moved up (steps of 1% of it, doubling) until ``f`` changes
    sign, then Brent's zeroin (Brent 1973, ch. 4; R's ``R_zeroin2``) runs with R's
    stopping rule ``|c - b| / 2 <= 2 eps |b| + tol / 2``. Following R's step sequence
    matters when ``f`` is not monotone (metafor's Fisher fail-safe N is a saw-tooth)."""
    fa, fb = f(lower), f(upper)
    step = 0.01 * max(1e-4, abs(upper))
    it = 0
    while fb < 0:
        it += 1
        if it > maxiter:
            raise InputError("no fail-safe N found: the root search left its interval")
        upper += step
        fb = f(upper)
        step *= 2.0
    a, b, c = lower, upper, lower
    fc = fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    eps = np.finfo(float).eps
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):  # b is the best approximation so far
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * eps * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # secant
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:  # inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2.0) and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise InputError("no fail-safe N found: the root search did not converge")


def _smallest_n(done, limit: int = 10**7) -> int:
    """Smallest integer n >= 0 with ``done(n)`` (monotone), by doubling and bisection."""
    if done(0):
        return 0
    lo, hi = 0, 1
    while not done(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if done(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _fsn_general(res, yi, vi, alpha, target) -> FailSafeResult:
    """metafor's General fail-safe N, approximate method (see :func:`fail_safe_n`)."""
    if getattr(res, "p", 1) != 1:
        raise InputError("the General fail-safe N needs a model without moderators")
    k = yi.size
    est, tau2 = float(res.estimate), float(res.tau2)
    vt = k / float(np.sum(1.0 / vi))
    equal = res.method in ("EE", "MH", "PETO")

    def state(n: int) -> tuple[float, float, float]:
        est_n = k * est / (k + n)
        if equal:
            t2 = 0.0
        else:
            t2 = (k - 1) * tau2 + max(0, n - 1) * tau2 + k * (est - est_n) ** 2 + n * est_n**2
            t2 = max(0.0, t2 / (k + n - 1)) if k + n > 1 else tau2
        w = 1.0 / (vi + t2)
        wn = n / (vt + t2)
        sw = float(w.sum()) + wn
        e = float(w @ yi) / sw
        return e, t2, float(2.0 * ndtr(-abs(e) * math.sqrt(sw)))

    if target is None:
        if res.pval >= alpha:
            n = 0
        else:
            n = _smallest_n(lambda m: state(m)[2] >= alpha)
    else:
        tgt = float(target)
        if tgt == 0 or np.sign(tgt) != np.sign(est):
            raise InputError("target must have the sign of the estimate and not be 0")
        n = 0 if abs(est) <= abs(tgt) else _smallest_n(lambda m: abs(state(m)[0]) <= abs(tgt))
    e_n, t2_n, p_n = state(n)
    return FailSafeResult(
        type="General",
        fsnum=n,
        alpha=alpha,
        pval=float(res.pval),
        mean_effect=est,
        target=None if target is None else float(target),
        k=k,
        est_fsn=e_n,
        tau2_fsn=t2_n,
        pval_fsn=p_n,
    )
