r"""Estimators of the between-study variance tau² in the random/mixed-effects model.

Model: :math:`y_i = x_i^\top\beta + u_i + e_i`, :math:`u_i \sim N(0, \tau^2)`,
:math:`e_i \sim N(0, v_i)`, with :math:`v_i` known. Notation (as in metafor's ``rma.uni``):
:math:`W = \operatorname{diag}(w_i)`, :math:`P = W - WX(X^\top WX)^{-1}X^\top W`, so that
:math:`y^\top P y = \sum_i w_i (y_i - x_i^\top\hat\beta_w)^2` is the weighted residual sum of
squares and :math:`Py = W(y - X\hat\beta_w)`.

Every estimator returns a :class:`Tau2Fit` and is truncated at 0. The closed-form ones are:

* ``DL`` (DerSimonian & Laird 1986): :math:`(y^\top P y - (k-p)) / \operatorname{tr}P`, with
  :math:`w_i = 1/v_i`.
* ``HE`` (Hedges 1983): :math:`(y^\top P_o y - \operatorname{tr}(P_o V)) / (k-p)`, with the
  OLS projection :math:`P_o = I - X(X^\top X)^{-1}X^\top`.
* ``HS`` (Hunter & Schmidt 2004): :math:`(y^\top P y - k) / \sum w_i`, :math:`w_i = 1/v_i`.
* ``SJ`` (Sidik & Jonkman 2005): :math:`\tau_0^2\, y^\top P y/(k-p)` with weights
  :math:`1/(v_i+\tau_0^2)` and :math:`\tau_0^2 = \operatorname{var}(y)(k-1)/k`, or the
  start ``control={"tau2_init": ...}`` (metafor ``control=list(tau2.init=)``; e.g. the HE
  value, DerSimonian & Kacker 2007's "SJ2").

The iterative ones solve an estimating equation:

* ``ML``: :math:`y^\top P^2 y = \sum w_i`; ``REML``: :math:`y^\top P^2 y = \operatorname{tr}P`
  (started at the HE value; Newton's step on the equivalent, nearly linear equation
  :math:`1 - b/y^\top P^2 y = 0` — Halley's without moderators, see :func:`newton_step`
  and :func:`icpt_parts` — safeguarded by a bracket, metafor's Fisher-scoring step and
  step-halving to stay ≥ 0; if it fails, a bracketed Brent search on the score — see
  :func:`fit_tau2`. It stops at the evaluated point once the next correction is below the
  threshold, so tau² and its SE belong to one point). When the search ends at the
  boundary tau² = 0, a grid scan of the score looks for an interior maximum (unless the
  bound of :func:`score_negative_up_to` proves the score negative over the whole grid), and
  the higher of the two is returned: (RE)ML likelihoods can have two maxima. metafor keeps
  whichever its Fisher scoring reaches from the HE start, so it can return the lower one
  (tau² = 0 when its HE start is 0); ``metafor_iterations=True`` replays metafor's path.
  For a general design with the default control this REML/ML iteration (and the boundary
  decisions) runs compiled in ``_fit_kernel.design`` where the optional
  C extension was built; every case it does not decide (no convergence, ll0check, a possible
  interior maximum) runs the Python code below, which is also its reference.
* ``PM`` (Paule & Mandel 1982) and ``EB`` (Morris 1983): :math:`y^\top P y = k - p` (the two
  coincide at convergence); solved by Newton's method safeguarded by bisection.

Standard errors of tau² follow metafor 3.8 (``se.tau2``).

References
----------
DerSimonian R, Laird N (1986). doi:10.1016/0197-2456(86)90046-2.
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators.
doi:10.3102/10769986030003261.
Paule RC, Mandel J (1982). doi:10.6028/jres.087.022.
Sidik K, Jonkman JN (2005). doi:10.1002/sim.2096.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from operator import mul

import numpy as np

from sci_evidence.errors import ConvergenceError, ConvergenceWarning

try:  # the compiled (RE)ML iteration (setup.py builds it where a C compiler is found)
    from sci_evidence.meta import _fit_kernel
except ImportError:  # pragma: no cover - depends on the build
    _fit_kernel = None

__all__ = [
    "TAU2_METHODS",
    "Tau2Fit",
    "fit_tau2",
    "weighted_fit",
    "unweighted_fit",
    "q_generalised",
    "spd_inverse",
    "newton_step",
]

#: Estimators of tau² (``EE`` = equal/common effect, tau² fixed at 0).
TAU2_METHODS = ("EE", "DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS")

#: Defaults of the iterative algorithms (stated in results and docstrings).
DEFAULT_CONTROL = {
    "threshold": 1e-10,  # stop when |change in tau²| < threshold · max(1, tau²)
    "max_iter": 100,
    "step_adj": 1.0,
    "tau2_init": None,
    # True: replicate metafor's Fisher scoring step for step (absolute stopping rule
    # |change| < threshold, no shortcut to the boundary). With threshold=1e-5 this
    # reproduces metafor's default output digit for digit, including its early stops.
    "metafor_iterations": False,
}

#: metafor's ``ll0check``: an interior estimate whose log-likelihood is below that at tau² = 0
#: by more than this is a trap (a local maximum or a saddle), and tau² = 0 is taken instead.
LL0_TOL = 1e-8


@dataclass(frozen=True)
class Tau2Fit:
    """An estimate of tau² and how it was obtained."""

    tau2: float
    se_tau2: float | None
    converged: bool
    n_iter: int
    algorithm: str


def spd_inverse(M: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverse and log-determinant of a small symmetric positive-definite matrix.

    For p ≤ 3 (the usual meta-regression) the adjugate formula on the diagonally scaled
    matrix is used: ``numpy.linalg.inv`` costs more in Python overhead than the rest of an
    iteration. Scaling by the diagonal keeps moderators on very different scales (an
    intercept next to a calendar year) accurate.
    """
    p = M.shape[0]
    if p == 1:
        m = float(M[0, 0])
        return np.array([[1.0 / m]]), math.log(m)
    if p > 3:
        sign, logdet = np.linalg.slogdet(M)
        return np.linalg.inv(M), float(logdet) if sign > 0 else math.nan
    m = M.tolist()
    d = [1.0 / math.sqrt(m[r][r]) if m[r][r] > 0 else math.nan for r in range(p)]
    if p == 2:
        a, b, e = 1.0, m[0][1] * d[0] * d[1], 1.0
        det = a * e - b * b
        if not det > 0:
            return np.full((p, p), np.nan), math.nan
        off = -b * d[0] * d[1] / det
        inv = np.array([[d[0] * d[0] / det, off], [off, d[1] * d[1] / det]])
    else:
        b, c, f = m[0][1] * d[0] * d[1], m[0][2] * d[0] * d[2], m[1][2] * d[1] * d[2]
        c11, c12, c13 = 1.0 - f * f, c * f - b, b * f - c
        c22, c23, c33 = 1.0 - c * c, b * c - f, 1.0 - b * b
        det = c11 + b * c12 + c * c13
        if not det > 0:
            return np.full((p, p), np.nan), math.nan
        d0, d1, d2 = d[0] / det, d[1], d[2]
        inv = np.array(
            [
                [c11 * d[0] * d0, c12 * d0 * d1, c13 * d0 * d2],
                [c12 * d0 * d1, c22 * d1 * d1 / det, c23 * d1 * d2 / det],
                [c13 * d0 * d2, c23 * d1 * d2 / det, c33 * d2 * d2 / det],
            ]
        )
    return inv, math.log(det) + sum(math.log(m[r][r]) for r in range(p))


