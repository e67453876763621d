"""Numerical engine of :func:`sci_evidence.meta.glmm.pool_glmm` (private).

* the binomial and Poisson families (log-likelihood of a row and its first three
  derivatives in the linear predictor);
* :func:`fit_glmm` — maximum likelihood for a GLMM with one scalar normal random effect per
  group, ``eta_r = x_r'beta + offset_r + z_r * tau * u_g(r)``, ``u_g ~ N(0, 1)``, the
  marginal likelihood of each group computed by adaptive Gauss-Hermite quadrature centred
  at the conditional mode and scaled by the curvature there (the rule of lme4's ``glmer``
  with ``nAGQ`` nodes; ``nAGQ = 1`` is the Laplace approximation). The gradient of the
  quadrature approximation is exact (the dependence of the mode and of the scale on the
  parameters enters by implicit differentiation, which needs the third derivative of the
  log-likelihood); the Hessian is the forward difference of that gradient. The maximiser is
  a damped Newton iteration on ``(beta, tau)``; the likelihood is even in ``tau``, so the
  iteration runs over the real line and ``|tau|`` is reported — a maximum at ``tau = 0``
  needs no bound.

R's ``glm.fit`` (the equal-effects and saturated GLMs) is in :mod:`._glmm_irls`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln


# --------------------------------------------------------------------------- families
class Family:
    """Log-likelihood of one row and its first three derivatives in eta.

    ``derivs(eta, order)`` returns ``(ll, d1, d2, d3)`` for order 3, ``(ll, d1, d2)`` for 2,
    ``(None, d1, d2)`` for 12 (the mode iteration) and ``(ll, d1)`` for 1 (the quadrature
    nodes)."""

    name = ""

    def __init__(self, y: np.ndarray, n: np.ndarray | None):
        self.y = np.asarray(y, dtype=float)
        self.n = None if n is None else np.asarray(n, dtype=float)

    def derivs(self, eta: np.ndarray, order: int = 3):
        raise NotImplementedError


class Binomial(Family):
    name = "binomial"

    def __init__(self, y, n):
        super().__init__(y, n)
        self.const = gammaln(self.n + 1) - gammaln(self.y + 1) - gammaln(self.n - self.y + 1)
        self.neg_n = -self.n  # d2 = -n v: the negation once, not per call (the same bits)
        self._cols = (self.y[:, None], self.n[:, None], self.const[:, None])  # quadrature axis

    def derivs(self, eta, order=3, nodes=False):
        """``nodes``: the last axis of ``eta`` holds quadrature nodes, the one before rows."""
        y, n, c = self._cols if nodes else (self.y, self.n, self.const)
        if order == 12:  # the mode iteration: small arrays, one call is cheapest
            p, ll = expit(eta), None
        elif eta.max() <= 700.0:  # False for NaN too
            # exp and log1p are vectorised in numpy (~1 ns per value) where expit and
            # logaddexp are not (10-40 ns): on the B x G x nAGQ node arrays that is most of
            # an evaluation. exp(eta) cannot overflow below 710
            ex = np.exp(eta)
            p = ex / (1.0 + ex)
            ll = y * eta - n * np.log1p(ex) + c
        else:
            p = expit(eta)
            ll = y * eta - n * np.logaddexp(0.0, eta) + c
        d1 = y - n * p
        if order == 1:
            return ll, d1
        v = p * (1.0 - p)
        d2 = (-n if nodes else self.neg_n) * v
        if order in (2, 12):
            return ll, d1, d2
        d3 = d2 * (1.0 - 2.0 * p)
        return ll, d1, d2, d3

    def saturated_loglik(self):
        y, n = self.y, self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(n > 0, y / np.where(n > 0, n, 1), 0.0)
            t1 = np.where(y > 0, y * np.log(np.where(p > 0, p, 1)), 0.0)
            t2 = np.where(n - y > 0, (n - y) * np.log(np.where(p < 1, 1 - p, 1)), 0.0)
        return t1 + t2 + self.const


class Poisson(Family):
    name = "poisson"

    def __init__(self, y, n=None):
        super().__init__(y, None)
        self.const = -gammaln(self.y + 1)

    def derivs(self, eta, order=3, nodes=False):
        y = self.y[:, None] if nodes else self.y
        c = self.const[:, None] if nodes else self.const
        mu = np.exp(eta)
        ll = None if order == 12 else y * eta - mu + c
        if order == 1:
            return ll, y - mu
        if order in (2, 12):
            return ll, y - mu, -mu
        return ll, y - mu, -mu, -mu

    def saturated_loglik(self):
        y = self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)) - y, 0.0)
        return t + self.const


def make_family(name: str, y, n=None) -> Family:
    return Binomial(y, n) if name == "binomial" else Poisson(y)


# --------------------------------------------------------------------------- GLMM by AGQ
@functools.lru_cache(maxsize=32)
def _gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for the weight exp(-x^2) (cached: they depend on n only)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@dataclass
class GlmmProblem:
    family: Family
    X: np.ndarray  # rows x P
    offset: np.ndarray  # rows
    z: np.ndarray  # random-effect loading per row
    group: np.ndarray  # group index per row (0..G-1)
    n_groups: int
    nodes: np.ndarray
    log_weights: np.ndarray

    def __post_init__(self):
        # One row per group (group = 0..G-1) with loading 1 (PLO, IRLN, CM.AL): the group
        # sums are identities and the row <-> group indexing is a no-op, so the hot paths
        # skip them (bit-for-bit the same numbers: multiplying by 1 is exact).
        self.node_const = self.nodes * self.nodes + self.log_weights
        R = len(self.group)
        self.simple = bool(
            R == self.n_groups
            and np.array_equal(self.group, np.arange(R))
            and np.all(self.z == 1.0)
        )
        m = R // self.n_groups if self.n_groups else 0
        self.consecutive = bool(
            m * self.n_groups == R
            and np.array_equal(self.group, np.repeat(np.arange(self.n_groups), m))
        )

    @classmethod
    def build(cls, family, X, offset, z, group, n_groups, nAGQ):
        x, w = _gauss_hermite(int(nAGQ))
        return cls(
            family,
            np.asarray(X, float),
            np.asarray(offset, float),
            np.asarray(z, float),
            np.asarray(group, int),
            int(n_groups),
            x,
            np.log(w),
        )

    def gsum(self, v: np.ndarray, axis: int = 0) -> np.ndarray:
        """Sum of row values within each group along ``axis`` (the row axis). The designs of
        pool_glmm have 1 or 2 consecutive rows per group: a reshape, not a bincount."""
        G = self.n_groups
        R = len(self.group)
        axis = axis % v.ndim
        if R == G:
            return v
        m = R // G
        if self.consecutive:
            return v.reshape(v.shape[:axis] + (G, m) + v.shape[axis + 1 :]).sum(axis=axis + 1)
        vm = np.moveaxis(v, axis, 0)
        out = np.zeros((G,) + vm.shape[1:])
        np.add.at(out, self.group, vm)
        return np.moveaxis(out, 0, axis)


def _modes(prob: GlmmProblem, eta0: np.ndarray, tau: np.ndarray, u: np.ndarray):
    """Conditional modes of the standardised random effects by Newton (h is concave), for a
    batch: ``eta0`` (B, R), ``tau`` (B,), ``u`` (B, G)."""
    z, g = prob.z, prob.group
    if prob.simple:
        return _modes_simple(prob.family, eta0, tau[:, None], u)
    zt = z * tau[:, None]  # B x R
    ok = False
    bracket = None  # safeguarded Newton after _PLAIN_NEWTON steps, as in _modes_simple
    for it in range(_MODE_ITERATIONS):
        eta = eta0 + zt * u[:, g]
        _, d1, d2 = prob.family.derivs(eta, 12)  # 12: first and second derivatives only
        grad = prob.gsum(zt * d1, -1) - u
        curv = 1.0 - prob.gsum(zt * zt * d2, -1)
        new = u + grad / curv
        if it >= _PLAIN_NEWTON:
            bracket, new = _safeguard(bracket, u, grad, new)
        step = new - u
        u = new
        if np.abs(step).max() < 1e-10:  # u is standardised (O(1)); quadratic convergence
            ok = True
            break
    return u, ok


def _modes_simple(family: Family, eta0: np.ndarray, tb: np.ndarray, u: np.ndarray):
    """:func:`_modes` for one row per group with loading 1 (the same arithmetic)."""
    ok = False
    tt = tb * tb
    bracket = None
    for it in range(_MODE_ITERATIONS):
        _, d1, d2 = family.derivs(eta0 + tb * u, 12)
        grad = tb * d1 - u
        new = u + grad / (1.0 - tt * d2)
        if it >= _PLAIN_NEWTON:
            bracket, new = _safeguard(bracket, u, grad, new)
        step = new - u
        u = new
        if np.abs(step).max() < 1e-10:
            ok = True
            break
    return u, ok


#: Plain Newton converges in a handful of steps; on a steep, flat-tailed h (8 of 10 events at
#: tau ~ 1.7) it can oscillate for ever. After this many steps each further Newton step is
#: kept inside the bracket of the mode that the points seen since give (bisection otherwise).
_PLAIN_NEWTON = 30
_MODE_ITERATIONS = 300


def _safeguard(bracket, u: np.ndarray, grad: np.ndarray, new: np.ndarray):
    """h is concave, so its derivative ``grad`` falls with ``u``: a point with ``grad > 0``
    lies left of the mode, one with ``grad < 0`` right of it. Update the bracket ``(lo,
    hi)`` with ``u`` and replace a Newton point ``new`` outside it by the mid-point."""
    if bracket is None:
        bracket = (np.full(np.shape(u), -np.inf), np.full(np.shape(u), np.inf))
    lo, hi = bracket
    lo = np.where(grad > 0, np.maximum(lo, u), lo)
    hi = np.where(grad < 0, np.minimum(hi, u), hi)
    out = ((new <= lo) | (new >= hi)) & np.isfinite(lo) & np.isfinite(hi)
    if out.any():  # (the mid-point only where both ends are finite)
        new = np.where(out, 0.5 * (np.where(out, lo, 0.0) + np.where(out, hi, 0.0)), new)
    return (lo, hi), new


_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def loglik_and_grad_batch(
    prob: GlmmProblem, params: np.ndarray, u_start: np.ndarray, *, per_group: bool = False
):
    """AGQ marginal log-likelihood, its exact gradient in ``(beta, tau)`` and the modes, for
    a batch of parameter vectors ``params`` (B x (P+1)) with starting modes (B x G).

    Returns ``(loglik (B,), grad (B, P+1) or (B, G, P+1) with per_group, modes (B, G),
    converged, conditional log-likelihood per group (B, G))``.
    """
    if prob.simple and not per_group:
        return _loglik_and_grad_simple(prob, params, u_start)
    P = prob.X.shape[1]
    beta, tau = params[:, :P], params[:, P]
    z, g = prob.z, prob.group
    gs = prob.gsum
    eta0 = beta @ prob.X.T + prob.offset  # B x R
    u_hat, ok = _modes(prob, eta0, tau, np.array(u_start, dtype=float))
    tb = tau[:, None]
    zt = z * tb  # B x R
    eta_hat = eta0 + zt * u_hat[:, g]
    ll_hat, d1h, d2h, d3h = prob.family.derivs(eta_hat, 3)
    S2 = gs(z * z * d2h, -1)  # B x G
    c = 1.0 - tb * tb * S2
    s = 1.0 / np.sqrt(c)
    xq = prob.nodes
    uq = u_hat[..., None] + _SQRT2 * s[..., None] * xq  # B x G x Q
    uqr = uq[:, g, :]  # B x R x Q
    etaq = eta0[..., None] + zt[..., None] * uqr
    llq, d1q = prob.family.derivs(etaq, 1, nodes=True)
    Hq = gs(llq, -2) - 0.5 * uq * uq + prob.node_const  # B x G x Q
    m = Hq.max(axis=-1)
    ex = np.exp(Hq - m[..., None])
    tot = ex.sum(axis=-1)
    pi = ex / tot[..., None]
    logL = m + np.log(tot) + np.log(_SQRT2 * s) - _LOG_SQRT_2PI  # B x G
    # partial derivatives at fixed (u_hat, s)
    pig = pi[:, g, :]  # B x R x Q
    pd1 = pig * d1q
    a = pd1.sum(axis=-1)  # B x R
    b = (pd1 * uqr).sum(axis=-1)
    T_tau = gs(z * b, -1)
    hq = tb[..., None] * gs(z[:, None] * d1q, -2) - uq  # B x G x Q : h'(u_q)
    pih = pi * hq
    T_u = pih.sum(axis=-1)
    T_s = (pih * xq).sum(axis=-1) * _SQRT2 + 1.0 / s
    # implicit derivatives of the mode and of the scale
    c15 = c**-1.5
    D = T_s * 0.5 * c15 * tb * tb
    E = gs(z**3 * d3h, -1)
    coef_u = (T_u + D * tb * E) * tb / c
    w_row = a + D[:, g] * (z * z) * d3h + coef_u[:, g] * z * d2h  # B x R
    G_tau = gs(z * d1h, -1) + tb * u_hat * S2
    du_dtau = G_tau / c
    g_tau = T_tau + T_u * du_dtau + D * E * (u_hat + tb * du_dtau) + T_s * c15 * tb * S2
    if per_group:
        grad = np.concatenate([gs(w_row[..., None] * prob.X, -2), g_tau[..., None]], axis=-1)
    else:
        # X'w as an elementwise sum, not a BLAS product: BLAS sums in an order that depends
        # on the batch size, and a point's gradient must not depend on its batch (its
        # forward-difference Hessian takes differences of 1e-7)
        grad = np.concatenate([_xtw(w_row, prob.X), g_tau.sum(axis=-1, keepdims=True)], axis=-1)
    return logL.sum(axis=-1), grad, u_hat, ok, gs(ll_hat, -1)


def _xtw(w_row: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``w_row @ X`` (B x P) summed by numpy row by row, the same for every batch size."""
    return (w_row[..., None] * X).sum(axis=-2)


