r"""The lean path of the most common fit: the (RE)ML random-effects model without moderators.

``pool(yi, vi)`` with a few dozen studies spends far more time in Python overhead than in
arithmetic (issue 16: one fit should cost < 1 % of metafor's ``rma``). :func:`fit_icpt`
runs *the same* iteration as :func:`sci_evidence.meta.tau2._fisher_scoring` for the
intercept-only design — the HE start, the moment sums of ``_Moments`` (y centred, features
1, y, y²), the step of :func:`~sci_evidence.meta.tau2.icpt_parts`, the stopping rule and metafor's
``ll0check`` — with scalar sums and no intermediate objects, and then fills the
:class:`~sci_evidence.meta.results.PoolResult` that :func:`sci_evidence.meta.models._fit`
would, with the same formulas (see that module's docstring and
:mod:`sci_evidence.meta.heterogeneity`).

The iteration itself (:func:`_solve`) runs compiled where the optional C extension
``_fit_kernel`` was built (``setup.py``; ``_fit_kernel.icpt``, ~1 us against ~20 us of numpy
calls): the same start, step, bracket, stopping rule, boundary proof and grid scan and
ll0check as :func:`_solve_py`, which stays as the reference (tests/meta/test_fit_kernel.py
holds the two together) and as the path taken without a C compiler.

It decides no hard case. When a step would leave the bracket of the root or the parameter
space (other than from tau² = 0 with the score pointing down), when the likelihood at 0 is
higher than at the root (metafor's ll0check), when the boundary tau² = 0 is reached but the
grid scan of ``_fisher_scoring`` sees a possible interior maximum, or when the iterations do
not converge, it returns None and the caller takes the general path, which redoes the fit
with every safeguard (and warning).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import chdtrc, ndtri, stdtr, stdtrit

from sci_evidence.meta.regression import INTERCEPT
from sci_evidence.meta.results import PoolResult
from sci_evidence.meta.tau2 import (
    _BOUND_RESTARTS,
    _GRID_TOP_ROOM,
    DEFAULT_CONTROL,
    LL0_TOL,
    _grid_scores,
    icpt_parts,
    interior_grid,
    interior_grid_top,
    score_negative_up_to,
)

try:  # the compiled iteration (setup.py builds it where a C compiler is found)
    from sci_evidence.meta import _fit_kernel
except ImportError:  # pragma: no cover - depends on the build
    _fit_kernel = None

__all__ = [
    "fit_icpt",
    "fit_design_lean",
    "pool_lean",
    "tau2_icpt",
    "critical_value",
    "default_labels",
    "LEAN_METHODS",
]

#: Estimators the lean path covers (the others take the general path); it covers every test.
LEAN_METHODS = ("REML", "ML")

_THRESHOLD = DEFAULT_CONTROL["threshold"]
_MAX_ITER = DEFAULT_CONTROL["max_iter"]
_SQRT2 = math.sqrt(2.0)
_EPS = float(np.finfo(float).eps)  # the Knapp-Hartung factor is 0 below this (as _fit)
_ALGORITHM = "Newton / Fisher scoring"
# direct references: the ndarray methods (.sum, .min) and @ add a Python-level layer each
_dot = np.dot
_sum = np.add.reduce
_min = np.minimum.reduce
_max = np.maximum.reduce


class _GridSums:
    """What :func:`~sci_evidence.meta.tau2._grid_scores` reads of ``_Moments``."""

    __slots__ = ("vi", "F")
    icpt = True
    p = 1

    def __init__(self, vi: np.ndarray, F: np.ndarray):
        self.vi, self.F = vi, F


def _ones_column(k: int) -> np.ndarray:
    X = np.empty((k, 1))
    X.fill(1.0)  # np.ones is a Python function around the same two steps
    return X


@lru_cache(maxsize=256)
def critical_value(level: float, test: str, ddf: int) -> float:
    """Two-sided critical value: normal under z, t(k - p) otherwise."""
    q = 1.0 - (1.0 - level) / 2
    return float(ndtri(q)) if test == "z" else float(stdtrit(ddf, q))


@lru_cache(maxsize=256)
def default_labels(k: int) -> tuple[str, ...]:
    return tuple(f"Study {i}" for i in range(1, k + 1))


def pool_lean(
    yi: Any, vi: Any, method: str, test: str, level: float, measure: str | None
) -> PoolResult | None:
    """``pool(yi, vi)`` for clean input, or None when the input needs the full checks.

    Clean: two 1-D float arrays of one length k ≥ 2, all finite, every ``vi`` > 0. The
    test is one product: ``yi @ vi`` is finite only if no element of either is NaN or
    infinite (given vi > 0); values so large that it overflows also take the full path.
    """
    pair = _clean_pair(yi, vi, np.array)  # copies, as pool() does when it drops NaNs
    if pair is None:
        return None
    return fit_icpt(*pair, None, method, test, level, (INTERCEPT,), None, measure, {})


def fit_design_lean(
    yi: Any, vi: Any, X: Any, method: str, test: str, level: float, measure: str | None
) -> PoolResult | None:
    """``fit_design(yi, vi, X)`` for clean input and ``X`` a float column of ones, or None."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.shape[1] != 1 or X.dtype != np.float64:
        return None
    pair = _clean_pair(yi, vi, np.asarray)  # no copies, as fit_design()
    if pair is None or X.shape[0] != pair[0].shape[0] or not (X == 1.0).all():
        return None
    return fit_icpt(*pair, X, method, test, level, (INTERCEPT,), None, measure, {})