def weighted_fit(yi: np.ndarray, w: np.ndarray, X: np.ndarray):
    """Weighted least squares: return ``(beta, A, resid)`` with ``A = (X'WX)^{-1}``.

    A single-column design (the intercept-only model) takes a scalar path, because the
    general matrix path costs more than the whole fit for small k.
    """
    if X.shape[1] == 1:
        x = X[:, 0]
        wx = w * x
        s = float(wx @ x)
        beta0 = float(wx @ yi) / s
        A = np.array([[1.0 / s]])
        return np.array([beta0]), A, yi - x * beta0
    Xw = X * w[:, None]
    A, _ = spd_inverse(X.T @ Xw)
    beta = A @ (Xw.T @ yi)
    return beta, A, yi - X @ beta


def unweighted_fit(yi: np.ndarray, var: np.ndarray, X: np.ndarray):
    """Ordinary least squares with the model-based sandwich covariance (metafor
    ``rma(weighted=FALSE)``): ``beta = (X'X)⁻¹X'y``,
    ``cov = (X'X)⁻¹ X' diag(v_i + tau²) X (X'X)⁻¹``; returns ``(beta, cov, resid)``."""
    B, _ = spd_inverse(X.T @ X)
    beta = B @ (X.T @ yi)
    cov = B @ (X.T @ (X * var[:, None])) @ B
    return beta, cov, yi - X @ beta


def _traces(w: np.ndarray, X: np.ndarray, A: np.ndarray):
    """Return ``(tr P, tr P²)`` without forming the k × k matrix P."""
    w2 = w * w
    if X.shape[1] == 1:
        x = X[:, 0]
        a = A[0, 0]
        b2 = float(w2 @ (x * x))
        b3 = float((w2 * w) @ (x * x))
        trP = float(w.sum()) - a * b2
        trPP = float(w2.sum()) - 2.0 * a * b3 + (a * b2) ** 2
        return trP, trPP
    M2 = A @ (X.T @ (X * w2[:, None]))
    M3 = A @ (X.T @ (X * (w2 * w)[:, None]))
    trP = float(w.sum()) - float(np.trace(M2))
    trPP = float(w2.sum()) - 2.0 * float(np.trace(M3)) + float(np.sum(M2 * M2.T))
    return trP, trPP