def _loglik_and_grad_simple(prob: GlmmProblem, params: np.ndarray, u_start: np.ndarray):
    """:func:`loglik_and_grad_batch` for one row per group with loading 1: the same
    arithmetic in the same order, without the identity group sums and index gathers."""
    P = prob.X.shape[1]
    beta, tau = params[:, :P], params[:, P]
    fam = prob.family
    eta0 = beta @ prob.X.T + prob.offset  # B x G
    tb = tau[:, None]
    u_hat, ok = _modes_simple(fam, eta0, tb, np.array(u_start, dtype=float))
    eta_hat = eta0 + tb * u_hat
    ll_hat, d1h, d2h, d3h = fam.derivs(eta_hat, 3)
    tt = tb * tb
    c = 1.0 - tt * d2h
    s = 1.0 / np.sqrt(c)
    xq = prob.nodes
    uq = u_hat[..., None] + _SQRT2 * s[..., None] * xq  # B x G x Q
    tq = tb[..., None]
    etaq = eta0[..., None] + tq * uq
    llq, d1q = fam.derivs(etaq, 1, nodes=True)
    Hq = llq - 0.5 * uq * uq + prob.node_const
    m = Hq.max(axis=-1)
    ex = np.exp(Hq - m[..., None])
    tot = ex.sum(axis=-1)
    pi = ex / tot[..., None]
    logL = m + np.log(tot) + np.log(_SQRT2 * s) - _LOG_SQRT_2PI
    pd1 = pi * d1q
    a = pd1.sum(axis=-1)
    T_tau = (pd1 * uq).sum(axis=-1)
    pih = pi * (tq * d1q - uq)
    T_u = pih.sum(axis=-1)
    T_s = (pih * xq).sum(axis=-1) * _SQRT2 + 1.0 / s
    c15 = c**-1.5
    D = T_s * 0.5 * c15 * tb * tb
    coef_u = (T_u + D * tb * d3h) * tb / c
    w_row = a + D * d3h + coef_u * d2h
    du_dtau = (d1h + tb * u_hat * d2h) / c
    g_tau = T_tau + T_u * du_dtau + D * d3h * (u_hat + tb * du_dtau) + T_s * c15 * tb * d2h
    grad = np.concatenate([_xtw(w_row, prob.X), g_tau.sum(axis=-1, keepdims=True)], axis=-1)
    return logL.sum(axis=-1), grad, u_hat, ok, ll_hat


