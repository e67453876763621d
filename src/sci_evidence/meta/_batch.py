"""Many meta-analytic fits at once: the vectorised kernel behind GOSH and permutation tests.

Every fit shares one design matrix ``X`` (k x p) but has its own outcomes, sampling
variances and study mask. All quantities are computed for a whole batch with numpy array
operations (no Python loop over fits), so a batch of a few thousand fits costs about as
much as a handful of single fits. numpy releases the GIL inside these operations, which
lets callers run batches on several threads.

The estimators follow metafor's ``rma.uni`` (3.8-1) exactly:

* EE: tau2 = 0.
* DL: tau2 = max(0, (Q_E - (n - p)) / tr(P_0)), P_0 built with weights 1/v.
* ML / REML: Fisher scoring started at the Hedges (HE) estimate, with step halving that
  keeps tau2 >= 0, until |tau2_new - tau2_old| < ``threshold``.

and so do the derived statistics (Q_E with weights 1/v; I2 = 100 tau2 / (tau2 + s2),
H2 = tau2 / s2 + 1 with s2 = (n - p) / tr(P_0) for random-effects models, the Q-based I2
and H2 = Q / (n - p) for EE; Wald z or Knapp-Hartung t tests; QM of all coefficients but
the intercept, or of the intercept in an intercept-only model).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

try:  # the optional compiled kernels (setup.py builds them when a C compiler is present)
    from . import _gosh_kernel
except ImportError:  # pragma: no cover - machines without a compiler
    _gosh_kernel = None

BATCH_METHODS = ("EE", "DL", "ML", "REML")


@dataclass(frozen=True)
class BatchFits:
    """Results of ``B`` fits; arrays have ``B`` rows (``(B, p)`` for coefficients)."""

    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    tau2: np.ndarray
    Q: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    QM: np.ndarray
    n: np.ndarray
    converged: np.ndarray


def _inv_small(A: np.ndarray) -> np.ndarray:
    """Inverse of a stack of small symmetric matrices (B, p, p); singular ones give NaN."""
    p = A.shape[-1]
    if p == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / A
    if p == 2:
        a, b, c, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 0], A[:, 1, 1]
        det = a * d - b * c
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.empty_like(A)
            inv[:, 0, 0] = d / det
            inv[:, 0, 1] = -b / det
            inv[:, 1, 0] = -c / det
            inv[:, 1, 1] = a / det
        bad = ~(np.abs(det) > 1e-12 * np.abs(a * d))
        inv[bad] = np.nan
        return inv
    out = np.full_like(A, np.nan)
    cond = np.linalg.cond(A)
    ok = np.isfinite(cond) & (cond < 1e12)
    if ok.any():
        out[ok] = np.linalg.inv(A[ok])
    return out


def _xtwx(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X' diag(w_b) X for every row b of ``w`` (B, k) -> (B, p, p)."""
    # one two-operand product per entry of the symmetric result (an unoptimised
    # three-operand einsum here cost more than half of a permutation refit). Not a BLAS
    # matmul: its rounding can depend on the batch's size and memory alignment, and a fit
    # must give the same bits in any chunk (seeded runs, Dask).
    p = X.shape[1]
    out = np.empty((w.shape[0], p, p))
    for i in range(p):
        for j in range(i + 1):
            out[:, i, j] = np.einsum("bk,k->b", w, X[:, i] * X[:, j])
            out[:, j, i] = out[:, i, j]
    return out


