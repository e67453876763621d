r"""The lean path of the (RE)ML meta-regression with a small design (p = 2 or 3 columns).

:func:`sci_evidence.meta.models._fit` spends a 2-moderator REML fit mostly in the tau²
iteration, which this path shares unchanged (:func:`~sci_evidence.meta.tau2.fit_tau2` with
the moment sums of :class:`~sci_evidence.meta.tau2._Moments`, whose step is written out for
p = 2, 3): every safeguard, fallback and warning of the general code is the general code.
What it saves is the rest: it fills the :class:`~sci_evidence.meta.results.PoolResult` in
one step (``PoolResult._unchecked``) with the same formulas as ``_fit`` —
:math:`\hat\beta = (X^\top WX)^{-1}X^\top Wy`, :math:`\operatorname{Var}(\hat\beta) =
s^2_w (X^\top WX)^{-1}`, Wald tests, :math:`Q_M = \hat\beta_2^\top V_{22}^{-1}\hat\beta_2`,
Q and the tau²-based I², H² from the same moment sums, R² of
:mod:`sci_evidence.meta._pseudo_r2` — without the per-call wrappers.

It covers REML and ML with tau² estimated, weights 1/(v + tau²), the default control and
k > p; anything else returns None and takes the general path (tests/meta/test_lean_fit.py
checks both the equality field by field and the hand-back).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import chdtrc, fdtrc, ndtr, stdtr

from sci_evidence.errors import DataWarning
from sci_evidence.meta._lean_fit import LEAN_METHODS, critical_value, default_labels
from sci_evidence.meta._pseudo_r2 import pseudo_r2
from sci_evidence.meta.results import PoolResult
from sci_evidence.meta.tau2 import _Moments, fit_tau2, weighted_fit

__all__ = ["fit_mods", "LEAN_P"]

#: Numbers of design columns the lean path covers (the written-out step of tau2._small_parts).
LEAN_P = (2, 3)

_EPS = float(np.finfo(float).eps)  # the Knapp-Hartung factor is 0 below this (as _fit)


def fit_mods(
    yi: np.ndarray,
    vi: np.ndarray,
    X: np.ndarray,
    method: str,
    test: str,
    level: float,
    coef_names: tuple[str, ...],
    labels: tuple[str, ...] | None,
    measure: str | None,
    control: dict,
) -> PoolResult | None:
    """The fit ``_fit`` would return for validated input, or None (see module)."""
    k, p = X.shape
    ddf = k - p
    if method not in LEAN_METHODS or p not in LEAN_P or control or ddf < 1:
        return None
    has_intercept = bool((X[:, 0] == 1.0).all())
    mom = _Moments(yi, vi, X, False)
    t = fit_tau2(method, yi, vi, X, control, intercept_only=False, moments=mom)
    tau2 = t.tau2
    R2 = pseudo_r2(method, yi, vi, control, tau2)
    w = 1.0 / (vi + tau2)
    beta, A, e = weighted_fit(yi, w, X)
    s2w = 1.0
    if test == "knha" or test == "adhoc":
        rss = float(w @ (e * e))
        s2w = rss / ddf if rss > _EPS else 0.0
        if test == "adhoc":
            s2w = max(1.0, s2w)
        elif s2w == 0.0:
            warnings.warn(
                "Knapp-Hartung scale factor is 0 (all residuals are 0), so the standard "
                "errors are 0; consider test='adhoc'",
                DataWarning,
                stacklevel=4,  # one frame deeper than _fit's warning: the same caller
            )
    vb = A * s2w
    z = test == "z"
    crit = critical_value(level, test, ddf)
    se = np.sqrt(vb.diagonal())
    if s2w > 0.0:
        stat = beta / se
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = beta / se
    pval = 2.0 * ndtr(-np.abs(stat)) if z else 2.0 * stdtr(ddf, -np.abs(stat))
    ci_lb = beta - crit * se
    ci_ub = beta + crit * se
    idx = slice(1, None) if has_intercept else slice(None)
    b2 = beta[idx]
    m = b2.shape[0]
    QM = float(b2 @ np.linalg.solve(vb[idx, idx], b2))
    if z:
        QM_pval = float(chdtrc(m, QM))
    else:
        QM = QM / m
        QM_pval = float(fdtrc(m, ddf, QM))
    # Q, tr P at tau² = 0 from the same sums (heterogeneity() with moments)
    Q, trP = mom.q_and_trace(0.0)
    Q = max(0.0, Q)
    vt = ddf / trP
    return PoolResult._unchecked(
        {
            "k": k,
            "p": p,
            "estimate": float(beta[0]),
            "se": float(se[0]),
            "stat": float(stat[0]),
            "pval": float(pval[0]),
            "ci_lb": float(ci_lb[0]),
            "ci_ub": float(ci_ub[0]),
            "pi_lb": None,
            "pi_ub": None,
            "tau2": float(tau2),
            "se_tau2": t.se_tau2,
            "I2": 100.0 * tau2 / (vt + tau2),
            "H2": tau2 / vt + 1.0,
            "Q": Q,
            "Q_df": ddf,
            "Q_pval": float(chdtrc(ddf, Q)),
            "method": method,
            "test": test,
            "level": level,
            "converged": t.converged,
            "n_iter": t.n_iter,
            "yi": yi,
            "vi": vi,
            "X": X,
            "coef_names": coef_names,
            "beta": beta,
            "beta_se": se,
            "beta_stat": stat,
            "beta_pval": pval,
            "beta_ci_lb": ci_lb,
            "beta_ci_ub": ci_ub,
            "vcov": vb,
            "QM": QM,
            "QM_df": m,
            "QM_pval": QM_pval,
            "weights": 100.0 * w / w.sum(),
            "labels": default_labels(k) if labels is None else labels,
            "measure": measure,
            "dof": None if z else ddf,
            "QM_ddf": None if z else ddf,
            "s2w": s2w,
            "vt": vt,
            "tau2_fixed": False,
            "algorithm": t.algorithm,
            "control": control,
            "model": "rma.uni",
            "R2": R2,
        }
    )