def loglik_and_grad(
    prob: GlmmProblem, params: np.ndarray, u_start: np.ndarray, *, per_group: bool = False
):
    """One parameter vector: ``(loglik, gradient, modes, converged, conditional ll per
    group)``; see :func:`loglik_and_grad_batch`."""
    ll, grad, u, ok, cond = loglik_and_grad_batch(
        prob,
        np.asarray(params, float)[None, :],
        np.asarray(u_start, float)[None, :],
        per_group=per_group,
    )
    return float(ll[0]), grad[0], u[0], ok, cond[0]


@dataclass
class GlmmFit:
    beta: np.ndarray
    tau: float
    loglik: float  # AGQ marginal log-likelihood
    hessian: np.ndarray  # of the log-likelihood in (beta, tau)
    vcov_beta: np.ndarray
    u_hat: np.ndarray
    cond_loglik: float  # sum of the rows' log-likelihoods at the conditional modes
    converged: bool
    n_iter: int
    grad_norm: float
    messages: list


def _local_columns(prob: GlmmProblem) -> np.ndarray:
    """Columns that are non-zero within one group only (e.g. study intercepts)."""
    nz = prob.X != 0
    out = np.full(prob.X.shape[1], -1)
    for j in range(prob.X.shape[1]):
        gs = np.unique(prob.group[nz[:, j]])
        if len(gs) == 1:
            out[j] = gs[0]
    return out