def _xtwy(X: np.ndarray, w: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _sum_k(w * y, X)


def _sum_k(a: np.ndarray, F: np.ndarray) -> np.ndarray:
    """sum_k a[b, k] F[k, j] for (B, k) and (k, m), in study order for every row."""
    out = np.empty((a.shape[0], F.shape[1]))
    for j in range(F.shape[1]):
        out[:, j] = np.einsum("bk,k->b", a, F[:, j])
    return out


def _wls(X, w, y):
    """Weighted least squares for every row: returns (A^-1, beta, residuals)."""
    Ainv = _inv_small(_xtwx(X, w))
    beta = _matvec(Ainv, _xtwy(X, w, y))
    resid = y - _fitted(beta, X)
    return Ainv, beta, resid


def _trace_prod(Ainv: np.ndarray, B: np.ndarray) -> np.ndarray:
    """tr(Ainv @ B) for stacks of p x p matrices."""
    return (Ainv * B.transpose(0, 2, 1)).sum(axis=(1, 2))


def _matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A_b x_b for stacks (B, p, p) and (B, p)."""
    return (A * x[:, None, :]).sum(axis=2)


def _fitted(beta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """X beta_b for every row (B, k), summed in column order (no BLAS: same bits in any
    batch)."""
    out = beta[:, :1] * X[None, :, 0]
    for j in range(1, X.shape[1]):
        out += beta[:, j : j + 1] * X[None, :, j]
    return out


def _quad(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    """x_b' A_b x_b for stacks (B, p) and (B, p, p)."""
    return (_matvec(A, x) * x).sum(axis=1)


def fit_batch(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    *,
    method: str,
    test: str = "z",
    mask: np.ndarray | None = None,
    threshold: float = 1e-10,
    maxiter: int = 1000,
    engine: str = "auto",
) -> BatchFits:
    """Fit ``B`` meta-analytic models at once.

    Parameters
    ----------
    y, v : ndarray of shape (B, k) or (k,)
        Outcomes and sampling variances; a 1-D array is shared by all fits.
    X : ndarray of shape (k, p)
        The design matrix shared by all fits (intercept column included).
    method : {"EE", "DL", "ML", "REML"}
    test : {"z", "knha", "adhoc", "t"}
        ``"t"`` has the z test's statistics (only its reference distribution differs) and
        reports QM as F = QM / m, as metafor.
    mask : ndarray of bool, shape (B, k), optional
        Which studies each fit holds (default: all).
    threshold, maxiter
        Fisher scoring stops when tau2 changes by less than ``threshold``.
    engine : {"auto", "compiled", "numpy"}
        ML/REML tau2 of models with p <= 2 columns: per-row Fisher scoring in the compiled
        kernel (``"auto"``: when built) or the vectorised numpy iteration. Same algorithm;
        the two agree to rounding (the iteration stops at ``threshold``).
    """
    X = np.asarray(X, dtype=float)
    k, p = X.shape
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    B = max(y.shape[0], v.shape[0], 1 if mask is None else mask.shape[0])
    y_rows, v_rows = y, v  # (1, k) when shared by every fit: no copies in the iteration
    y = np.broadcast_to(y, (B, k))
    v = np.broadcast_to(v, (B, k))
    m = np.ones((B, k)) if mask is None else np.asarray(mask, dtype=float)
    n = m.sum(axis=1)
    df = n - p

    # Equal-effect fit: Q_E and the pieces of tr(P_0) that DL, I2 and H2 need.
    w0 = m / v
    A0inv, beta0, e0 = _wls(X, w0, y)
    # With n <= p studies the fit is exact; rounding must not leave a tiny positive Q.
    Q = np.where(df > 0, np.einsum("bk,bk->b", w0, e0 * e0), 0.0)
    trP0 = w0.sum(axis=1) - _trace_prod(A0inv, _xtwx(X, w0 * w0))

    converged = np.ones(B, dtype=bool)
    if method == "EE":
        tau2 = np.zeros(B)
    elif method == "DL":
        with np.errstate(divide="ignore", invalid="ignore"):
            tau2 = np.where(df > 0, np.maximum(0.0, (Q - df) / trP0), 0.0)
    elif method in ("ML", "REML"):
        if _compiled_fisher(engine, X):
            tau2 = np.empty(B)
            conv8 = np.empty(B, dtype=np.uint8)
            _gosh_kernel.fisher_rows(
                np.ascontiguousarray(y_rows), np.ascontiguousarray(v_rows),
                np.ascontiguousarray(X), np.ascontiguousarray(m), X.shape[1],
                int(method == "REML"), threshold, maxiter, tau2, conv8,
            )  # fmt: skip
            converged = conv8.astype(bool)
        else:
            tau2, converged = _fisher_scoring(y_rows, v_rows, X, m, df, method, threshold, maxiter)
    else:
        raise ValueError(f"method must be one of {BATCH_METHODS}, not {method!r}")

    w = m / (v + tau2[:, None])
    Ainv, beta, e = _wls(X, w, y)
    vb = Ainv
    if test in ("knha", "adhoc"):
        with np.errstate(divide="ignore", invalid="ignore"):
            s2w = np.einsum("bk,bk->b", w, e * e) / df
        if test == "adhoc":
            s2w = np.maximum(1.0, s2w)
        vb = Ainv * s2w[:, None, None]
    se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    QM = _qm(beta, vb, X, test)

    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "EE":
            I2 = np.where((Q > df) & (df > 0), 100.0 * (Q - df) / Q, 0.0)
            H2 = np.where(df > 0, Q / df, 1.0)
        else:
            s2 = df / trP0
            I2 = np.where(tau2 > 0, 100.0 * tau2 / (tau2 + s2), 0.0)
            H2 = np.where(tau2 > 0, tau2 / s2 + 1.0, 1.0)
    return BatchFits(beta, se, stat, tau2, Q, I2, H2, QM, n, converged)


def _compiled_fisher(engine: str, X: np.ndarray) -> bool:
    if engine not in ("auto", "compiled", "numpy"):
        raise ValueError(f"engine must be auto, compiled or numpy, not {engine!r}")
    fits = _gosh_kernel is not None and X.shape[1] <= 2 and X.shape[0] <= 64
    if engine == "compiled" and not fits:
        raise ValueError("the compiled Fisher scoring needs the built kernel, p <= 2, k <= 64")
    return engine != "numpy" and fits


def _qm(beta: np.ndarray, vb: np.ndarray, X: np.ndarray, test: str) -> np.ndarray:
    """Omnibus Wald statistic of the moderators (F = QM / m under Knapp-Hartung)."""
    p = beta.shape[1]
    has_intercept = bool(np.all(X[:, 0] == 1.0))
    btt = np.arange(1, p) if (has_intercept and p > 1) else np.arange(p)
    b = beta[:, btt]
    V = vb[:, btt][:, :, btt]
    QM = _quad(b, _inv_small(V))
    if test in ("knha", "adhoc", "t"):
        QM = QM / len(btt)
    return QM


def _rows(a: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Rows ``j`` of ``a``, or ``a`` itself when it is one row shared by every fit."""
    return a if a.shape[0] == 1 else a[j]


def _fisher_scoring(y, v, X, m, df, method, threshold, maxiter):
    """(RE)ML tau2 of every row. ``y`` and ``v`` are (B, k) or (1, k) (shared by all rows).

    Fits that have converged drop out of the working set, which is compacted whenever less
    than half of it is still iterating (so a few slow fits do not cost full-size passes).
    """
    B, k = m.shape
    # Hedges (HE) starting value, as metafor: (RSS_OLS - tr(P_ols V)) / (n - p).
    Ainv_ols, _, e_ols = _wls(X, m, y)
    rss = (m * e_ols * e_ols).sum(axis=1)
    mv = m * v
    tr_pv = mv.sum(axis=1) - _trace_prod(Ainv_ols, _xtwx(X, mv))
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(df > 0, np.maximum(0.0, (rss - tr_pv) / df), 0.0)
    intercept_only = X.shape[1] == 1 and bool(np.all(X[:, 0] == 1.0))
    converged = np.ones(B, dtype=bool)
    work = np.flatnonzero(df > 0)  # rows (global indices) still in the working set
    Yw, Vw, Mw, tw = _rows(y, work), _rows(v, work), m[work], tau2[work]
    live = np.ones(work.size, dtype=bool)
    for _ in range(maxiter):
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live < 0.5 * live.size:
            tau2[work[~live]] = tw[~live]
            keep = np.flatnonzero(live)
            work, Mw, tw = work[keep], Mw[keep], tw[keep]
            Yw, Vw = _rows(Yw, keep), _rows(Vw, keep)
            live = np.ones(keep.size, dtype=bool)
        score, info, ypPPPy = _score_terms(Yw, Vw, X, Mw, tw, method, intercept_only)
        adj = _step(score, info, ypPPPy)
        # a Newton step out of the parameter space: take metafor's Fisher step instead (on
        # likelihoods with two maxima the Newton step can jump over the interior one)
        with np.errstate(divide="ignore", invalid="ignore"):
            fisher = score / info
        adj = np.where((tw + adj < 0) & (tw + fisher >= 0), fisher, adj)
        adj = np.where(live & ~((tw == 0) & (adj < 0)), adj, 0.0)
        neg = tw + adj < 0
        at_zero = np.zeros(tw.size, dtype=bool)
        if neg.any():
            # The step leaves the parameter space. When the score at tau2 = 0 is not
            # positive the maximum is on the boundary: stop there (metafor's step halving
            # creeps towards 0 at a rate of 1/2 per iteration and would end near it).
            j = np.flatnonzero(neg)
            s0, _, _ = _score_terms(
                _rows(Yw, j), _rows(Vw, j), X, Mw[j], np.zeros(j.size), method, intercept_only
            )
            at_zero[j[s0 <= 0]] = True
            neg &= ~at_zero
            # otherwise halve the step as metafor does, jumping straight to the count
            with np.errstate(divide="ignore", invalid="ignore"):
                halvings = np.ceil(np.log2(-adj / tw))
            halvings = np.clip(np.nan_to_num(halvings, posinf=1100.0), 0, 1100).astype(np.int64)
            adj = np.where(neg, np.ldexp(adj, -halvings), adj)
            neg = tw + adj < 0
            while neg.any():
                adj = np.where(neg, adj / 2.0, adj)
                neg = tw + adj < 0
        new = np.where(at_zero, 0.0, tw + adj)
        done = live & ((np.abs(new - tw) <= threshold) | at_zero)
        tw = np.where(live, new, tw)
        live &= ~done
    tau2[work] = tw
    converged[work[live]] = False
    # metafor's ll0check: an interior estimate with a clearly lower (RE)ML log-likelihood
    # than tau2 = 0 is a local maximum; tau2 is then set to 0
    pos = np.flatnonzero((tau2 > _LL0_THRESHOLD) & converged)
    if pos.size:
        ll_hat = _loglik(_rows(y, pos), _rows(v, pos), X, m[pos], tau2[pos], method)
        ll_0 = _loglik(_rows(y, pos), _rows(v, pos), X, m[pos], np.zeros(pos.size), method)
        tau2[pos[ll_0 - ll_hat > _LL0_TOL]] = 0.0
    return tau2, converged


#: metafor's ``ll0check`` settings (control ``tol`` = eps^0.25 and ``threshold`` = 1e-5)
_LL0_TOL = float(np.finfo(float).eps ** 0.25)
_LL0_THRESHOLD = 1e-5


def _loglik(y, v, X, m, t, method):
    """(RE)ML log-likelihood of each row at tau2 = t, up to a constant common to t."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = m / (v + t[:, None])
        A = _xtwx(X, w)
        beta = _matvec(_inv_small(A), _xtwy(X, w, y))
        e = np.broadcast_to(y, w.shape) - _fitted(beta, X)
        ll = -0.5 * np.einsum("bk,bk->b", m, np.log(np.broadcast_to(v, w.shape) + t[:, None]))
        ll -= 0.5 * np.einsum("bk,bk->b", w * e, e)
        if method == "REML":
            ll -= 0.5 * np.linalg.slogdet(A)[1]
    return ll


def _step(score, info, ypPPPy):
    """Fisher scoring step score / info, replaced by a Newton step where that is safe.

    metafor iterates Fisher scoring alone; near some solutions it converges only linearly
    (hundreds of steps to a threshold of 1e-10). The observed information of the (RE)ML
    score, 2 y'PPPy - tr(PP) (ML: 2 y'PPPy - sum(w^2)), gives quadratic convergence to
    the same root. It is used when positive and when its step is at most 4 times the
    Fisher step; otherwise the Fisher step is taken.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fisher = score / info
        observed = 2.0 * ypPPPy - info
        newton = score / observed
    ok = (observed > 0) & np.isfinite(newton) & (np.abs(newton) <= 4.0 * np.abs(fisher))
    adj = np.where(ok, newton, fisher)
    return np.where(np.isfinite(adj), adj, 0.0)


def _score_terms(y, v, X, m, t, method, intercept_only):
    """(RE)ML score of tau2, its expected information and y'PPPy, for each row.

    Score (times 2): y'PPy - tr(P) for REML, y'PPy - sum(w) for ML; information: tr(PP)
    for REML, sum(w^2) for ML; with P = W - W X (X'WX)^-1 X'W and W = diag(m / (v + tau2)).
    """
    w = m / (v + t[:, None])
    if intercept_only:
        # einsum sums products without materialising them (fewer passes over memory)
        yb = np.broadcast_to(y, w.shape)
        sw = w.sum(axis=1)
        e = yb - (np.einsum("bk,bk->b", w, yb) / sw)[:, None]
        r = w * e  # P y
        ypPy = np.einsum("bk,bk->b", r, r)
        ypPPPy = np.einsum("bk,bk,bk->b", w, r, r) - np.einsum("bk,bk->b", w, r) ** 2 / sw
        sw2 = np.einsum("bk,bk->b", w, w)
        if method == "ML":
            return ypPy - sw, sw2, ypPPPy
        trP = sw - sw2 / sw
        trPP = sw2 - 2.0 * np.einsum("bk,bk,bk->b", w, w, w) / sw + (sw2 / sw) ** 2
        return ypPy - trP, trPP, ypPPPy
    w2 = w * w
    Ainv, _, e = _wls(X, w, y)
    r = w * e  # P y
    ypPy = np.einsum("bk,bk->b", r, r)
    wr = w * r
    Xr = _sum_k(wr, X)
    ypPPPy = np.einsum("bk,bk->b", wr, r) - _quad(Xr, Ainv)
    if method == "ML":
        return ypPy - w.sum(axis=1), w2.sum(axis=1), ypPPPy
    G2 = _xtwx(X, w2)
    trP = w.sum(axis=1) - _trace_prod(Ainv, G2)
    AG2 = (Ainv[:, :, :, None] * G2[:, None, :, :]).sum(axis=2)
    trPP = w2.sum(axis=1) - 2.0 * _trace_prod(Ainv, _xtwx(X, w2 * w)) + _trace_prod(AG2, AG2)
    return ypPy - trP, trPP, ypPPPy


def run_chunks(
    tasks: list[Callable[[], int]],
    n_jobs: int,
    progress: Callable[[int, int], None] | None = None,
    total: int = 0,
) -> None:
    """Run ``tasks`` (each returns how many items it did) on ``n_jobs`` threads.

    ``progress(done, total)`` is called from the calling thread after each task. On
    KeyboardInterrupt the pending tasks are cancelled before the interrupt propagates, so
    Ctrl-C stops a long run within about one task per thread.
    """
    done_items = 0
    if n_jobs == 1 or len(tasks) == 1:
        for t in tasks:
            done_items += t()
            if progress is not None:
                progress(done_items, total)
        return
    pool = ThreadPoolExecutor(max_workers=n_jobs)
    try:
        pending = set()
        it = iter(tasks)
        # At most 2 tasks per thread in flight: bounded memory, quick cancellation.
        for t in it:
            pending.add(pool.submit(t))
            if len(pending) >= 2 * n_jobs:
                break
        while pending:
            finished, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for f in finished:
                done_items += f.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(pool.submit(nxt))
            if finished and progress is not None:
                progress(done_items, total)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
