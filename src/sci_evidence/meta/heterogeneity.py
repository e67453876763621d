r"""Heterogeneity statistics: Q, I², H² and the Q-profile confidence interval for tau².

Conventions (metafor 3.8, ``rma.uni`` and ``confint.rma.uni``):

* :math:`Q_E = y^\top P y` with inverse-variance weights :math:`w_i = 1/v_i`; under the null of
  homogeneity it is :math:`\chi^2_{k-p}`.
* The "typical" within-study variance is :math:`s^2 = (k-p)/\operatorname{tr}P`.
* Random/mixed-effects models: :math:`I^2 = 100\,\tau^2/(\tau^2+s^2)` (percent) and
  :math:`H^2 = \tau^2/s^2 + 1`. For DL these equal the Q-based values; for REML/ML they do not.
* Equal-effect models: :math:`I^2 = \max(0, 100 (Q_E-(k-p))/Q_E)`, :math:`H^2 = Q_E/(k-p)`.
* Q-profile interval for tau² (Viechtbauer 2007): the bounds solve
  :math:`Q_{gen}(\tau^2) = \chi^2_{k-p;\,1-\alpha/2}` (lower) and
  :math:`\chi^2_{k-p;\,\alpha/2}` (upper), where
  :math:`Q_{gen}(\tau^2) = \sum_i (y_i - x_i^\top\hat\beta_{\tau^2})^2 / (v_i+\tau^2)` is
  decreasing in tau². A bound is 0 when :math:`Q_{gen}(0)` is already below its target. The
  bounds for I² and H² follow by plugging the tau² bounds into the formulas above.
* Profile-likelihood interval for tau² (ML and REML fits; metafor ``confint(type="PL")``):
  the bounds solve :math:`2\,[\ell(\hat\tau^2) - \ell(\tau^2)] = \chi^2_{1;\,1-\alpha}`, with
  :math:`\ell` the (restricted) log-likelihood profiled over the coefficients; a bound is 0
  when :math:`\ell(0)` is already within the cut-off (Hardy & Thompson 1996).

References
----------
Higgins JPT, Thompson SG (2002). doi:10.1002/sim.1186.
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
doi:10.1002/sim.2514.
Hardy RJ, Thompson SG (1996). A likelihood approach to meta-analysis with random effects.
doi:10.1002/(SICI)1097-0258(19960330)15:6<619::AID-SIM188>3.0.CO;2-A.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import chdtrc, chdtri

from sci_evidence.errors import InputError
from sci_evidence.meta.tau2 import _loglik, q_generalised

__all__ = [
    "heterogeneity_from",
    "q_profile_ci",
    "profile_likelihood_ci",
    "tau2_confint",
]


def heterogeneity_from(
    Q: float, trP: float, df: int, tau2: float, *, equal_effect: bool
) -> tuple[float, int, float, float, float, float]:
    """``(Q, Q_df, Q_pval, I2, H2, vt)``: the Q test and the tau²-based I², H² and s² (see
    the module docstring) from Cochran's Q (≥ 0) and tr P at tau² = 0, for ``df = k - p``
    ≥ 1 (a tuple: the fit's hot path)."""
    vt = df / trP
    if equal_effect:
        I2 = max(0.0, 100.0 * (Q - df) / Q) if Q > 0 else 0.0
        H2 = Q / df
    else:
        I2 = 100.0 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1.0
    return Q, df, float(chdtrc(df, Q)), I2, H2, vt


def q_profile_ci(
    yi: np.ndarray, vi: np.ndarray, X: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """Q-profile confidence interval ``(lb, ub)`` for tau² (Viechtbauer 2007).

    Roots are found with Brent's method to an absolute tolerance of 1e-12 (times the scale);
    the upper search bracket grows by factors of 10 until it contains the root.
    """
    k, p = X.shape
    df = k - p
    if df <= 0:
        return (math.nan, math.nan)
    alpha = 1.0 - level
    crit_lb = float(chdtri(df, alpha / 2))  # upper alpha/2 quantile
    crit_ub = float(chdtri(df, 1.0 - alpha / 2))  # lower alpha/2 quantile

    def bound(target: float) -> float:
        q0 = q_generalised(0.0, yi, vi, X)
        if q0 <= target:
            return 0.0
        upper = max(100.0, 10.0 * float(np.var(yi) + vi.max()))
        for _ in range(80):
            if q_generalised(upper, yi, vi, X) < target:
                break
            upper *= 10.0
        else:
            return math.inf
        return brentq(
            lambda t: q_generalised(t, yi, vi, X) - target,
            0.0,
            upper,
            xtol=1e-13 * max(1.0, upper * 1e-3),
            rtol=4 * np.finfo(float).eps,
            maxiter=1000,
        )

    return bound(crit_lb), bound(crit_ub)


def profile_likelihood_ci(
    yi: np.ndarray,
    vi: np.ndarray,
    X: np.ndarray,
    method: str,
    tau2_hat: float,
    level: float = 0.95,
) -> tuple[float, float]:
    """Profile-likelihood confidence interval ``(lb, ub)`` for tau² of an ML or REML fit.

    Roots of :math:`2[\\ell(\\hat\\tau^2) - \\ell(\\tau^2)] - \\chi^2_{1;level}` by Brent's
    method (absolute tolerance 1e-13 times the scale); the upper bracket grows by factors of
    10 until it contains the root.
    """
    if method not in ("ML", "REML"):
        raise InputError(
            f"a profile-likelihood interval needs an ML or REML fit (got method {method!r}); "
            "use the Q-profile interval (tau2_ci) for the other estimators"
        )
    k, p = X.shape
    if k - p <= 0:
        return (math.nan, math.nan)
    icpt = p == 1 and bool((X[:, 0] == 1.0).all())
    top = _loglik(method, tau2_hat, yi, vi, X, icpt)
    crit = float(chdtri(1, 1.0 - level))

    def gap(t: float) -> float:
        return 2.0 * (top - _loglik(method, t, yi, vi, X, icpt)) - crit

    tol = 1e-13 * max(1.0, tau2_hat)
    lower = 0.0
    if tau2_hat > 0 and gap(0.0) > 0:
        lower = brentq(gap, 0.0, tau2_hat, xtol=tol, rtol=4 * np.finfo(float).eps, maxiter=1000)
    upper = max(2.0 * tau2_hat, 10.0 * float(np.var(yi) + vi.max()), 1e-8)
    for _ in range(80):
        if gap(upper) > 0:
            break
        upper *= 10.0
    else:
        return lower, math.inf
    ub = brentq(gap, tau2_hat, upper, xtol=tol, rtol=4 * np.finfo(float).eps, maxiter=1000)
    return lower, ub


def tau2_confint(res, *, type: str = "PL", level: float | None = None) -> tuple[float, float]:  # noqa: A002
    """Confidence interval for tau² of a fitted :class:`~sci_evidence.meta.PoolResult`.

    ``type="PL"``: profile likelihood (ML/REML fits; metafor ``confint(res, type="PL")``);
    ``type="QP"``: Q-profile (any estimator; the default of metafor and of ``res.tau2_ci``).
    ``level`` defaults to the fit's level.
    """
    from sci_evidence.meta.validation import check_level, check_option

    kind = check_option("type", type, ("PL", "QP"))
    lvl = res.level if level is None else check_level(level)
    if res.method in ("EE", "MH", "PETO") or getattr(res, "tau2_fixed", False):
        raise InputError(f"tau² is not estimated in this model (method {res.method!r})")
    if kind == "QP":
        return q_profile_ci(res.yi, res.vi, res.X, lvl)
    return profile_likelihood_ci(res.yi, res.vi, res.X, res.method, res.tau2, lvl)