def hessian(
    prob: GlmmProblem,
    params: np.ndarray,
    u: np.ndarray,
    local: np.ndarray,
    grad0: np.ndarray | None = None,
    *,
    forward: bool = False,
    mode_slopes: bool = False,
):
    """Central differences of the exact gradient (forward differences from ``grad0`` when
    given: cheaper, accurate enough to steer Newton), all perturbed points in one batched
    evaluation. Columns local to one group (one per group at most, e.g. study intercepts)
    are perturbed together: each group's gradient sees only its own.

    ``mode_slopes`` (forward differences with the base point in the batch): the result gains
    ``dU`` and ``dC`` (npar x G), the forward differences in each parameter of the
    conditional modes and of the groups' conditional log-likelihoods (free: the perturbed
    points' values are computed anyway), with which fit_glmm moves them along a step."""
    npar = len(params)
    if forward and grad0 is None and not (local >= 0).any():
        # fit_glmm's call (forward differences, base point in the batch, no local columns):
        # the general code below with its bookkeeping done once, the same numbers
        h = 1e-7 * np.maximum(1.0, np.abs(params))
        batch = np.empty((npar + 1, npar))
        batch[0] = params
        batch[1:] = params + np.diag(h)
        out = loglik_and_grad_batch(prob, batch, np.repeat(u[None, :], npar + 1, axis=0))
        grads = out[1]
        H = ((grads[1:] - grads[0][None]) / h[:, None]).T
        H = 0.5 * (H + H.T)
        res = (float(out[0][0]), grads[0], out[2][0], out[3], H, out[4][0])
        if mode_slopes:
            modes, cond = out[2], out[4]
            hc = h[:, None]
            return res + ((modes[1:] - modes[0][None]) / hc, (cond[1:] - cond[0][None]) / hc)
        return res
    loc = np.where(local >= 0)[0]
    loc_set = set(loc.tolist())
    shared = [j for j in range(npar) if j not in loc_set]
    use_loc = len(loc) > 0
    if use_loc and len(np.unique(local[loc])) != len(loc):  # pragma: no cover
        shared, use_loc = list(range(npar)), False
    fwd = forward or grad0 is not None
    h = (1e-7 if fwd else 1e-5) * np.maximum(1.0, np.abs(params))
    hl = (1e-7 if fwd else 1e-5) * max(1.0, float(np.max(np.abs(params[loc])))) if use_loc else 0.0
    steps = []
    for j in shared:
        e = np.zeros(npar)
        e[j] = h[j]
        steps.append(e)
    if use_loc:
        e = np.zeros(npar)
        e[loc] = hl
        steps.append(e)
    steps = np.array(steps)
    base = forward and grad0 is None  # the base point joins the batch (forward differences)
    signs = (1.0,) if fwd else (1.0, -1.0)
    batch = np.concatenate(
        ([params[None, :]] if base else []) + [params + sg * steps for sg in signs]
    )
    ub = np.repeat(u[None, :], len(batch), axis=0)
    out = loglik_and_grad_batch(prob, batch, ub, per_group=use_loc)
    grads = out[1]
    if base:
        grad0 = grads[0]
        grads = grads[1:]
    ns = len(steps)
    if fwd:
        diff = grads - (grad0[None] if not use_loc else grad0)
        denom = 1.0
    else:
        diff = grads[:ns] - grads[ns:]
        denom = 2.0
    H = np.zeros((npar, npar))
    for i, j in enumerate(shared):
        col = diff[i].sum(axis=0) if use_loc else diff[i]
        H[:, j] = col / (denom * h[j])
    if use_loc:
        dG = diff[ns - 1] / (denom * hl)  # G x npar
        for j in loc:
            H[:, j] = dG[local[j]]
    H = 0.5 * (H + H.T)
    if base:  # (loglik, gradient, modes, converged) at params, and the Hessian
        g_tot = grad0.sum(axis=0) if use_loc else grad0
        res = (float(out[0][0]), g_tot, out[2][0], out[3], H, out[4][0])
        if mode_slopes:
            # a group's mode (and conditional log-likelihood) moves with the shared columns
            # and with its own local column only
            hs = np.append(h[shared], hl)[:, None] if use_loc else h[shared][:, None]
            slopes = []
            for v in (out[2], out[4]):
                dv = (v[1:] - v[0][None]) / hs
                dV = np.zeros((npar, len(u)))
                dV[shared] = dv[: len(shared)]
                if use_loc:
                    dV[loc, local[loc]] = dv[-1][local[loc]]
                slopes.append(dV)
            return res + tuple(slopes)
        return res
    return H


