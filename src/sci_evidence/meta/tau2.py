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
  :math:`1/(v_i+\tau_0^2)` and :math:`\tau_0^2 = \operatorname{var}(y)(k-1)/k`.

The iterative ones solve an estimating equation:

* ``ML``: :math:`y^\top P^2 y = \sum w_i`; ``REML``: :math:`y^\top P^2 y = \operatorname{tr}P`
  (Fisher scoring started at the HE value, with step-halving to stay ≥ 0; if it fails, a
  bracketed Brent search on the score — see :func:`fit_tau2`).
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

import numpy as np

from sci_evidence.errors import ConvergenceError, ConvergenceWarning

__all__ = ["TAU2_METHODS", "Tau2Fit", "fit_tau2", "weighted_fit", "q_generalised"]

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


@dataclass(frozen=True)
class Tau2Fit:
    """An estimate of tau² and how it was obtained."""

    tau2: float
    se_tau2: float | None
    converged: bool
    n_iter: int
    algorithm: str


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
    A = np.linalg.inv(X.T @ Xw)
    beta = A @ (Xw.T @ yi)
    return beta, A, yi - X @ beta


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
    if p == 1 and np.all(X[:, 0] == 1.0):
        e = yi - yi.mean()
        rss = float(e @ e)
        trPV = float(vi.sum()) - float(vi.sum()) / k
    else:
        Q, _ = np.linalg.qr(X)
        e = yi - Q @ (Q.T @ yi)
        rss = float(e @ e)
        trPV = float(vi.sum()) - float(np.sum((Q * Q) * vi[:, None]))
    return (rss - trPV) / (k - p)


def _se_he(tau2, vi, X):
    k, p = X.shape
    Po = np.eye(k) - X @ np.linalg.pinv(X)
    PV = Po * vi[None, :]
    t = max(tau2, 0.0)
    val = 2 * np.sum(PV * PV.T) + 4 * t * np.trace(PV) + 2 * t * t * (k - p)
    return math.sqrt(val) / (k - p)


def _closed_form(method, yi, vi, X):
    k, p = X.shape
    if method == "HE":
        tau2 = max(0.0, _he(yi, vi, X))
        return Tau2Fit(tau2, _se_he(tau2, vi, X), True, 0, "closed form")
    if method == "SJ":
        tau0 = float(np.var(yi))  # var(y)·(k−1)/k, as metafor's default start
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


def _score_info(method, tau2, yi, vi, X):
    """Score-like numerator and Fisher information of the ML/REML/EB update (metafor's)."""
    w = 1.0 / (vi + tau2)
    _, A, e = weighted_fit(yi, w, X)
    we = w * e
    if method == "EB":
        k, p = X.shape
        return float(we @ e) * k / (k - p) - k, float(w.sum())
    yPPy = float(we @ we)
    if method == "ML":
        return yPPy - float(w.sum()), float(w @ w)
    trP, trPP = _traces(w, X, A)
    return yPPy - trP, trPP


def _loglik(method, tau2, yi, vi, X):
    """(Restricted) log-likelihood up to a constant."""
    w = 1.0 / (vi + tau2)
    _, A, e = weighted_fit(yi, w, X)
    ll = -0.5 * float(np.sum(np.log(vi + tau2))) - 0.5 * float(w @ (e * e))
    if method == "REML":
        ll -= 0.5 * float(np.linalg.slogdet(np.linalg.inv(A))[1])
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


def _fisher_scoring(method, yi, vi, X, control):
    """metafor's Fisher scoring (start at HE, step-halving), with a Brent fallback."""
    threshold = control["threshold"]
    max_iter = control["max_iter"]
    step_adj = control["step_adj"]
    tau2 = control["tau2_init"]
    compat = bool(control["metafor_iterations"])
    if tau2 is None:
        tau2 = max(0.0, _he(yi, vi, X))
    n_iter = 0
    converged = False
    while n_iter < max_iter:
        n_iter += 1
        num, info = _score_info(method, tau2, yi, vi, X)
        adj = num / info * step_adj
        if not math.isfinite(adj):
            break
        if tau2 + adj < 0 and not compat:
            # boundary: if the score at 0 points down, tau2 = 0 is the (KKT) solution
            if _score_info(method, 0.0, yi, vi, X)[0] <= 0:
                tau2 = 0.0
                converged = True
                break
        while tau2 + adj < 0:
            adj /= 2.0
        tau2 += adj
        if abs(adj) < threshold * (1.0 if compat else max(1.0, tau2)):
            converged = True
            break
    algorithm = "Fisher scoring"
    if not converged:
        warnings.warn(
            f"{method}: Fisher scoring did not converge in {max_iter} iterations; "
            "fell back to a bracketed Brent search on the likelihood score",
            ConvergenceWarning,
            stacklevel=4,
        )
        tau2 = _brent_fallback(method, yi, vi, X, threshold)
        algorithm = "Brent search on the score (fallback)"
    # metafor's ll0check: a stationary point that is worse than tau2 = 0 is a trap
    ll_tol, t_min = (np.finfo(float).eps ** 0.25, threshold) if compat else (1e-8, 0.0)
    if method in ("ML", "REML") and tau2 > t_min:
        if _loglik(method, 0.0, yi, vi, X) - _loglik(method, tau2, yi, vi, X) > ll_tol:
            warnings.warn(
                f"{method}: the estimate tau2={tau2:.6g} has a lower likelihood than "
                "tau2 = 0 (local maximum); tau2 set to 0",
                ConvergenceWarning,
                stacklevel=4,
            )
            tau2 = 0.0
    return tau2, n_iter, algorithm


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
    method: str, yi: np.ndarray, vi: np.ndarray, X: np.ndarray, control: dict | None = None
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
    control : dict, optional
        ``threshold`` (default 1e-10: iteration stops when the change in tau² is below
        threshold · max(1, tau²)), ``max_iter`` (100), ``step_adj`` (1, Fisher scoring step
        multiplier), ``tau2_init`` (start; default the HE value for ML/REML/EB, 0 for PM).

    Returns
    -------
    Tau2Fit
    """
    con = dict(DEFAULT_CONTROL)
    if control:
        con.update({k: v for k, v in control.items() if v is not None})
    k, p = X.shape
    if method == "EE" or k == 1 or k == p:
        return Tau2Fit(0.0, None, True, 0, "fixed at 0" if method == "EE" else "k = p")
    if method in ("DL", "HE", "HS", "SJ"):
        return _closed_form(method, yi, vi, X)
    if method in ("PM", "EB"):
        if method == "EB":
            tau2, n_iter, algorithm = _fisher_scoring("EB", yi, vi, X, con)
        else:
            tau2, n_iter = _q_root(yi, vi, X, con)
            algorithm = "safeguarded Newton on Q(tau2) = k - p"
        w = 1.0 / (vi + tau2)
        se = math.sqrt(2.0 * k * k / (k - p)) / float(w.sum())
        return Tau2Fit(tau2, se, True, n_iter, algorithm)
    tau2, n_iter, algorithm = _fisher_scoring(method, yi, vi, X, con)
    w = 1.0 / (vi + tau2)
    if method == "ML":
        se = math.sqrt(2.0 / float(w @ w))
    else:
        _, A, _ = weighted_fit(yi, w, X)
        se = math.sqrt(2.0 / _traces(w, X, A)[1])
    return Tau2Fit(tau2, se, True, n_iter, algorithm)