def _p_matrix(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The k × k matrix P (only for standard errors of the closed-form estimators)."""
    Xw = X * w[:, None]
    A = np.linalg.inv(X.T @ Xw)
    return np.diag(w) - Xw @ A @ Xw.T


def q_generalised(tau2: float, yi: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    r"""Generalised Q: :math:`\sum_i (y_i - x_i^\top\hat\beta)^2/(v_i+\tau^2)` (decreasing)."""
    w = 1.0 / (vi + tau2)
    _, _, e = weighted_fit(yi, w, X)
    return float(w @ (e * e))


def _he(yi, vi, X):
    k, p = X.shape
    if p == 1 and (X[:, 0] == 1.0).all():
        e = yi - yi.mean()
        rss = float(e @ e)
        trPV = float(vi.sum()) * (1.0 - 1.0 / k)
    else:
        A, _ = spd_inverse(X.T @ X)
        e = yi - X @ (A @ (X.T @ yi))
        rss = float(e @ e)
        trPV = float(vi.sum()) - float((A * (X.T @ (X * vi[:, None]))).sum())
    return (rss - trPV) / (k - p)


def _se_he(tau2, vi, X):
    k, p = X.shape
    Po = np.eye(k) - X @ np.linalg.pinv(X)
    PV = Po * vi[None, :]
    t = max(tau2, 0.0)
    val = 2 * np.sum(PV * PV.T) + 4 * t * np.trace(PV) + 2 * t * t * (k - p)
    return math.sqrt(val) / (k - p)


def _closed_form(method, yi, vi, X, tau2_init=None):
    k, p = X.shape
    if method == "HE":
        tau2 = max(0.0, _he(yi, vi, X))
        return Tau2Fit(tau2, _se_he(tau2, vi, X), True, 0, "closed form")
    if method == "SJ":
        # var(y)·(k−1)/k, metafor's default start, unless a start is given
        tau0 = float(np.var(yi)) if tau2_init is None else float(tau2_init)
        w = 1.0 / (vi + tau0)
        _, _, e = weighted_fit(yi, w, X)
        rss = float(w @ (e * e))
        tau2 = max(0.0, tau0 * rss / (k - p))
        P = _p_matrix(w, X)
        PV = P * vi[None, :]
        val = 2 * np.sum(PV * PV.T) + 4 * tau2 * np.sum(PV * P) + 2 * tau2 * tau2 * np.sum(P * P)
        return Tau2Fit(tau2, tau0 / (k - p) * math.sqrt(val), True, 0, "closed form")
    # DL and HS use the inverse-variance (common-effect) weights
    w = 1.0 / vi
    beta, A, e = weighted_fit(yi, w, X)
    rss = float(w @ (e * e))
    trP, trPP = _traces(w, X, A)
    if method == "DL":
        tau2 = max(0.0, (rss - (k - p)) / trP)
        se = math.sqrt(2 * (k - p) + 4 * tau2 * trP + 2 * tau2 * tau2 * trPP) / trP
    else:  # HS
        sw = float(w.sum())
        tau2 = max(0.0, (rss - k) / sw)
        se = math.sqrt(2 * (k - p) + 4 * tau2 * trP + 2 * tau2 * tau2 * trPP) / sw
    return Tau2Fit(tau2, se, True, 0, "closed form")


def _likelihood_parts(method, tau2, yi, vi, X, icpt, Z=None):
    r"""Score numerator, expected information and observed information of ML/REML/EB.

    Returns ``(num, fisher, observed)`` such that metafor's Fisher-scoring step is
    ``num / fisher`` and the Newton step is ``num / observed``. With
    :math:`P_y = W(y - X\hat\beta)`:

    * ML:   num = :math:`y^\top P^2 y - \sum w`, fisher = :math:`\sum w^2`,
      observed = :math:`2 y^\top P^3 y - \sum w^2`
    * REML: num = :math:`y^\top P^2 y - \operatorname{tr}P`, fisher = :math:`\operatorname{tr}P^2`,
      observed = :math:`2 y^\top P^3 y - \operatorname{tr}P^2`
    * EB:   num = :math:`k/(k-p)\, y^\top P y - k`, fisher = :math:`\sum w` (no Newton form)

    ``icpt`` marks the intercept-only design, which takes a scalar path (a handful of
    vector operations per iteration: this is the hot loop of every REML fit).
    """
    w = 1.0 / (vi + tau2)
    if icpt:
        # dot products rather than .sum(): fewer Python-level calls in the hot loop
        ones = X[:, 0]
        sw = float(w @ ones)
        e = yi - float(w @ yi) / sw
        we = w * e
        if method == "EB":
            k = yi.shape[0]
            return float(we @ e) * k / (k - 1) - k, sw, math.nan
        yPPy = float(we @ we)
        wwe = w * we
        s1 = float(wwe @ ones)
        yPPPy = float(we @ wwe) - s1 * s1 / sw
        w2 = w * w
        sw2 = float(w2 @ ones)
        if method == "ML":
            return yPPy - sw, sw2, 2.0 * yPPPy - sw2
        a = sw2 / sw
        trP = sw - a
        trPP = sw2 - 2.0 * float(w2 @ w) / sw + a * a
        return yPPy - trP, trPP, 2.0 * yPPPy - trPP
    # general design: X'W^jX for j = 1, 2, 3 in one product with the precomputed row-wise
    # outer products Z (k × p²) — a few calls per iteration instead of dozens
    k, p = X.shape
    if Z is None:
        Z = _outer_rows(X)
    w2 = w * w
    M = (np.array((w, w2, w2 * w)) @ Z).reshape(3, p, p)
    A, _ = spd_inverse(M[0])
    beta = A @ (X.T @ (w * yi))
    e = yi - X @ beta
    we = w * e
    if method == "EB":
        return float(we @ e) * k / (k - p) - k, float(w.sum()), math.nan
    yPPy = float(we @ we)
    wwe = w * we
    g = X.T @ wwe
    yPPPy = float(we @ wwe) - float(g @ A @ g)
    if method == "ML":
        sw2 = float(w2.sum())
        return yPPy - float(w.sum()), sw2, 2.0 * yPPPy - sw2
    AM2 = A @ M[1]
    trP = float(w.sum()) - float(AM2.trace())
    trPP = float(w2.sum()) - 2.0 * float((A * M[2]).sum()) + float((AM2 * AM2.T).sum())
    return yPPy - trP, trPP, 2.0 * yPPPy - trPP


def _outer_rows(X: np.ndarray) -> np.ndarray:
    """Row-wise outer products x_i x_iᵀ, flattened: ``X'diag(w)X = (w @ Z).reshape(p, p)``."""
    k, p = X.shape
    return (X[:, :, None] * X[:, None, :]).reshape(k, p * p)


def _py_spd_inverse(m: list[float], p: int) -> tuple[list[float], float]:
    """Inverse (flat, row-major) and log-determinant of a small SPD matrix, in plain Python.

    Gauss-Jordan elimination on the diagonally scaled matrix (no pivoting is needed for a
    positive-definite matrix). For p ≤ 4 this is several times cheaper than the numpy calls
    it replaces. Returns NaNs when the matrix is not positive definite.
    """
    if p == 3 or p == 2:  # the common cases, without the lists of the general branch
        d = (m[0], m[4], m[8]) if p == 3 else (m[0], m[3])
        if min(d) <= 0:
            return [math.nan] * (p * p), math.nan
        return _spd_inverse_23(m, d)
    d = [m[i * p + i] for i in range(p)]
    if min(d) <= 0:
        return [math.nan] * (p * p), math.nan
    s = [1.0 / math.sqrt(x) for x in d]
    a = [[m[i * p + j] * s[i] * s[j] for j in range(p)] + [1.0 if i == j else 0.0 for j in range(p)]
         for i in range(p)]  # fmt: skip
    logdet = 0.0
    for c in range(p):
        piv = a[c][c]
        if not piv > 1e-14:
            return [math.nan] * (p * p), math.nan
        logdet += math.log(piv)
        row = a[c]
        inv_piv = 1.0 / piv
        for j in range(2 * p):
            row[j] *= inv_piv
        for r in range(p):
            if r != c:
                f = a[r][c]
                if f:
                    ar = a[r]
                    for j in range(2 * p):
                        ar[j] -= f * row[j]
    inv = [a[i][p + j] * s[i] * s[j] for i in range(p) for j in range(p)]
    return inv, logdet + sum(math.log(x) for x in d)


def _spd_inverse_23(m: list[float], d: tuple) -> tuple[list[float], float]:
    """:func:`_py_spd_inverse` for p = 2 or 3 with positive diagonal ``d``: the inverse of
    the diagonally scaled matrix (unit diagonal) by its adjugate."""
    if len(d) == 2:  # the scaled matrix is [[1, b], [b, 1]]
        s0, s1 = 1.0 / math.sqrt(d[0]), 1.0 / math.sqrt(d[1])
        b = m[1] * s0 * s1
        det = 1.0 - b * b
        if not det > 1e-14:
            return [math.nan] * 4, math.nan
        i01 = -b * s0 * s1 / det
        return [s0 * s0 / det, i01, i01, s1 * s1 / det], math.log(det) + math.log(d[0] * d[1])
    s0, s1, s2 = 1.0 / math.sqrt(d[0]), 1.0 / math.sqrt(d[1]), 1.0 / math.sqrt(d[2])
    b, c, f = m[1] * s0 * s1, m[2] * s0 * s2, m[5] * s1 * s2
    c11, c12, c13 = 1.0 - f * f, c * f - b, b * f - c
    c22, c23, c33 = 1.0 - c * c, b * c - f, 1.0 - b * b
    det = c11 + b * c12 + c * c13
    if not det > 1e-14:
        return [math.nan] * 9, math.nan
    t0, t1, t2 = s0 / det, s1 / det, s2 / det
    i01, i02, i12 = c12 * t0 * s1, c13 * t0 * s2, c23 * t1 * s2
    inv = [c11 * t0 * s0, i01, i02, i01, c22 * t1 * s1, i12, i02, i12, c33 * t2 * s2]
    return inv, math.log(det) + math.log(d[0] * d[1] * d[2])


def _mv(M: list[float], v: list[float], p: int) -> list[float]:
    return [sum(map(mul, M[i * p : (i + 1) * p], v)) for i in range(p)]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(map(mul, a, b))


class _Moments:
    """Weighted moments of (X, y) for the hot loop of the iterative estimators.

    One matrix product ``[w; w²; w³] @ F`` with per-study features F (1, x xᵀ, x·y, y²)
    gives every sum an ML/REML/EB step needs; the rest is p × p algebra. y is centred and,
    with an intercept, the other columns of X are centred and scaled: this changes neither
    P nor tau², and keeps the expanded sums of squares free of cancellation.
    """

    __slots__ = ("vi", "k", "p", "icpt", "F", "W", "w", "w2", "w3", "w4", "tmp", "last")
    __slots__ += ("at0", "q0")

    def __init__(self, yi: np.ndarray, vi: np.ndarray, X: np.ndarray, icpt: bool):
        k, p = X.shape
        self.vi, self.k, self.p, self.icpt = vi, k, p, icpt
        yc = yi - yi.sum() / k
        if icpt:
            F = np.empty((k, 3))
            F[:, 0] = 1.0
            F[:, 1] = yc
            F[:, 2] = yc * yc
        else:
            Xs = X
            if p > 1 and (X[:, 0] == 1.0).all():
                rest = X[:, 1:] - X[:, 1:].sum(axis=0) / k
                sd = np.sqrt((rest * rest).sum(axis=0) / k)
                Xs = np.empty_like(X)
                Xs[:, 0] = 1.0
                Xs[:, 1:] = rest / np.where(sd > 0, sd, 1.0)
            q = p * p
            F = np.empty((k, 2 + q + p))
            F[:, 0] = 1.0
            F[:, 1 : 1 + q] = (Xs[:, :, None] * Xs[:, None, :]).reshape(k, q)
            F[:, 1 + q : 1 + q + p] = Xs * yc[:, None]
            F[:, -1] = yc * yc
        self.F = F
        # intercept-only: w⁴ too, for the Halley step of icpt_parts
        self.W = np.empty((4 if icpt else 3, k))
        self.w, self.w2, self.w3 = self.W[0], self.W[1], self.W[2]
        self.w4 = self.W[3] if icpt else None
        self.tmp = np.empty(k)
        self.last = (math.nan, math.nan)
        # sums at tau² = 0, kept once computed: (method, parts) and (Q, tr P, Σ 1/v)
        self.at0: tuple | None = None
        self.q0: tuple | None = None

    def parts(self, method: str, tau2: float):
        """``(num, fisher, observed, b, step)``: the first three as :func:`_likelihood_parts`
        returns them, ``b`` the term the score compares :math:`y^\top P^2 y` with
        (REML: tr P, ML: Σw; NaN for EB), so that :math:`y^\top P^2 y` = num + b, and the
        default step of the iteration (:func:`icpt_parts` without moderators,
        :func:`newton_step` with them; NaN for EB)."""
        np.add(self.vi, tau2, out=self.tmp)
        np.divide(1.0, self.tmp, out=self.w)
        np.multiply(self.w, self.w, out=self.w2)
        k = self.k
        if self.icpt:
            # [w³, w⁴] = [w, w²]·w² in one call (the lean path does the same, bit for bit)
            np.multiply(self.W[:2], self.w2, out=self.W[2:])
            m = np.dot(self.W, self.F).tolist()  # np.dot: less call overhead than @
            if method == "EB":
                s1, a1, c1 = m[0]
                mu = a1 / s1
                rss = c1 - 2.0 * mu * a1 + mu * mu * s1
                return rss * k / (k - 1) - k, s1, math.nan, math.nan, math.nan
            return icpt_parts(m, method == "REML")
        np.multiply(self.w2, self.w, out=self.w3)
        M = self.W @ self.F
        p = self.p
        if p == 2 or p == 3:
            return _small_parts(M.tolist(), p, method, k)
        q = p * p
        rows = M.tolist()
        sw, sw2 = rows[0][0], rows[1][0]
        XX = [r[1 : 1 + q] for r in rows]
        Xy = [r[1 + q : 1 + q + p] for r in rows]
        A, _ = _py_spd_inverse(XX[0], p)
        beta = _mv(A, Xy[0], p)
        XXb = [_mv(XX[j], beta, p) for j in range(3)]
        # Σ w^j e² = y'W^j y − 2 β'X'W^j y + β'X'W^j X β, j = 1, 2, 3
        r = [rows[j][-1] - 2.0 * _dot(Xy[j], beta) + _dot(XXb[j], beta) for j in range(3)]
        if method == "EB":
            return r[0] * k / (k - p) - k, sw, math.nan, math.nan, math.nan
        g = [Xy[1][i] - XXb[1][i] for i in range(p)]
        yPPPy = r[2] - _dot(g, _mv(A, g, p))
        yPPy = r[1]
        if method == "ML":
            num, obs = yPPy - sw, 2.0 * yPPPy - sw2
            return num, sw2, obs, sw, newton_step(num, sw2, obs, sw)
        M2, M3 = XX[1], XX[2]
        # (A M2)_ij = <row i of A, row j of M2> since M2 is symmetric
        Ar = [A[i * p : (i + 1) * p] for i in range(p)]
        Mr = [M2[j * p : (j + 1) * p] for j in range(p)]
        AM2 = [sum(map(mul, a_i, m_j)) for a_i in Ar for m_j in Mr]
        trP = sw - sum(AM2[i * p + i] for i in range(p))
        trPP = (
            sw2
            - 2.0 * _dot(A, M3)
            + sum(AM2[i * p + j] * AM2[j * p + i] for i in range(p) for j in range(p))
        )
        num, obs = yPPy - trP, 2.0 * yPPPy - trPP
        return num, trPP, obs, trP, newton_step(num, trPP, obs, trP)

    def loglik(self, method: str, tau2: float) -> float:
        """(Restricted) log-likelihood up to a constant (REML: with the scaled design)."""
        np.add(self.vi, tau2, out=self.tmp)
        np.divide(1.0, self.tmp, out=self.w)
        m = self.w @ self.F
        if self.icpt:
            s1, a1, c1 = m.tolist()
            rss, logdet = c1 - a1 * a1 / s1, math.log(s1)
        else:
            p = self.p
            row = m.tolist()
            A, logdet = _py_spd_inverse(row[1 : 1 + p * p], p)
            xy = row[1 + p * p : 1 + p * p + p]
            rss = row[-1] - _dot(xy, _mv(A, xy, p))
        ll = -0.5 * float(np.log(self.tmp).sum()) - 0.5 * rss
        return ll - 0.5 * logdet if method == "REML" else ll

    def q_and_trace(self, tau2: float) -> tuple[float, float]:
        """``(y'Py, tr P)`` at tau² (at 0: Cochran's Q and the trace used by I²)."""
        if tau2 == 0.0:
            return self.at_zero()[:2]
        return self._q_and_trace(tau2)[:2]

    def at_zero(self) -> tuple[float, float, float]:
        """``(Q, tr P, Σ 1/v)`` at tau² = 0, computed once (the boundary check of
        :func:`_no_interior_root` and the heterogeneity statistics both need them)."""
        if self.q0 is None:
            self.q0 = self._q_and_trace(0.0)
        return self.q0

    def _q_and_trace(self, tau2: float) -> tuple[float, float, float]:
        np.add(self.vi, tau2, out=self.tmp)
        np.divide(1.0, self.tmp, out=self.w)
        np.multiply(self.w, self.w, out=self.w2)
        m = self.W[:2] @ self.F
        if self.icpt:
            (s1, a1, c1), (s2, _, _) = m.tolist()
            return c1 - a1 * a1 / s1, s1 - s2 / s1, s1
        p = self.p
        q = p * p
        r0, r1 = m.tolist()
        A, _ = _py_spd_inverse(r0[1 : 1 + q], p)
        xy = r0[1 + q : 1 + q + p]
        rss = r0[-1] - _dot(xy, _mv(A, xy, p))
        trP = r0[0] - _dot(A, r1[1 : 1 + q])
        return rss, trP, r0[0]


def _small_parts(rows: list, p: int, method: str, k: int):
    """:meth:`_Moments.parts` for p = 2 or 3, written out: the same sums and formulas
    (``A`` from :func:`_py_spd_inverse`, β = A X'Wy, Σw^j e² = y'W^j y − 2β'X'W^j y +
    β'X'W^j Xβ, …) without the list helpers, whose calls cost more than the arithmetic."""
    r0, r1, r2 = rows
    if p == 2:
        r0 = [r0[0], r0[1], r0[2], 0.0, r0[3], r0[4], 0.0, 0.0, 0.0, 1.0, r0[5], r0[6], 0.0, r0[7]]
        r1 = [r1[0], r1[1], r1[2], 0.0, r1[3], r1[4], 0.0, 0.0, 0.0, 0.0, r1[5], r1[6], 0.0, r1[7]]
        r2 = [r2[0], r2[1], r2[2], 0.0, r2[3], r2[4], 0.0, 0.0, 0.0, 0.0, r2[5], r2[6], 0.0, r2[7]]
        A2, _ = _py_spd_inverse([r0[1], r0[2], r0[4], r0[5]], 2)
        a00, a01, _, a11 = A2
        a02 = a12 = a22 = 0.0
    else:
        A, _ = _py_spd_inverse(r0[1:10], 3)
        a00, a01, a02, _, a11, a12, _, _, a22 = A
    sw, sw2 = r0[0], r1[0]
    x0, x1, x2 = r0[10], r0[11], r0[12]
    b0 = a00 * x0 + a01 * x1 + a02 * x2
    b1 = a01 * x0 + a11 * x1 + a12 * x2
    b2 = a02 * x0 + a12 * x1 + a22 * x2
    if method == "EB":
        _, m00, m01, m02, m10, m11, m12, m20, m21, m22, _, _, _, yy = r0
        c0 = m00 * b0 + m01 * b1 + m02 * b2
        c1 = m10 * b0 + m11 * b1 + m12 * b2
        c2 = m20 * b0 + m21 * b1 + m22 * b2
        rss = yy - 2.0 * (x0 * b0 + x1 * b1 + x2 * b2) + (c0 * b0 + c1 * b1 + c2 * b2)
        return rss * k / (k - p) - k, sw, math.nan, math.nan, math.nan
    _, m00, m01, m02, m10, m11, m12, m20, m21, m22, y0, y1, y2, yy = r1
    c0 = m00 * b0 + m01 * b1 + m02 * b2
    c1 = m10 * b0 + m11 * b1 + m12 * b2
    c2 = m20 * b0 + m21 * b1 + m22 * b2
    yPPy = yy - 2.0 * (y0 * b0 + y1 * b1 + y2 * b2) + (c0 * b0 + c1 * b1 + c2 * b2)
    g0, g1, g2 = y0 - c0, y1 - c1, y2 - c2
    _, n00, n01, n02, n10, n11, n12, n20, n21, n22, z0, z1, z2, zz = r2
    d0 = n00 * b0 + n01 * b1 + n02 * b2
    d1 = n10 * b0 + n11 * b1 + n12 * b2
    d2 = n20 * b0 + n21 * b1 + n22 * b2
    r3 = zz - 2.0 * (z0 * b0 + z1 * b1 + z2 * b2) + (d0 * b0 + d1 * b1 + d2 * b2)
    h0 = a00 * g0 + a01 * g1 + a02 * g2
    h1 = a01 * g0 + a11 * g1 + a12 * g2
    h2 = a02 * g0 + a12 * g1 + a22 * g2
    yPPPy = r3 - (g0 * h0 + g1 * h1 + g2 * h2)
    if method == "ML":
        num, obs = yPPy - sw, 2.0 * yPPPy - sw2
        return num, sw2, obs, sw, newton_step(num, sw2, obs, sw)
    # A·M2 (both symmetric), its trace and tr((A M2)²); <A, M3> for tr P²
    p00 = a00 * m00 + a01 * m10 + a02 * m20
    p01 = a00 * m01 + a01 * m11 + a02 * m21
    p02 = a00 * m02 + a01 * m12 + a02 * m22
    p10 = a01 * m00 + a11 * m10 + a12 * m20
    p11 = a01 * m01 + a11 * m11 + a12 * m21
    p12 = a01 * m02 + a11 * m12 + a12 * m22
    p20 = a02 * m00 + a12 * m10 + a22 * m20
    p21 = a02 * m01 + a12 * m11 + a22 * m21
    p22 = a02 * m02 + a12 * m12 + a22 * m22
    trP = sw - (p00 + p11 + p22)
    am3 = a00 * n00 + a11 * n11 + a22 * n22 + 2.0 * (a01 * n01 + a02 * n02 + a12 * n12)
    sq = p00 * p00 + p11 * p11 + p22 * p22 + 2.0 * (p01 * p10 + p02 * p20 + p12 * p21)
    trPP = sw2 - 2.0 * am3 + sq
    num, obs = yPPy - trP, 2.0 * yPPPy - trPP
    return num, trPP, obs, trP, newton_step(num, trPP, obs, trP)


def _score_info(method, tau2, yi, vi, X, icpt=False):
    num, fisher, _ = _likelihood_parts(method, tau2, yi, vi, X, icpt)
    return num, fisher


def _loglik(method, tau2, yi, vi, X, icpt=False):
    """(Restricted) log-likelihood up to a constant."""
    w = 1.0 / (vi + tau2)
    if icpt:
        sw = float(w @ X[:, 0])
        e = yi - float(w @ yi) / sw
        ll = -0.5 * float(np.log(vi + tau2).sum()) - 0.5 * float(w @ (e * e))
        return ll - 0.5 * math.log(sw) if method == "REML" else ll
    Xw = X * w[:, None]
    A, logdet = spd_inverse(X.T @ Xw)
    e = yi - X @ (A @ (Xw.T @ yi))
    ll = -0.5 * float(np.log(vi + tau2).sum()) - 0.5 * float(w @ (e * e))
    if method == "REML":
        ll -= 0.5 * logdet
    return ll


def _upper_bound(yi, vi):
    return max(100.0, 10.0 * (float(np.var(yi)) + float(vi.max())))


def _brent_fallback(method, yi, vi, X, threshold):
    """Bracketed root of the likelihood score on [0, upper]: the safe fallback."""
    from scipy.optimize import brentq

    def score(t):
        return _score_info(method, t, yi, vi, X)[0]

    if not math.isfinite(score(0.0)):
        raise ConvergenceError(f"{method}: the likelihood score is not finite at tau2 = 0")
    if score(0.0) <= 0:
        return 0.0
    upper = _upper_bound(yi, vi)
    for _ in range(60):
        if score(upper) < 0:
            break
        upper *= 10.0
    else:
        raise ConvergenceError(f"{method}: no root of the likelihood score below tau2={upper:g}")
    return brentq(score, 0.0, upper, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)


def newton_step(num: float, fisher: float, observed: float, b: float) -> float:
    r"""The default step of the (RE)ML iteration, from the parts :meth:`_Moments.parts` returns.

    The score :math:`y^\top P^2 y - b` (b = tr P for REML, :math:`\sum w_i` for ML) is far
    from linear in tau², so plain Newton from the HE start needs 5–8 steps. The same root
    solves :math:`h(\tau^2) = 1 - b / y^\top P^2 y = 0`, and :math:`b / y^\top P^2 y` is
    nearly linear in tau² (with equal sampling variances v it is exactly
    :math:`(v+\tau^2)/s^2_y` times a constant). Newton's step on h, with
    :math:`d\,y^\top P^2 y/d\tau^2 = -2y^\top P^3 y` and :math:`db/d\tau^2 = -` fisher, is

    .. math::
        \Delta = \frac{\text{num}\cdot y^\top P^2 y}
                       {b\cdot\text{observed} - \text{fisher}\cdot\text{num}}

    with num, fisher, observed as :func:`_likelihood_parts` defines them; it saves about two
    iterations. Where h is not decreasing (denominator ≤ 0) or :math:`y^\top P^2 y = 0`
    the plain Newton step (observed information > 0) or metafor's Fisher-scoring step is
    taken instead.
    """
    a = num + b  # y'P²y
    den = b * observed - fisher * num
    if a > 0 and den > 0:
        return num * a / den
    return num / observed if observed > 0 else num / fisher


def icpt_parts(m: list, reml: bool) -> tuple[float, float, float, float, float]:
    r"""``(num, fisher, observed, b, step)`` of the intercept-only REML/ML iteration from
    the moment sums ``m[j-1] = [Σw^j, Σw^j y, Σw^j y²]``, j = 1 … 4 (y centred).

    With :math:`P = W - ww^	op/\sum w`, :math:`e = y - \hat\mu` and :math:`g = \sum w^2 e`:
    :math:`y^	op P^2 y = \sum w^2e^2`, :math:`y^	op P^3 y = \sum w^3e^2 - g^2/\sum w`,
    :math:`y^	op P^4 y = \sum w^4e^2 - 2(g/\sum w)\sum w^3 e + (g/\sum w)^2 \sum w^2`,
    :math:`\operatorname{tr}P^3 = \sum w^3 - 3\sum w^4/\sum w + 3\sum w^2\sum w^3/(\sum w)^2
    - (\sum w^2/\sum w)^3`.

    The step is Halley's on :math:`h = 1 - b/y^	op P^2 y` (see :func:`newton_step`), with
    :math:`a = y^	op P^2 y`, :math:`a' = -2y^	op P^3 y`, :math:`a'' = 6y^	op P^4 y`,
    :math:`b' = -` fisher and :math:`b'' = 2\operatorname{tr}P^3` (REML) or
    :math:`2\sum w^3` (ML): :math:`\Delta = -2hh'/(2h'^2 - hh'')`. Its cubic convergence
    takes the HE start to 1e-10 in about three evaluations instead of five. Where h is not
    decreasing or the denominator is not positive, :func:`newton_step` is taken instead.
    """
    (s1, a1, c1), (s2, a2, c2), (s3, a3, c3), (s4, a4, c4) = m
    mu = a1 / s1
    yPPy = c2 - 2.0 * mu * a2 + mu * mu * s2
    g = a2 - mu * s2
    yPPPy = c3 - 2.0 * mu * a3 + mu * mu * s3 - g * g / s1
    if reml:
        r = s2 / s1
        b = s1 - r
        fisher = s2 - 2.0 * s3 / s1 + r * r
        b2 = 2.0 * (s3 - 3.0 * s4 / s1 + 3.0 * r * s3 / s1 - r * r * r)
    else:
        b, fisher, b2 = s1, s2, 2.0 * s3
    num = yPPy - b
    observed = 2.0 * yPPPy - fisher
    a = yPPy
    if a > 0:
        gs = g / s1
        yP4y = (c4 - 2.0 * mu * a4 + mu * mu * s4) - 2.0 * gs * (a3 - mu * s3) + gs * gs * s2
        a_1, a_2, b_1 = -2.0 * yPPPy, 6.0 * yP4y, -fisher
        q = b_1 * a - b * a_1  # (b'a - ba')
        h = num / a
        h1 = -q / (a * a)
        h2 = -((b2 * a - b * a_2) / (a * a) - 2.0 * a_1 * q / (a * a * a))
        den = 2.0 * h1 * h1 - h * h2
        if h1 < 0 and den > 0:
            return num, fisher, observed, b, -2.0 * h * h1 / den
    return num, fisher, observed, b, newton_step(num, fisher, observed, b)


def _fisher_scoring(method, yi, vi, X, control, icpt=False, mom=None):
    """Solve the ML/REML/EB score equation for tau² ≥ 0.

    Default: Newton's method (on the score equation rewritten as :func:`newton_step` says),
    falling back to metafor's Fisher-scoring step wherever that is not well defined,
    safeguarded by a bracket of the root (bisection when a step leaves it) and by
    step-halving at the boundary; tau² = 0 is taken when the score at 0 is ≤ 0 (the
    Karush-Kuhn-Tucker condition). Started at the HE estimate. With ``metafor_iterations``
    metafor's pure Fisher scoring is replayed step for step instead. If neither converges
    within ``max_iter`` steps, a bracketed Brent
    search on the score takes over and a :class:`ConvergenceWarning` says so.
    """
    threshold = control["threshold"]
    max_iter = control["max_iter"]
    step_adj = control["step_adj"]
    tau2 = control["tau2_init"]
    compat = bool(control["metafor_iterations"])
    newton = not compat and method != "EB" and step_adj == 1.0
    if tau2 is None:
        tau2 = max(0.0, _he(yi, vi, X))
    if mom is None:
        mom = _Moments(yi, vi, X, icpt)
    start = hi_seen = tau2
    n_iter = 0
    converged = False
    lo, hi = 0.0, math.inf  # bracket of the root of the score
    last = (math.nan, math.nan)  # (tau2, Fisher information) of the last evaluation
    while n_iter < max_iter:
        n_iter += 1
        num, fisher, observed, _, step = mom.parts(method, tau2)
        last = (tau2, fisher)
        if newton:
            if num > 0:
                lo = max(lo, tau2)
            elif num < 0:
                hi = min(hi, tau2)
            else:
                converged = True
                break
            adj = step
        else:
            adj = num / fisher * step_adj
        if not math.isfinite(adj):
            break
        if tau2 + adj < 0 and newton and tau2 + num / fisher >= 0:
            # Newton's step jumps out of the parameter space — on likelihoods with two
            # maxima possibly over the interior one: take metafor's Fisher step instead
            adj = num / fisher
        if tau2 + adj < 0 and not compat:
            # boundary: if the score at 0 points down, tau2 = 0 is the (KKT) solution
            at0 = mom.parts(method, 0.0)
            mom.at0 = (method, at0)
            num0, fisher0 = at0[0], at0[1]
            if num0 <= 0:
                last = (0.0, fisher0)
                tau2 = 0.0
                converged = True
                break
        if newton and not (lo <= tau2 + adj <= hi):
            fs = num / fisher  # try metafor's step, then bisection of the bracket
            if lo <= tau2 + fs <= hi:
                adj = fs
            elif math.isfinite(hi):
                adj = 0.5 * (lo + hi) - tau2
        while tau2 + adj < 0:
            adj /= 2.0
        if newton and abs(adj) < threshold * max(1.0, tau2 + adj):
            # the correction is below the threshold: keep the point just evaluated, so that
            # tau² and the Fisher information (SE of tau²) belong to one and the same point
            converged = True
            break
        tau2 += adj
        hi_seen = max(hi_seen, tau2)
        if abs(adj) < threshold * (1.0 if compat else max(1.0, tau2)):
            converged = True
            break
    algorithm = "Fisher scoring" if not newton else "Newton / Fisher scoring"
    if not converged:
        warnings.warn(
            f"{method}: the tau2 iterations did not converge in {max_iter} steps; "
            "fell back to a bracketed Brent search on the likelihood score",
            ConvergenceWarning,
            stacklevel=4,
        )
        tau2 = _brent_fallback(method, yi, vi, X, threshold)
        algorithm = "Brent search on the score (fallback)"
    # metafor's ll0check: a stationary point that is worse than tau2 = 0 is a trap
    ll_tol, t_min = (np.finfo(float).eps ** 0.25, threshold) if compat else (LL0_TOL, 0.0)
    trapped = None
    if method in ("ML", "REML") and tau2 > t_min:
        if mom.loglik(method, 0.0) - mom.loglik(method, tau2) > ll_tol:
            trapped, tau2 = tau2, 0.0
    converged = True
    if method in ("ML", "REML") and tau2 == 0.0 and not compat:
        # the score at 0 is ≤ 0, so tau2 = 0 is a local maximum — but (RE)ML likelihoods can
        # have a second, higher maximum inside (metafor's Fisher scoring from the HE start
        # may end there); look for it and keep whichever maximum is higher
        peak = None
        if not _no_interior_root(method, yi, vi, mom, max(start, hi_seen)):
            t_hint = max(start, hi_seen)
            peak = _interior_maximum(method, yi, vi, X, mom, t_hint, threshold, max_iter)
        if peak is not None:
            t_int, ll_int, it, ok = peak
            n_iter += it
            # the same tie rule as the check above: the interior wins unless clearly lower
            if mom.loglik(method, 0.0) - ll_int <= ll_tol:
                tau2, converged = t_int, ok
                algorithm += " + grid scan for an interior maximum of the likelihood"
                last = (math.nan, math.nan)
    if trapped is not None and tau2 == 0.0:
        warnings.warn(
            f"{method}: the estimate tau2={trapped:.6g} has a lower likelihood than "
            "tau2 = 0 (local maximum); tau2 set to 0",
            ConvergenceWarning,
            stacklevel=4,
        )
    mom.last = last
    return tau2, n_iter, algorithm, converged


#: Relative slack of :func:`score_negative_up_to`: the sums it gets carry rounding errors, and
#: the grid scan it replaces computes the score in floating point too; the bound must hold
#: with this much room so that no grid score it rules out can round to > 0.
_BOUND_SLACK = 1e-6


def score_negative_up_to(
    yPPy0: float,
    Q0: float,
    sw0: float,
    vmin: float,
    p_reml: int,
    vmax: float,
    k: int,
    t0: float = 0.0,
    b0: float = math.nan,
    fisher0: float = math.nan,
) -> float:
    r"""A tau² up to which the (RE)ML score is proved negative, from the sums at tau² = 0
    (or at ``t0``: then ``yPPy0, Q0, sw0`` are those at t0 and the bounds below hold for
    tau² ≥ t0 with tau² − t0 in the first and :math:`v_{min} + t_0` in C).

    With :math:`P(\tau^2)` as in the module docstring and :math:`\Sigma = V + \tau^2 I`,
    :math:`dP/d\tau^2 = -P^2` (P is positive semi-definite), so

    * :math:`Q(\tau^2) = y^\top P y` decreases;
    * :math:`u = y^\top P^2 y` has :math:`u' = -2y^\top P^3 y \le -2u^2/Q(\tau^2) \le -2u^2/Q_0`
      (Cauchy–Schwarz: :math:`(y^\top P^2 y)^2 \le y^\top P y\; y^\top P^3 y`), hence
      :math:`u(\tau^2) \le u_0 Q_0 / (Q_0 + 2\tau^2 u_0)`;
    * :math:`b = \sum w_i` (ML) or :math:`\operatorname{tr}P = \sum w_i(1 - h_{ii})` (REML,
      leverages :math:`\sum h_{ii} = p`) has two lower bounds of the form
      :math:`C/(c+\tau^2)`: :math:`C = v_{min}\sum_i 1/v_i - p'`, :math:`c = v_{min}`
      (p' = p for REML, 0 for ML), because :math:`w_i(\tau^2) \ge (v_{min}/v_i)/(v_{min}+\tau^2)`
      and :math:`w_i \le 1/(v_{min}+\tau^2)`; and :math:`C = k - p'`, :math:`c = v_{max}`,
      because :math:`\operatorname{tr}P = \operatorname{tr}((I-H)\Sigma^{-1})` with the
      rank-(k − p) projection I − H and :math:`\Sigma^{-1} \succeq I/(v_{max}+\tau^2)`.

    The score :math:`u - b` is therefore negative wherever
    :math:`f(\tau^2) = u_0Q_0(c+\tau^2) - C(Q_0 + 2\tau^2u_0) < 0`, which is linear in tau².
    Near t0, where these are loose (one study with a much smaller variance), b itself (tr P
    or Σw at t0, convex and decreasing with derivative −``fisher0``: tr P² or Σw²) gives
    :math:`b \ge b_0 - (\tau^2 - t_0)\,\text{fisher}_0`, and the score is negative while
    :math:`u_0Q_0 < (b_0 - \Delta F)(Q_0 + 2\Delta u_0)`, Δ = tau² − t0, up to the positive
    root of that concave quadratic. That tangent bound is used first (when given), then the
    first bound up to the root of its f (or everywhere when f < 0 at its start and its
    slope is ≤ 0), then the second. Returns the tau² up to which the score is
    proved negative (``inf``: everywhere; 0: nothing proved). The inputs get
    :data:`_BOUND_SLACK` of room against rounding. Used at the boundary tau² = 0 in place of
    the grid scan for an interior maximum, which is needed only beyond the returned bound.
    """
    u = yPPy0 * (1.0 + _BOUND_SLACK)
    q = Q0 * (1.0 + _BOUND_SLACK)
    if not (q > 0.0 and u >= 0.0 and math.isfinite(u * q * (max(vmin, vmax) + t0))):
        return t0
    start = t0
    b = b0 * (1.0 - _BOUND_SLACK)
    F = fisher0 * (1.0 + _BOUND_SLACK)
    if u < b and F > 0.0 and u > 0.0:  # (NaN when not given: skipped)
        c = (b - u) * q
        bq = 2.0 * b * u - F * q
        start += (bq + math.sqrt(bq * bq + 8.0 * F * u * c)) / (4.0 * F * u) * (1.0 - _BOUND_SLACK)
    for c, pole in (((vmin + t0) * sw0 - p_reml, vmin), (k - p_reml, vmax)):
        c *= 1.0 - _BOUND_SLACK
        if not c > 0.0:
            continue
        f = u * q * (pole + start) - c * (q + 2.0 * (start - t0) * u)
        if not f < 0.0:
            continue
        slope = u * q - 2.0 * c * u
        if slope <= 0.0:
            return math.inf
        start += -f / slope
    return start


def _no_interior_root(method: str, yi: np.ndarray, vi: np.ndarray, mom, t_hint: float) -> bool:
    """Whether :func:`score_negative_up_to` proves the score negative over the whole grid of
    :func:`_interior_maximum` (then the scan cannot find a maximum and is skipped)."""
    if mom.at0 is not None and mom.at0[0] == method:
        num0, fisher0, _, b0, _ = mom.at0[1]
    else:
        num0, fisher0, _, b0, _ = mom.parts(method, 0.0)
    Q0, _, sw0 = mom.at_zero()
    p_reml = mom.p if method == "REML" else 0
    vmin, vmax = float(np.minimum.reduce(vi)), float(np.maximum.reduce(vi))
    proved = score_negative_up_to(num0 + b0, Q0, sw0, vmin, p_reml, vmax, mom.k, 0.0, b0, fisher0)
    if proved == math.inf:
        return True
    top = _GRID_TOP_ROOM * interior_grid_top(yi, vi, t_hint)
    for _ in range(_BOUND_RESTARTS):
        if proved > top or proved == 0.0:
            break
        # restart the bound from the sums at the tau² proved so far
        num, fisher, _, b, _ = mom.parts(method, proved)
        Q, _, sw = mom._q_and_trace(proved)
        nxt = score_negative_up_to(num + b, Q, sw, vmin, p_reml, vmax, mom.k, proved, b, fisher)
        if not nxt > proved:
            break
        proved = nxt
    return proved > top


#: Restarts of the bound from the tau² it reached before the grid scan is taken instead
#: (each costs one evaluation of the sums, the scan about four).
_BOUND_RESTARTS = 3


#: The grid's last point equals its top up to the rounding of exp/log.
_GRID_TOP_ROOM = 1.0 + 1e-9


def interior_grid_top(yi: np.ndarray, vi: np.ndarray, t_hint: float) -> float:
    """The largest tau² of :func:`interior_grid` (the same formula)."""
    yrange = float(np.maximum.reduce(yi)) - float(np.minimum.reduce(yi))
    return 4.0 * max(yrange**2, float(np.maximum.reduce(vi)), t_hint)


def interior_grid(yi: np.ndarray, vi: np.ndarray, t_hint: float) -> np.ndarray:
    """The tau² grid of :func:`_interior_maximum`: 8 points per decade, geometric, from
    ``min(v)/100`` to ``4·max(range(y)², max(v), t_hint)``."""
    # ufunc reductions: the ndarray methods add a Python layer each (this runs in every
    # intercept-only fit that ends at tau² = 0)
    lo = 0.01 * float(np.minimum.reduce(vi))
    yrange = float(np.maximum.reduce(yi)) - float(np.minimum.reduce(yi))
    hi = 4.0 * max(yrange**2, float(np.maximum.reduce(vi)), t_hint)
    n = int(math.ceil(8.0 * math.log10(hi / lo))) + 1
    # geometric grid lo … hi (np.geomspace costs more than the whole scan)
    return lo * np.exp(_steps(n) * (math.log(hi / lo) / (n - 1)))


@lru_cache(maxsize=64)
def _steps(n: int) -> np.ndarray:
    steps = np.arange(float(n))
    steps.flags.writeable = False  # shared between calls
    return steps


def _interior_maximum(method, yi, vi, X, mom, t_hint, threshold, max_iter):
    """The highest interior local maximum of the (RE)ML likelihood in tau², if any.

    The score is evaluated (vectorised) on a geometric grid of tau² scaled by the data —
    8 points per decade from ``min(v)/100`` to ``4·max(range(y)², max(v), t_hint)`` —
    and every sign change from + to − (a local maximum) is refined by a safeguarded
    Newton search inside its bracket. Beyond ``range(y)²`` the intercept-only ML score is
    negative (every :math:`w_i e_i^2 < 1`), and below ``min(v)/100`` the likelihood is
    close to a quadratic in tau², which has no second extremum.

    Returns ``(tau2, loglik, n_iter, converged)`` of the highest local maximum, or
    ``None`` when the grid shows none.
    """
    grid = interior_grid(yi, vi, t_hint)
    with np.errstate(all="ignore"):
        score = _grid_scores(mom, method, grid)
    up = score > 0
    if not up.any():
        return None
    starts = np.flatnonzero(up[:-1] & ~up[1:])
    brackets = [(float(grid[j]), float(grid[j + 1])) for j in starts]
    if up[-1]:
        # rising at the top of the grid: extend until the score turns negative
        a, b = float(grid[-1]), 2.0 * float(grid[-1])
        for _ in range(60):
            if mom.parts(method, b)[0] < 0:
                brackets.append((a, b))
                break
            a, b = b, 2.0 * b
    best, n_iter = None, 0
    for a, b in brackets:
        t, it, ok = _bracketed_root(method, mom, a, b, threshold, max_iter)
        n_iter += it
        ll = mom.loglik(method, t)
        if best is None or ll > best[1]:
            best = (t, ll, ok)
    if best is None:
        return None
    return best[0], best[1], n_iter, best[2]


def _grid_scores(mom, method, grid):
    """The (RE)ML score numerator at every tau² of ``grid`` at once, from the moment sums
    of ``mom`` (two matrix products and batched p × p algebra)."""
    w = 1.0 / (mom.vi[None, :] + grid[:, None])
    M1 = w @ mom.F
    M2 = (w * w) @ mom.F
    if mom.icpt:
        s1, a1 = M1[:, 0], M1[:, 1]
        mu = a1 / s1
        yPPy = M2[:, 2] - 2.0 * mu * M2[:, 1] + mu * mu * M2[:, 0]
        return yPPy - (s1 if method == "ML" else s1 - M2[:, 0] / s1)
    p = mom.p
    q = p * p
    XX1 = M1[:, 1 : 1 + q].reshape(-1, p, p)
    XX2 = M2[:, 1 : 1 + q].reshape(-1, p, p)
    A = np.linalg.inv(XX1)
    beta = np.einsum("gij,gj->gi", A, M1[:, 1 + q : 1 + q + p])
    yPPy = (
        M2[:, -1]
        - 2.0 * np.einsum("gi,gi->g", M2[:, 1 + q : 1 + q + p], beta)
        + np.einsum("gi,gij,gj->g", beta, XX2, beta)
    )
    if method == "ML":
        return yPPy - M1[:, 0]
    return yPPy - (M1[:, 0] - np.einsum("gij,gji->g", A, XX2))


def _bracketed_root(method, mom, a, b, threshold, max_iter):
    """Root of the (RE)ML score in ``[a, b]`` (score(a) > 0 > score(b)): Newton's step
    where it stays inside the bracket, otherwise Fisher scoring's, otherwise bisection.

    Returns ``(tau2, n_iter, converged)``.
    """
    t = 0.5 * (a + b)
    for n_iter in range(1, max_iter + 1):
        num, fisher, observed, *_ = mom.parts(method, t)
        if num > 0:
            a = t
        elif num < 0:
            b = t
        else:
            return t, n_iter, True
        new = t + (num / observed if observed > 0 else num / fisher)
        if not (a < new < b):
            new = t + num / fisher
            if not (a < new < b):
                new = 0.5 * (a + b)
        step = new - t
        t = new
        if abs(step) < threshold * max(1.0, t) or b - a < threshold * max(1.0, t):
            return t, n_iter, True
    warnings.warn(
        f"{method}: the search for an interior maximum of the likelihood did not converge "
        f"in {max_iter} steps (bracket [{a:.6g}, {b:.6g}])",
        ConvergenceWarning,
        stacklevel=5,
    )
    return t, max_iter, False


def _q_root(yi, vi, X, control):
    """Solve Q_gen(tau2) = k − p (PM and EB) by safeguarded Newton."""
    k, p = X.shape
    target = k - p
    threshold = control["threshold"]
    max_iter = max(control["max_iter"], 200)

    def f_df(t):
        w = 1.0 / (vi + t)
        _, _, e = weighted_fit(yi, w, X)
        we = w * e
        return float(we @ e) - target, -float(we @ we)

    f0, _ = f_df(0.0)
    if f0 <= 0:
        return 0.0, 1
    lo, hi = 0.0, None
    t = control["tau2_init"] if control["tau2_init"] is not None else 0.0
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        f, d = f_df(t)
        if f > 0:
            lo = max(lo, t)
        else:
            hi = t if hi is None else min(hi, t)
        if f == 0:
            return t, n_iter
        step = -f / d if d != 0 else math.inf
        new = t + step
        if hi is None:
            if not math.isfinite(new) or new <= lo:
                new = 2 * t + 1.0
        elif not (lo < new < hi) or not math.isfinite(new):
            new = 0.5 * (lo + hi)
        if abs(new - t) < threshold * max(1.0, t):
            return new, n_iter
        t = new
    warnings.warn(
        f"Newton search for the Q-equation root did not converge in {max_iter} steps; "
        "fell back to Brent's method",
        ConvergenceWarning,
        stacklevel=4,
    )
    from scipy.optimize import brentq

    upper = _upper_bound(yi, vi)
    while f_df(upper)[0] > 0:
        upper *= 10
    return brentq(lambda s: f_df(s)[0], 0.0, upper, xtol=1e-14), n_iter


def fit_tau2(
    method: str,
    yi: np.ndarray,
    vi: np.ndarray,
    X: np.ndarray,
    control: dict | None = None,
    *,
    intercept_only: bool | None = None,
) -> Tau2Fit:
    """Estimate tau² with ``method`` (one of :data:`TAU2_METHODS`).

    Parameters
    ----------
    method : str
        ``EE`` returns 0. See the module docstring for the formulas.
    yi, vi : ndarray of shape (k,)
        Effect sizes and sampling variances (validated by the caller).
    X : ndarray of shape (k, p)
        Full-rank design matrix including the intercept column.
    intercept_only : bool, optional
        Whether X is the single intercept column (computed when not given).
    control : dict, optional
        ``threshold`` (default 1e-10: iteration stops when the change in tau² is below
        threshold · max(1, tau²)), ``max_iter`` (100), ``step_adj`` (1, Fisher scoring step
        multiplier), ``tau2_init`` (start; default the HE value for ML/REML/EB, 0 for PM,
        var(y)·(k − 1)/k for SJ — whose one step it is).

    Returns
    -------
    Tau2Fit
    """
    if control:
        con = dict(DEFAULT_CONTROL)
        con.update({k: v for k, v in control.items() if v is not None})
    else:
        con = DEFAULT_CONTROL
    k, p = X.shape
    if method == "EE" or k == 1 or k == p:
        return Tau2Fit(0.0, None, True, 0, "fixed at 0" if method == "EE" else "k = p")
    if method in ("DL", "HE", "HS", "SJ"):
        return _closed_form(method, yi, vi, X, con["tau2_init"] if method == "SJ" else None)
    if method in ("PM", "EB"):
        if method == "EB" and con["metafor_iterations"]:
            tau2, n_iter, algorithm, _ = _fisher_scoring("EB", yi, vi, X, con)
        else:
            # EB's fixed point k/(k-p)·Q(tau2) = k is PM's equation Q(tau2) = k - p
            tau2, n_iter = _q_root(yi, vi, X, con)
            algorithm = "safeguarded Newton on Q(tau2) = k - p"
        w = 1.0 / (vi + tau2)
        se = math.sqrt(2.0 * k * k / (k - p)) / float(w.sum())
        return Tau2Fit(tau2, se, True, n_iter, algorithm)
    icpt = intercept_only
    if icpt is None:
        icpt = p == 1 and bool((X[:, 0] == 1.0).all())
    if (
        not icpt
        and _fit_kernel is not None
        and method in ("REML", "ML")
        and con["tau2_init"] is None
        and con["step_adj"] == 1.0
        and not con["metafor_iterations"]
        and type(con["max_iter"]) is int
    ):
        # the same iteration compiled (see _fit_kernel.design); None: a hard case, which the
        # Python code below decides with its warnings; NotImplemented: input it does not read
        fit = _fit_kernel.design(yi, vi, X, method == "REML", con["threshold"], con["max_iter"])
        if fit is not None and fit is not NotImplemented:
            # then the kernel's own Q, tr P and Σw at 0 (its boundary checks; tests compare
            # them with the Python sums); the fit computes Q from its residuals
            tau2, se, n_iter = fit[:3]
            return Tau2Fit(tau2, se, True, n_iter, "Newton / Fisher scoring")
    mom = _Moments(yi, vi, X, icpt)
    tau2, n_iter, algorithm, converged = _fisher_scoring(method, yi, vi, X, con, icpt, mom)
    t_last, fisher = mom.last
    # the information one step before convergence differs by < threshold (relative)
    if not abs(t_last - tau2) <= con["threshold"] * max(1.0, tau2):
        fisher = mom.parts(method, tau2)[1]
    # ML: fisher = Σw²; REML: fisher = tr(P²) — both give SE(tau²) = sqrt(2/fisher)
    se = math.sqrt(2.0 / fisher)
    return Tau2Fit(tau2, se, converged, n_iter, algorithm)