def _clean_pair(yi: Any, vi: Any, convert) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        y = convert(yi, dtype=np.float64)
        v = convert(vi, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if y.ndim != 1 or v.shape != y.shape or y.shape[0] < 2:
        return None
    if not (_min(v) > 0.0 and math.isfinite(_dot(y, v))):
        return None
    return y, v


def fit_icpt(
    yi: np.ndarray,
    vi: np.ndarray,
    X: np.ndarray | None,
    method: str,
    test: str,
    level: float,
    coef_names: tuple[str, ...],
    labels: tuple[str, ...] | None,
    measure: str | None,
    control: dict,
) -> PoolResult | None:
    """The (RE)ML fit of validated ``yi`` on the intercept, or None (see module)."""
    if method not in LEAN_METHODS or yi.shape[0] < 2:
        return None
    sol = _solve(yi, vi, method)
    if sol is None:
        return None
    return _result(yi, vi, X, method, test, level, coef_names, labels, measure, control, *sol)


def tau2_icpt(yi: np.ndarray, vi: np.ndarray, method: str) -> float | None:
    """tau² of the (RE)ML model without moderators (as ``fit_tau2``), or None for a hard
    case; for R² of a meta-regression, whose baseline is this model."""
    sol = _solve(yi, vi, method)
    return None if sol is None else sol[0]


def _solve(yi: np.ndarray, vi: np.ndarray, method: str) -> tuple | None:
    """The iteration, the boundary scan and the ll0check; the sums _result needs.

    Compiled (``_fit_kernel.icpt``) where the extension is built; :func:`_solve_py`, the
    reference, otherwise or for arrays the kernel does not read (not contiguous float64).
    """
    if _fit_kernel is not None:
        sol = _fit_kernel.icpt(yi, vi, method == "REML", _THRESHOLD, _MAX_ITER, np.empty(len(yi)))
        if sol is not NotImplemented:
            return sol
    return _solve_py(yi, vi, method)


def _solve_py(yi: np.ndarray, vi: np.ndarray, method: str) -> tuple | None:
    """:func:`_solve` in numpy and Python: the reference of the compiled kernel."""
    k = yi.shape[0]
    ybar = float(_sum(yi)) / k
    yc = yi - ybar
    F = np.empty((k, 3))
    F[:, 0] = 1.0
    F[:, 1] = yc
    F[:, 2] = yc * yc
    # HE start (tau2._he): (residual SS - sum(v)(1 - 1/k)) / (k - 1), truncated at 0
    t = max(0.0, (float(_dot(yc, yc)) - float(_sum(vi)) * (1.0 - 1.0 / k)) / (k - 1))
    # rows: w0, w0² (weights 1/v at tau² = 0, for Q and the ll0check), then w … w⁴ at the
    # current tau²; the first product covers all six, later ones the last four
    W6 = np.empty((6, k))
    w0 = W6[0]
    np.divide(1.0, vi, out=w0)
    np.multiply(w0, w0, out=W6[1])
    W = W6[2:]
    w, w2 = W6[2], W6[3]
    W01, W23 = W6[2:4], W6[4:]
    tmp = np.empty(k)
    reml = method == "REML"
    lo, hi = 0.0, math.inf
    hi_seen = t  # the largest tau² visited (the top of the grid scan at the boundary)
    n_iter = 0
    while True:
        if n_iter == _MAX_ITER:
            return None  # not converged: the general path falls back to a bracketed search
        n_iter += 1
        np.add(vi, t, out=tmp)
        np.divide(1.0, tmp, out=w)
        np.multiply(w, w, out=w2)
        np.multiply(W01, w2, out=W23)  # [w³, w⁴] as _Moments.parts computes them
        if n_iter == 1:
            m0 = _dot(W6, F).tolist()
            m = m0[2:]
        else:
            m = _dot(W, F).tolist()
        num, fisher, _, b, adj = icpt_parts(m, reml)
        if num > 0:
            lo = max(lo, t)
        elif num < 0:
            hi = min(hi, t)
        else:
            break
        new = t + adj
        if not (math.isfinite(adj) and new >= 0.0 and lo <= new <= hi):
            if t == 0.0 and num < 0:
                break  # the score at 0 points down: tau² = 0 is a (KKT) maximum
            return None  # the general path takes the safeguarded step
        if abs(adj) < _THRESHOLD * max(1.0, new):
            break
        t = new
        hi_seen = max(hi_seen, t)
    # Q, tr P and the log-likelihood at tau² = 0 (equal-effect weights 1/v)
    (s10, a10, c10), (s20, _, _) = m0[:2]
    rss0 = c10 - a10 * a10 / s10
    if not rss0 > 1e-3 * c10:
        # the expanded sum lost digits to cancellation: the residuals themselves
        e = yc - a10 / s10
        rss0 = float(w0 @ (e * e))
    if t == 0.0:
        # as _fisher_scoring: a higher interior maximum may exist where the score turns
        # positive. The bound of score_negative_up_to (from the sums at 0 just computed)
        # usually proves it negative over the whole grid; otherwise scan the score on the
        # same grid, and leave the refinement (rare) to the general path
        if not _bound_covers_grid(yi, vi, F, tmp, num + b, rss0, s10, reml, hi_seen, b, fisher):
            with np.errstate(all="ignore"):
                score = _grid_scores(_GridSums(vi, F), method, interior_grid(yi, vi, hi_seen))
            if (score > 0).any():
                return None
    # metafor's ll0check: ll(0) - ll(tau²) from the log-likelihood of _Moments.loglik
    s1, a1, c1 = m[0]
    mu = a1 / s1
    rss = c1 - a1 * a1 / s1
    if t > 0.0:
        gap = 0.5 * float(_sum(np.log1p(t * w0))) + 0.5 * (rss - rss0)
        if reml:
            gap += 0.5 * math.log(s1 / s10)
        if gap > LL0_TOL:
            return None  # trapped below tau² = 0: the general path warns and searches
    return t, n_iter, fisher, s1, ybar + mu, w, max(0.0, rss0), s10 - s20 / s10


def _bound_covers_grid(yi, vi, F, tmp, yPPy0, Q0, sw0, reml, t_hint, b0, fisher0) -> bool:
    """Whether :func:`~sci_evidence.meta.tau2.score_negative_up_to` proves the score negative
    over the whole grid of the boundary scan, restarted (as ``tau2._no_interior_root``) from
    the sums at the tau² it reached, in buffers of its own (``w`` is the result's)."""
    k = yi.shape[0]
    vmin, vmax = float(_min(vi)), float(_max(vi))
    pr = 1 if reml else 0
    proved = score_negative_up_to(yPPy0, Q0, sw0, vmin, pr, vmax, k, 0.0, b0, fisher0)
    if proved == math.inf:
        return True
    top = _GRID_TOP_ROOM * interior_grid_top(yi, vi, t_hint)
    if 0.0 < proved <= top:
        Wr = np.empty((3, k))
        for _ in range(_BOUND_RESTARTS):
            np.add(vi, proved, out=tmp)
            np.divide(1.0, tmp, out=Wr[0])
            np.multiply(Wr[0], Wr[0], out=Wr[1])
            np.multiply(Wr[0], Wr[1], out=Wr[2])
            (s1, a1, c1), (s2, a2, c2), (s3, _, _) = _dot(Wr, F).tolist()
            mu = a1 / s1
            u = c2 - 2.0 * mu * a2 + mu * mu * s2
            if reml:  # tr P and tr P² (as icpt_parts)
                r = s2 / s1
                b, fisher = s1 - r, s2 - 2.0 * s3 / s1 + r * r
            else:
                b, fisher = s1, s2
            Q = c1 - a1 * a1 / s1
            nxt = score_negative_up_to(u, Q, s1, vmin, pr, vmax, k, proved, b, fisher)
            if not nxt > proved:
                break
            proved = nxt
            if proved > top:
                break
    return proved > top


def _result(
    yi, vi, X, method, test, level, coef_names, labels, measure, control,
    tau2, n_iter, fisher, sw, b0, w, Q, trP0,
) -> PoolResult | None:  # fmt: skip
    """The fields :func:`sci_evidence.meta.models._fit` fills for p = 1, weighted, tau²
    estimated by an iterative method (no moderator test, no R²); None when the
    Knapp-Hartung factor is 0 (the general path warns)."""
    k = yi.shape[0]
    ddf = k - 1
    s2w = 1.0
    if test == "knha" or test == "adhoc":
        e = yi - b0
        rss = float(_dot(w, e * e))
        s2w = rss / ddf if rss > _EPS else 0.0
        if test == "adhoc":
            s2w = max(1.0, s2w)
        elif s2w == 0.0:
            return None
    var0 = 1.0 / sw * s2w
    se0 = math.sqrt(var0)
    stat0 = b0 / se0 if se0 > 0 else math.copysign(math.inf, b0) if b0 else math.nan
    z = test == "z"
    if math.isnan(stat0):
        p0 = math.nan
    elif z:
        p0 = math.erfc(abs(stat0) / _SQRT2)
    else:
        p0 = 2.0 * float(stdtr(ddf, -abs(stat0)))
    crit = critical_value(level, test, ddf)
    lb, ub = b0 - crit * se0, b0 + crit * se0
    half = crit * math.sqrt(se0**2 + tau2)
    vt = ddf / trP0
    return PoolResult._unchecked(
        {
            "k": k,
            "p": 1,
            "estimate": b0,
            "se": se0,
            "stat": stat0,
            "pval": p0,
            "ci_lb": lb,
            "ci_ub": ub,
            "pi_lb": b0 - half,
            "pi_ub": b0 + half,
            "tau2": tau2,
            "se_tau2": math.sqrt(2.0 / fisher),
            "I2": 100.0 * tau2 / (vt + tau2),
            "H2": tau2 / vt + 1.0,
            "Q": Q,
            "Q_df": ddf,
            "Q_pval": float(chdtrc(ddf, Q)),
            "method": method,
            "test": test,
            "level": level,
            "converged": True,
            "n_iter": n_iter,
            "yi": yi,
            "vi": vi,
            "X": _ones_column(k) if X is None else X,
            "coef_names": coef_names,
            "beta": np.array([b0]),
            "beta_se": np.array([se0]),
            "beta_stat": np.array([stat0]),
            "beta_pval": np.array([p0]),
            "beta_ci_lb": np.array([lb]),
            "beta_ci_ub": np.array([ub]),
            "vcov": np.array([[var0]]),
            "QM": None,
            "QM_df": None,
            "QM_pval": None,
            "weights": w * (100.0 / sw),
            "labels": default_labels(k) if labels is None else labels,
            "measure": measure,
            "dof": None if z else ddf,
            "QM_ddf": None,
            "s2w": s2w,
            "vt": vt,
            "tau2_fixed": False,
            "algorithm": _ALGORITHM,
            "control": control,
            "model": "rma.uni",
            "R2": None,
        }
    )