def _solve_pd(A: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    """``A^-1 g`` for a symmetric ``A``, or ``None`` when ``A`` is not positive definite (its
    Cholesky factorisation fails). 2 x 2 (``(beta, tau)`` of PLO, IRLN, CM.AL without
    moderators) in closed form: numpy.linalg's per-call overhead is most of a solve this
    small; ``a > 0`` and ``det > 0`` are exactly the conditions for the Cholesky factor."""
    if A.shape[0] == 2:
        a, b, d = float(A[0, 0]), float(A[0, 1]), float(A[1, 1])
        det = a * d - b * b
        if not (a > 0 and det > 0):  # also False for NaN
            return None
        g0, g1 = float(g[0]), float(g[1])
        return np.array([(d * g0 - b * g1) / det, (a * g1 - b * g0) / det])
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(L.T, np.linalg.solve(L, g))


def fit_glmm(
    prob: GlmmProblem,
    beta0: np.ndarray,
    tau0: float = 0.5,
    *,
    maxiter: int = 200,
    tol: float = 1e-10,
) -> GlmmFit:
    """Damped Newton maximisation of the AGQ log-likelihood over ``(beta, tau)``."""
    P = prob.X.shape[1]
    params = np.append(np.asarray(beta0, float), tau0)
    u = np.zeros(prob.n_groups)
    messages: list[str] = []
    local = _local_columns(prob)
    shared = np.append(local < 0, True)  # parameters not local to one group (tau is last)
    has_local = bool(not shared.all())
    ll, grad, u, ok, Hf, cond, dU, dC = hessian(
        prob, params, u, local, forward=True, mode_slopes=True
    )
    converged = False
    lam = 0.0
    it = 0
    prev = None  # the last accepted step
    for it in range(1, maxiter + 1):  # noqa: B007 - the count is reported
        A = -Hf
        if lam == 0.0:
            # the Newton step from here is below 1e-6: take it without evaluating the point
            # it leads to (quadratic convergence leaves an error ~1e-12 after it). The
            # log-likelihood moves by g's/2 (exact for the local quadratic), the modes and
            # the conditional log-likelihoods along their slopes (error O(|step|^2)); the
            # Hessian from here is within O(|step|) of the one at the maximum
            newton = _solve_pd(A, grad)
            if newton is not None and np.abs(newton).max() < 1e-6 * (1 + np.abs(params).max()):
                params = params + newton
                ll = ll + 0.5 * float(grad @ newton)
                u = u + newton @ dU
                cond = cond + newton @ dC
                converged = True
                break
        else:
            newton = None
        # Levenberg-Marquardt damping when -H is not positive definite or the step fails;
        # the trial point is evaluated together with its forward-difference Hessian
        for _ in range(60):
            if newton is not None:  # the undamped step, solved above
                step, newton = newton, None
                if has_local and prev is not None:
                    # a group's own effect running off to infinity (no or only events in
                    # one arm of a saturated model) takes Newton steps of about 1 in the
                    # same direction, each gaining ~1/e of the last: four times that step
                    # gains e^-4 instead (the trial must still improve the log-likelihood)
                    run = ~shared & (np.abs(step) > 0.5) & (np.abs(prev) > 0.5) & (step * prev > 0)
                    if run.any():
                        step = np.where(run, 4.0 * step, step)
            else:
                Ad = A + lam * np.diag(np.maximum(np.abs(np.diag(A)), 1e-8)) if lam > 0 else A
                step = _solve_pd(Ad, grad)
                if step is None:
                    lam = max(1e-6, lam * 10)
                    continue
            trial = params + step
            # the modes at the trial point, predicted to first order (error O(|step|^2)),
            # start the mode iteration there: one or two Newton steps fewer per evaluation
            u0 = u + step @ dU
            ll_t, grad_t, u_t, ok_t, H_t, cond_t, dU_t, dC_t = hessian(
                prob, trial, u0, local, forward=True, mode_slopes=True
            )
            if np.isfinite(ll_t) and ll_t >= ll - 1e-12 * (1 + abs(ll)):
                break
            lam = max(1e-6, lam * 10)
        else:
            messages.append("Newton iteration could not improve the log-likelihood")
            break
        lam = lam / 10 if lam > 1e-6 else 0.0
        dll = ll_t - ll
        prev = step
        params, ll, grad, u, Hf, ok, cond = trial, ll_t, grad_t, u_t, H_t, ok_t, cond_t
        dU, dC = dU_t, dC_t
        if np.abs(step).max() < 1e-5 * (1 + np.abs(params).max()):
            # after a Newton step below 1e-5 the error left is ~1e-10; the forward-difference
            # Hessian at this point (relative error ~1e-7) serves the covariance
            converged = True
            break
        if abs(dll) < 1e-14 * (1 + abs(ll)) and np.abs(grad).max() < 1e-6:
            converged = True
            break
        if (
            has_local
            and abs(dll) < 1e-10 * (1 + abs(ll))
            and np.abs(grad).max() < 1e-6
            and np.abs(step[shared]).max() < 1e-5 * (1 + np.abs(params).max())
        ):
            # a group's own effect running off to infinity (no or only events in one arm of
            # a saturated model): no finite maximum in that direction, each Newton step
            # gains a constant fraction (~1/e) of the last, so what is left to gain is below
            # the last gain, 1e-10 relative; the shared parameters have converged
            converged = True
            break
    H = Hf
    if not ok:
        messages.append("conditional modes did not converge")
    gnorm = float(np.max(np.abs(grad)))
    if not converged:
        messages.append(
            f"no convergence after {it} Newton iterations (max |gradient| = {gnorm:.3g})"
        )
    try:
        V = np.linalg.inv(-H)
        vb = V[:P, :P]
        if np.any(np.diag(vb) < 0):
            messages.append("the Hessian of the log-likelihood is not negative definite")
    except np.linalg.LinAlgError:
        vb = np.full((P, P), np.nan)
        messages.append("the Hessian of the log-likelihood is singular")
    return GlmmFit(
        beta=params[:P].copy(),
        tau=abs(float(params[P])),
        loglik=ll,
        hessian=H,
        vcov_beta=vb,
        u_hat=u,
        cond_loglik=float(cond.sum()),
        converged=converged,
        n_iter=it,
        grad_norm=gnorm,
        messages=messages,
    )


@dataclass
class ModelFit:
    """One fitted GLMM (or its equal-effects/saturated parts), as glmm.py assembles it."""

    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    ll_FE: float
    ll_QE: float | None
    QE_Wld: float | None
    ll_ML: float | None  # metafor's logLik of the ML fit
    ll_marginal: float | None
    parms: int
    k_eff: int
    converged: bool
    n_iter: int
    algorithm: str
    messages: list
    sigma2: float | None = None
