r"""Equal-effect and random/mixed-effects meta-analysis models (metafor's ``rma.uni``).

:func:`pool` is the front door (validation, moderators, missing values);
:func:`fit_design` fits a ready design matrix and is the hot path that bias, GOSH and
permutation code refit through. REML/ML fits without moderators take the lean path of
``_lean_fit`` (the same algorithm and result, without the per-call overhead).

Given tau² (see :mod:`sci_evidence.meta.tau2`), with :math:`w_i = 1/(v_i+\tau^2)`:

.. math::
    \hat\beta = (X^\top W X)^{-1} X^\top W y, \qquad
    \operatorname{Var}(\hat\beta) = s^2_w\,(X^\top W X)^{-1}

with :math:`s^2_w = 1` for ``test="z"`` and ``"t"``, and the Knapp–Hartung factor
:math:`s^2_w = \sum_i w_i (y_i - x_i^\top\hat\beta)^2/(k-p)` for ``"knha"`` (``"adhoc"``:
:math:`\max(1, s^2_w)`). Tests and intervals use N(0, 1) under ``z`` and :math:`t_{k-p}`
otherwise. The prediction interval (models without moderators, not EE) is
:math:`\hat\mu \pm c\sqrt{SE^2 + \tau^2}` with the same critical value :math:`c`. The omnibus
test of the moderators is :math:`Q_M = \hat\beta_2^\top V_{22}^{-1}\hat\beta_2`
(:math:`\chi^2_m` under z; :math:`Q_M/m \sim F_{m,k-p}` otherwise).
When the Knapp–Hartung factor is 0 (``knha`` with every :math:`y_i` on the fitted line,
so :math:`V = 0`) :math:`Q_M` and its p-value are NaN, as metafor reports them NA.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
doi:10.18637/jss.v036.i03.
Knapp G, Hartung J (2003). doi:10.1002/sim.1482.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import chdtrc, fdtrc, stdtr

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta._lean_fit import (
    critical_value,
    default_labels,
    fit_design_lean,
    fit_icpt,
    pool_lean,
)
from sci_evidence.meta._pool_input import pool_input
from sci_evidence.meta._pseudo_r2 import pseudo_r2
from sci_evidence.meta._small_wls import q_and_trace, quadratic_form_inverse, wls
from sci_evidence.meta.heterogeneity import heterogeneity_from
from sci_evidence.meta.regression import INTERCEPT
from sci_evidence.meta.results import PoolResult
from sci_evidence.meta.tau2 import TAU2_METHODS, fit_tau2, unweighted_fit
from sci_evidence.meta.validation import (
    check_control,
    check_design,
    check_effects,
    check_level,
    check_option,
)

__all__ = ["pool", "fit_design", "METHODS", "TESTS"]


#: Accepted ``method`` values (``FE`` is accepted as an alias of ``EE``).
METHODS = TAU2_METHODS
#: Accepted ``test`` values.
TESTS = ("z", "knha", "adhoc", "t")
_METHOD_ALIASES = {"FE": "EE", "CE": "EE"}
_TEST_ALIASES = {"hk": "knha", "hksj": "knha"}
# the exact spellings, looked up before check_option (which also takes any case and aliases)
_METHOD_OK = {m: m for m in METHODS}
_TEST_OK = {t: t for t in TESTS}


def _options(method: Any, test: Any, level: Any) -> tuple[str, str, float]:
    """Canonical ``method`` and ``test`` and the level as a fraction, or InputError."""
    m = (type(method) is str and _METHOD_OK.get(method)) or check_option(
        "method", method, METHODS, aliases=_METHOD_ALIASES
    )
    t = (type(test) is str and _TEST_OK.get(test)) or check_option(
        "test", test, TESTS, aliases=_TEST_ALIASES
    )
    return m, t, check_level(level)


_CONTROL_TYPES = {
    "threshold": (int, float),
    "max_iter": int,
    "step_adj": (int, float),
    "tau2_init": (int, float),
    "metafor_iterations": bool,
}


def fit_design(
    yi: Any,
    vi: Any,
    X: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    coef_names: Any = None,
    labels: Any = None,
    measure: str | None = None,
    tau2: float | None = None,
    control: dict | None = None,
) -> PoolResult:
    """Fit the model with a full design matrix ``X`` (k × p, intercept column included).

    Parameters
    ----------
    yi, vi : array_like of shape (k,)
        Effect sizes and their sampling *variances* (> 0).
    X : array_like of shape (k, p)
        Design matrix of full column rank, p ≤ k. Its first column is taken as the intercept
        when it is all ones (then the moderator test leaves it out).
    method : {"REML", "EE", "DL", "ML", "PM", "HE", "SJ", "EB", "HS"}, default "REML"
        tau² estimator ("FE" is an alias of "EE").
    test : {"z", "knha", "adhoc", "t"}, default "z"
    level : float, default 0.95
    coef_names : sequence of str, optional
        Default ``intrcpt, X1, X2, …``.
    labels : sequence of str, optional
        Study labels, default ``Study 1 …``.
    measure : str, optional
        Name of the effect measure (for printing and back-transformation).
    tau2 : float, optional
        Fix tau² at this value instead of estimating it.
    control : dict, optional
        Iteration settings, see :func:`sci_evidence.meta.tau2.fit_tau2`.

    Returns
    -------
    PoolResult
    """
    method, test, level = _options(method, test, level)
    if tau2 is control is labels is coef_names is None:  # all four None
        res = fit_design_lean(yi, vi, X, method, test, level, measure)  # None: not lean
        if res is not None:
            return res
    yi, vi = check_effects(yi, vi)
    k = yi.shape[0]
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    if Xa.ndim != 2 or Xa.shape[0] != k or Xa.shape[1] == 0:
        check_design(Xa, k)  # raises on the shape
    has_intercept = bool(_all(Xa[:, 0] == 1.0))
    if coef_names is None:
        coef_names = _default_names(Xa.shape[1], has_intercept)
    else:
        coef_names = tuple(coef_names)
    Xa = check_design(Xa, k, coef_names=coef_names)
    if len(coef_names) != Xa.shape[1]:
        raise InputError(f"coef_names has {len(coef_names)} names but X has {Xa.shape[1]} columns")
    if tau2 is not None:
        tau2 = float(tau2)
        if not (math.isfinite(tau2) and tau2 >= 0):
            raise InputError(f"tau2={tau2!r} must be a finite number >= 0")
    con = check_control(control, _CONTROL_TYPES)
    return _fit(
        yi, vi, Xa, method, test, level, coef_names, labels, measure, tau2, con,
        has_intercept=has_intercept,
    )  # fmt: skip


_SQRT2 = math.sqrt(2.0)
_EPS = float(np.finfo(float).eps)  # the Knapp-Hartung factor is 0 below this (as metafor)
# direct references: the ndarray methods (.sum) and @ add a Python-level layer each
_dot = np.dot
_sum = np.add.reduce
_all = np.logical_and.reduce


@lru_cache(maxsize=64)
def _default_names(p: int, has_intercept: bool) -> tuple[str, ...]:
    """``intrcpt, X1, X2, …`` (``X0`` for a first column that is not all ones)."""
    return tuple(INTERCEPT if j == 0 and has_intercept else f"X{j}" for j in range(p))


def _fit(
    yi: np.ndarray,
    vi: np.ndarray,
    X: np.ndarray,
    method: str,
    test: str,
    level: float,
    coef_names: tuple[str, ...],
    labels: Any,
    measure: str | None,
    tau2_fixed: float | None,
    control: dict,
    weighted: bool = True,
    has_intercept: bool | None = None,
) -> PoolResult:
    """The unchecked fit: arrays are validated float64, X full rank.

    ``has_intercept`` (whether the first column of X is all ones) is computed when not given.
    After tau², the p × p algebra runs on Python floats (closed-form inverses for p ≤ 3):
    for the few coefficients of a meta-regression numpy's per-call cost exceeds the
    arithmetic several times over.
    """
    k, p = X.shape
    ddf = k - p
    if not weighted and test != "z":
        raise InputError("weighted=False is available with test='z' only")
    if test != "z" and ddf < 1:
        raise InputError(
            f"test={test!r} needs more studies than coefficients (k={k}, p={p}); use test='z'"
        )
    if has_intercept is None:
        has_intercept = bool(_all(X[:, 0] == 1.0))
    icpt = p == 1 and has_intercept
    if labels is None:
        labels_t = None
    else:
        labels_t = tuple(str(x) for x in labels)
        if len(labels_t) != k:
            raise InputError(f"labels has {len(labels_t)} entries but there are {k} studies")
    if icpt and tau2_fixed is None and weighted and not control:
        # the common case without per-call overhead; None means another estimator or test,
        # or a hard case (safeguarded step, likelihood trap) that the code below handles
        res = fit_icpt(yi, vi, X, method, test, level, coef_names, labels_t, measure, control)
        if res is not None:
            return res
    if tau2_fixed is None:
        t = fit_tau2(method, yi, vi, X, control, intercept_only=icpt)
        tau2, se_tau2, converged, n_iter, algorithm = (
            t.tau2,
            t.se_tau2,
            t.converged,
            t.n_iter,
            t.algorithm,
        )
    else:
        tau2, se_tau2, converged, n_iter, algorithm = tau2_fixed, None, True, 0, "fixed"
    R2 = None
    if p > 1 and method != "EE" and tau2_fixed is None:
        R2 = pseudo_r2(method, yi, vi, control, tau2)
    # the equal-effect fit (weights 1/v) gives Q and tr P for I²; at tau² = 0 it is the fit
    w0 = 1.0 / vi
    fit0 = wls(yi, w0, X) if ddf > 0 or tau2 == 0.0 else None
    if not weighted:  # metafor rma(weighted=FALSE): OLS with the sandwich covariance (#14)
        b_arr, cov, _ = unweighted_fit(yi, vi + tau2, X)
        beta, A = b_arr.tolist(), cov.ravel().tolist()
        w = np.ones_like(vi)
        sw = float(k)
        control = {**control, "weighted": False}
    elif tau2 == 0.0:
        w = w0  # 1/(v + 0) is 1/v, bit for bit
        beta, A, _, sw = fit0
    else:
        w = 1.0 / (vi + tau2)
        beta, A, _, sw = wls(yi, w, X)
    s2w = 1.0
    if test == "knha" or test == "adhoc":
        e = yi - _dot(X, beta)
        rss = float(_dot(w, e * e))
        # metafor sets the factor to 0 when the residuals vanish (all yi on the fitted line)
        s2w = rss / ddf if rss > _EPS else 0.0
        if test == "adhoc":
            s2w = max(1.0, s2w)
        elif s2w == 0.0:
            warnings.warn(
                "Knapp-Hartung scale factor is 0 (all residuals are 0), so the standard "
                "errors are 0; consider test='adhoc'",
                DataWarning,
                stacklevel=3,
            )
    vb = A if s2w == 1.0 else [a * s2w for a in A]
    crit = critical_value(level, test, ddf)
    z = test == "z"
    # rows: estimate, se, statistic, p-value, CI bounds (one array, the result's rows)
    se = [math.sqrt(vb[j * (p + 1)]) for j in range(p)]
    stat = [
        b / s if s > 0 else math.copysign(math.inf, b) if b else math.nan  # as numpy's b/s
        for b, s in zip(beta, se, strict=True)
    ]
    if z:
        pval = [math.erfc(abs(s) / _SQRT2) if s == s else math.nan for s in stat]
    else:
        pval = (2.0 * stdtr(ddf, np.negative(np.abs(stat)))).tolist()
    ci_lb = [b - crit * s for b, s in zip(beta, se, strict=True)]
    ci_ub = [b + crit * s for b, s in zip(beta, se, strict=True)]
    tab = np.array([beta, se, stat, pval, ci_lb, ci_ub])

    QM = QM_df = QM_pval = QM_ddf = None
    if p > 1:
        QM_df = p - 1 if has_intercept else p
        if s2w > 0.0:
            off = p - QM_df
            V22 = [vb[i * p + j] for i in range(off, p) for j in range(off, p)]
            QM = quadratic_form_inverse(beta[off:], V22, QM_df)
        else:  # all residuals 0 under knha: V is 0 and metafor reports QM as NA
            QM = math.nan
        if z:
            QM_pval = float(chdtrc(QM_df, QM))
        else:
            QM = QM / QM_df
            QM_ddf = ddf
            QM_pval = float(fdtrc(QM_df, ddf, QM))

    # a fixed tau2 = 0 under "EE" is still an equal-effect model (Q-based I²)
    equal_effect = method == "EE" and (tau2_fixed is None or tau2 == 0.0)
    if not (has_intercept and weighted):  # else Σw is the first element of X'WX
        sw = float(_sum(w))
    if ddf > 0:
        if has_intercept:
            Q, trP = q_and_trace(yi, w0, X, *fit0[:3], fit0[3])
        else:
            # metafor takes Q_E from the mean-centred yi: the same Q with an intercept, but
            # not without one, and metafor's is the Q (and I², H²) reported
            yc = yi - _sum(yi) / k
            Q, trP = q_and_trace(yc, w0, X, *wls(yc, w0, X)[:3])
        Q, _, Q_pval, I2, H2, vt = heterogeneity_from(Q, trP, ddf, tau2, equal_effect=equal_effect)
    else:  # k = p: no residual degrees of freedom, nothing to test (metafor: Q = 0, p = 1)
        Q, Q_pval, I2, H2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    b0, se0 = beta[0], se[0]
    pi_lb = pi_ub = None
    if p == 1 and has_intercept and (method != "EE" or tau2_fixed is not None):
        half = crit * math.sqrt(se0 * se0 + tau2)
        pi_lb, pi_ub = b0 - half, b0 + half

    return PoolResult._unchecked(
        {
            "k": k,
            "p": p,
            "estimate": b0,
            "se": se0,
            "stat": stat[0],
            "pval": pval[0],
            "ci_lb": ci_lb[0],
            "ci_ub": ci_ub[0],
            "pi_lb": pi_lb,
            "pi_ub": pi_ub,
            "tau2": float(tau2),
            "se_tau2": se_tau2,
            "I2": I2,
            "H2": H2,
            "Q": Q,
            "Q_df": max(ddf, 0),
            "Q_pval": Q_pval,
            "method": method,
            "test": test,
            "level": level,
            "converged": converged,
            "n_iter": n_iter,
            "yi": yi,
            "vi": vi,
            "X": X,
            "coef_names": coef_names,
            "beta": tab[0],
            "beta_se": tab[1],
            "beta_stat": tab[2],
            "beta_pval": tab[3],
            "beta_ci_lb": tab[4],
            "beta_ci_ub": tab[5],
            "vcov": np.array(vb).reshape(p, p),
            "QM": QM,
            "QM_df": QM_df,
            "QM_pval": QM_pval,
            "weights": w * (100.0 / sw),
            "labels": default_labels(k) if labels_t is None else labels_t,
            "measure": measure,
            "dof": None if z else ddf,
            "QM_ddf": QM_ddf,
            "s2w": s2w,
            "vt": vt,
            "tau2_fixed": tau2_fixed is not None,
            "algorithm": algorithm,
            "control": control,
            "model": "rma.uni",
            "R2": R2,
        }
    )


def pool(
    yi: Any,
    vi: Any = None,
    *,
    sei: Any = None,
    method: str = "REML",
    test: str = "z",
    mods: Any = None,
    level: float = 0.95,
    labels: Any = None,
    measure: str | None = None,
    control: dict | None = None,
    tau2: float | None = None,
    weighted: bool = True,
) -> PoolResult:
    """Pool effect sizes in an equal-effect or random/mixed-effects model (``rma.uni``).

    Parameters
    ----------
    yi : array_like of shape (k,)
        Effect sizes (e.g. log risk ratios).
    vi : array_like of shape (k,), optional
        Sampling *variances*. Give either ``vi`` or ``sei``.
    sei : array_like of shape (k,), optional
        Sampling *standard errors* (squared internally).
    method : str, default "REML"
        ``EE`` (alias ``FE``) or a tau² estimator: ``DL``, ``REML``, ``ML``, ``PM``, ``HE``,
        ``SJ``, ``EB``, ``HS``.
    test : str, default "z"
        ``z`` (normal), ``knha`` (Hartung–Knapp–Sidik–Jonkman, t with k − p df), ``adhoc``
        (knha with the scale factor truncated below at 1) or ``t`` (t without rescaling).
    mods : DataFrame, dict of columns, or array, optional
        Moderators for a meta-regression. Numeric columns are covariates; a column of strings
        is a factor coded against its first level in sorted order (term names like R's
        ``allocrandom``). See :mod:`sci_evidence.meta.regression`.
    level : float, default 0.95
        Confidence level (95 is read as 95 %).
    labels : sequence of str, optional
        Study labels (default ``Study 1 …``).
    measure : str, optional
        The effect measure, recorded in the result.
    control : dict, optional
        Iteration settings (``threshold`` 1e-10, ``max_iter`` 100, ``step_adj`` 1,
        ``tau2_init``).
    tau2 : float, optional
        Fix tau² instead of estimating it.
    weighted : bool, default True
        False: an unweighted model (metafor ``rma(weighted=FALSE)``): tau² as usual, the
        coefficients by ordinary least squares with covariance
        (X'X)⁻¹ X' diag(v_i + tau²) X (X'X)⁻¹, equal weights;
        ``test="z"`` only.

    Returns
    -------
    PoolResult

    Raises
    ------
    InputError
        Unknown method/test, non-numeric or non-finite values, negative or zero variances,
        lengths that differ, a constant moderator, fewer studies than coefficients.

    Notes
    -----
    Studies with a missing value in ``yi``, ``vi``/``sei`` or a moderator are dropped with a
    :class:`~sci_evidence.errors.DataWarning` that names them (as metafor does).

    Examples
    --------
    >>> res = pool([-0.89, -1.59, -1.35, -1.44], [0.33, 0.19, 0.42, 0.02], method="DL")
    >>> round(res.estimate, 3)
    -1.422
    """
    method, test, level = _options(method, test, level)
    if vi is not None and sei is mods is labels is control is tau2 is None and weighted is True:
        # clean input of the common case: a lean fit (the full checks run only when the
        # input is not clean or the fit is a hard case, see sci_evidence.meta._lean_fit)
        res = pool_lean(yi, vi, method, test, level, measure)
        if res is not None:
            return res
    y, v, X, names, lab = pool_input(yi, vi, sei, mods, labels)
    con = check_control(control, _CONTROL_TYPES)
    if tau2 is not None:
        tau2 = float(tau2)
        if not (math.isfinite(tau2) and tau2 >= 0):
            raise InputError(f"tau2={tau2!r} must be a finite number >= 0")
    return _fit(
        y, v, X, method, test, level, names, lab, measure, tau2, con,
        weighted=weighted, has_intercept=True,  # pool_input puts the intercept first
    )  # fmt: skip
