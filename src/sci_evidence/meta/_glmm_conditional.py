"""The conditional (CM.EL, odds ratios) and random-study-intercept (UM.RS) GLMMs (private).

CM.EL: given the margins of study i's 2x2 table, ``a_i`` is Fisher's non-central
hypergeometric with odds ratio ``psi_i = exp(theta_i)``::

    P(a; psi) = C(n1, a) C(n2, m - a) psi^a / sum_u C(n1, u) C(n2, m - u) psi^u,
    m = a + c,  u = max(0, m - n2) .. min(n1, m).

Its log-likelihood in ``eta = log psi`` has derivatives ``a - E[U]``, ``-Var[U]`` and minus
the third central moment, so the same adaptive quadrature engine integrates over
``theta_i ~ N(x_i'beta, tau^2)`` (metafor integrates with R's ``integrate``, relative
tolerance about 1.2e-4, and optimises with ``nlminb`` over ``log tau^2``, which cannot reach
``tau^2 = 0``; our quadrature is exact to far below that tolerance).

UM.RS: two independent normal random effects per study (intercept ``sigma v_i`` and
treatment effect ``tau u_i`` with loading ``+-1/2``), marginal likelihood by the Laplace
approximation (what lme4 does for this model), maximised by Newton steps on central
differences.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from sci_evidence.meta._glmm_engine import GlmmProblem, ModelFit, fit_glmm, make_family
from sci_evidence.meta._glmm_irls import glm_fit

_CLAMP = 12 * math.log(10)  # metafor caps |log OR| at log(1e12) when evaluating the density


class NoncentralHypergeometric:
    """Per-row Fisher non-central hypergeometric log-likelihood in ``eta = log OR``."""

    name = "nchg"

    def __init__(self, a, n1, n2, m):
        a, n1, n2, m = (np.asarray(v, float) for v in (a, n1, n2, m))
        lo = np.maximum(0, m - n2)
        hi = np.minimum(n1, m)
        S = int(np.max(hi - lo)) + 1
        u = lo[:, None] + np.arange(S)[None, :]
        valid = u <= hi[:, None]
        uu = np.where(valid, u, lo[:, None])
        lw = (
            gammaln(n1 + 1)[:, None]
            - gammaln(uu + 1)
            - gammaln(n1[:, None] - uu + 1)
            + gammaln(n2 + 1)[:, None]
            - gammaln(m[:, None] - uu + 1)
            - gammaln(n2[:, None] - m[:, None] + uu + 1)
        )
        self.lw = np.where(valid, lw, -np.inf)
        self.u = np.where(valid, u, 0.0)
        self.a = a
        self.lw_a = np.take_along_axis(self.lw, (a - lo).astype(int)[:, None], axis=1)[:, 0]
        self.lo, self.hi = lo, hi

    def derivs(self, eta, order=3, nodes=False):
        """``nodes``: the last axis of ``eta`` holds quadrature nodes, the one before rows."""
        e = eta[..., None]  # (..., R[, Q], 1) against the support axis
        lw = self.lw[:, None, :] if nodes else self.lw
        u = self.u[:, None, :] if nodes else self.u
        t = lw + u * e
        mx = np.max(t, axis=-1, keepdims=True)
        ex = np.exp(t - mx)
        tot = ex.sum(axis=-1, keepdims=True)
        pr = ex / tot
        logZ = (mx + np.log(tot))[..., 0]
        a = self.a[:, None] if nodes else self.a
        lwa = self.lw_a[:, None] if nodes else self.lw_a
        ll = lwa + a * eta - logZ
        mean = np.sum(pr * u, axis=-1)
        if order == 1:
            return ll, a - mean
        dev = u - mean[..., None]
        var = np.sum(pr * dev * dev, axis=-1)
        if order in (2, 12):
            return ll, a - mean, -var
        k3 = np.sum(pr * dev**3, axis=-1)
        return ll, a - mean, -var, -k3


def _newton_fixed(fam, X, offset, beta0, maxiter=100):
    """Conditional maximum likelihood with tau = 0 (Newton; the log-likelihood is concave)."""
    beta = np.asarray(beta0, float).copy()
    ll_old = -np.inf
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007 - the count is reported
        eta = np.clip(X @ beta + offset, -_CLAMP, _CLAMP)
        ll, d1, d2 = fam.derivs(eta, 2)
        g = X.T @ d1
        H = (X.T * d2) @ X
        step = np.linalg.solve(-H, g)
        beta = beta + step
        if (
            np.max(np.abs(step)) < 1e-12 * (1 + np.max(np.abs(beta)))
            or abs(ll.sum() - ll_old) < 1e-15
        ):
            break
        ll_old = ll.sum()
    eta = np.clip(X @ beta + offset, -_CLAMP, _CLAMP)
    ll, d1, d2 = fam.derivs(eta, 2)
    H = (X.T * d2) @ X
    return beta, float(ll.sum()), np.linalg.inv(-H), it


def _saturated_cm_el(fam, X, beta_fe):
    """Each study its own log OR: the supremum of every study's likelihood and the Wald
    test that the study effects lie in span(X) (``min_b sum I_i (theta_i - x_i'b)^2`` with
    the information at each study's own maximum)."""
    lo, hi, a = fam.lo, fam.hi, fam.a
    edge = (a == lo) | (a == hi)
    theta = np.zeros(len(a))
    for _ in range(200):
        _, d1, d2 = fam.derivs(np.clip(theta, -_CLAMP, _CLAMP), 2)
        step = np.where(edge, 0.0, d1 / np.maximum(-d2, 1e-300))
        theta = theta + np.clip(step, -5, 5)
        if np.max(np.abs(step)) < 1e-13:
            break
    theta_eval = np.where(edge, np.where(a == hi, _CLAMP, -_CLAMP), theta)
    ll_i, _, d2 = fam.derivs(theta_eval, 2)
    ll_sat = float(ll_i.sum())
    # metafor drops the parameters whose Hessian is exactly zero: the studies whose own
    # estimate sits at the clamp (a at the edge of its support) leave the Wald test
    inner = ~edge
    wld = None
    if inner.sum() > X.shape[1] and np.linalg.matrix_rank(X[inner]) == X.shape[1]:
        W = -d2[inner]
        Xi, th = X[inner], theta[inner]
        b = np.linalg.solve((Xi.T * W) @ Xi, Xi.T @ (W * th))
        r = th - Xi @ b
        wld = float(np.sum(W * r * r))
    return ll_sat, wld


def fit_cm_el(d, X, method, nAGQ):

    k, p = X.shape
    fam = NoncentralHypergeometric(d["ai"], d["n1i"], d["n2i"], d["ai"] + d["ci"])
    # start from the approximate conditional (binomial) GLM, as a good guess
    start = glm_fit("binomial", X, d["ai"], d["ai"] + d["ci"], np.log(d["n1i"] / d["n2i"]))
    beta_fe, ll_fe, vb_fe, it_fe = _newton_fixed(fam, X, np.zeros(k), np.nan_to_num(start.coef))
    ll_QE, wld = _saturated_cm_el(fam, X, beta_fe) if k > 1 else (None, None)
    messages = []
    if method == "EE":
        f = ModelFit(
            beta=beta_fe,
            vb=vb_fe,
            tau2=0.0,
            ll_FE=ll_fe,
            ll_QE=ll_QE,
            QE_Wld=wld,
            ll_ML=ll_fe,
            ll_marginal=ll_fe,
            parms=p,
            k_eff=k,
            converged=True,
            n_iter=it_fe,
            algorithm="Newton (conditional likelihood)",
            messages=messages,
        )
    else:
        prob = GlmmProblem.build(fam, X, np.zeros(k), np.ones(k), np.arange(k), k, nAGQ)
        g = fit_glmm(prob, beta_fe, 0.5)
        messages += g.messages
        f = ModelFit(
            beta=g.beta,
            vb=g.vcov_beta,
            tau2=g.tau**2,
            ll_FE=ll_fe,
            ll_QE=ll_QE,
            QE_Wld=wld,
            ll_ML=g.loglik,
            ll_marginal=g.loglik,
            parms=p + 1,
            k_eff=k,
            converged=g.converged,
            n_iter=g.n_iter,
            algorithm=f"Newton on the AGQ log-likelihood (nAGQ = {nAGQ})",
            messages=messages,
        )
    return f


# --------------------------------------------------------------------------- UM.RS
def _laplace2(fam, X, offset, z, group, k, beta, sigma, tau, u0):
    """Laplace log-likelihood with two independent random effects per group."""
    eta0 = X @ beta + offset
    u = u0.copy()  # k x 2 (intercept, treatment)
    L = np.array([sigma, tau])
    Zr = np.column_stack([np.ones_like(z), z])  # rows x 2
    for _ in range(100):
        eta = eta0 + (Zr * L) @ np.zeros(2) + sigma * u[group, 0] + tau * z * u[group, 1]
        _, d1, d2 = fam.derivs(eta, 2)
        ZL = Zr * L
        g = (
            np.stack([np.bincount(group, weights=ZL[:, j] * d1, minlength=k) for j in range(2)], 1)
            - u
        )
        H = np.empty((k, 2, 2))
        for a in range(2):
            for b in range(2):
                H[:, a, b] = -np.bincount(group, weights=ZL[:, a] * ZL[:, b] * d2, minlength=k)
        H[:, 0, 0] += 1
        H[:, 1, 1] += 1
        step = np.linalg.solve(H, g[..., None])[..., 0]
        u = u + step
        if np.max(np.abs(step)) < 1e-13 * (1 + np.max(np.abs(u))):
            break
    eta = eta0 + sigma * u[group, 0] + tau * z * u[group, 1]
    ll, d1, d2 = fam.derivs(eta, 2)
    ZL = Zr * L
    H = np.empty((k, 2, 2))
    for a in range(2):
        for b in range(2):
            H[:, a, b] = -np.bincount(group, weights=ZL[:, a] * ZL[:, b] * d2, minlength=k)
    H[:, 0, 0] += 1
    H[:, 1, 1] += 1
    logdet = np.log(np.linalg.det(H))
    val = float(ll.sum() - 0.5 * np.sum(u * u) - 0.5 * logdet.sum())
    return val, u


def _laplace2_batch(fam, X, offset, z, k, beta, sigma, tau, u0):
    """:func:`_laplace2` for a batch of parameter vectors at once (``beta`` B x P, ``sigma``
    and ``tau`` (B,), ``u0`` B x k x 2), for the two-row-per-study design of UM.RS (rows
    2i and 2i + 1 belong to study i): group sums are reshapes and each study's 2 x 2
    Newton system is solved in closed form. Returns ``(loglik (B,), modes B x k x 2)``."""
    B = beta.shape[0]
    eta0 = beta @ X.T + offset  # B x R
    s = sigma[:, None]
    a1 = tau[:, None] * z  # B x R: loading of the treatment effect
    u = np.array(u0, dtype=float)

    def gsum(v):
        return v.reshape(B, k, 2).sum(axis=-1)

    def system(u):
        eta = eta0 + s * np.repeat(u[:, :, 0], 2, axis=1) + a1 * np.repeat(u[:, :, 1], 2, axis=1)
        ll, d1, d2 = fam.derivs(eta, 2)
        h00 = 1.0 - gsum(s * s * d2)
        h01 = -gsum(s * a1 * d2)
        h11 = 1.0 - gsum(a1 * a1 * d2)
        return ll, d1, h00, h01, h11

    for _ in range(100):
        _, d1, h00, h01, h11 = system(u)
        g0 = gsum(s * d1) - u[:, :, 0]
        g1 = gsum(a1 * d1) - u[:, :, 1]
        det = h00 * h11 - h01 * h01
        step = np.stack([(h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det], axis=-1)
        u = u + step
        if np.abs(step).max() < 1e-13 * (1 + np.abs(u).max()):
            break
    ll, _, h00, h01, h11 = system(u)
    logdet = np.log(h00 * h11 - h01 * h01)
    val = ll.sum(axis=-1) - 0.5 * (u * u).sum(axis=(1, 2)) - 0.5 * logdet.sum(axis=-1)
    return val, u


def _vcov_rx(fam, X, offset, z, group, k, beta, sigma, tau, u):
    """Covariance of beta with the variances held fixed: the inverse of the Schur complement
    X'WX - sum_g B_g A_g^-1 B_g' of lme4's penalised system at the conditional modes."""
    eta = X @ beta + offset + sigma * u[group, 0] + tau * z * u[group, 1]
    w = -fam.derivs(eta, 2)[2]
    ZL = np.column_stack([np.full_like(z, sigma), tau * z])
    M = (X.T * w) @ X
    for g in range(k):
        r = group == g
        A = np.eye(2) + (ZL[r].T * w[r]) @ ZL[r]
        B = (X[r].T * w[r]) @ ZL[r]
        M -= B @ np.linalg.solve(A, B.T)
    return np.linalg.inv(M)


def fit_um_rs(des, k, p, method):
    """UM.RS: EE = one random study intercept (AGQ engine); ML = two random effects (Laplace)."""

    fam = make_family(des.family, des.y, des.n)
    Xfit = des.X[:, :p]
    const = np.ones((len(des.y), 1))
    Xr = np.column_stack([Xfit, const])
    start = glm_fit(des.family, Xr, des.y, des.n, des.offset)
    b0 = np.nan_to_num(start.coef)
    ones = np.ones(len(des.y))
    # equal effects: random intercepts only (nAGQ 7 as metafor passes it on; with
    # method="ML" metafor sets nAGQ = 1 for the whole model, including these fits)
    nq = 7 if method == "EE" else 1
    prob = GlmmProblem.build(fam, Xr, des.offset, ones, des.group, k, nq)
    fe = fit_glmm(prob, b0, 0.5)
    messages = list(fe.messages)
    # saturated model: every study its own effect, random intercepts
    study_g1 = np.eye(k)[des.group] * np.tile([1.0, 0.0], k)[:, None]
    Xq = np.column_stack([Xfit, const, study_g1])
    from sci_evidence.meta._glmm_irls import _pivoted_qr_rank

    kept = _pivoted_qr_rank(Xq)
    Xq = Xq[:, kept]
    probq = GlmmProblem.build(fam, Xq, des.offset, ones, des.group, k, nq)
    sat = fit_glmm(probq, np.append(fe.beta, np.zeros(Xq.shape[1] - len(fe.beta))), fe.tau)
    b2 = sat.beta[p + 1 :]
    V2 = sat.vcov_beta[p + 1 :, p + 1 :]
    try:
        wld = float(b2 @ np.linalg.solve(V2, b2)) if len(b2) else 0.0
    except np.linalg.LinAlgError:
        wld = None
    # lme4's logLik: relative to the saturated rows for nAGQ > 1, absolute for Laplace
    shift = float(np.sum(fam.saturated_loglik())) if nq > 1 else 0.0
    ll_QE = sat.loglik - shift
    ll_FE = fe.loglik - shift
    if method == "EE":
        return ModelFit(
            beta=fe.beta[:p],
            vb=fe.vcov_beta[:p, :p],
            tau2=0.0,
            ll_FE=ll_FE,
            ll_QE=ll_QE,
            QE_Wld=wld,
            ll_ML=ll_FE,
            ll_marginal=fe.loglik,
            parms=p + 2,
            k_eff=2 * k,
            converged=fe.converged,
            n_iter=fe.n_iter,
            algorithm="Newton on the AGQ log-likelihood (nAGQ = 7)",
            messages=messages,
            sigma2=fe.tau**2,
        )
    # ML: parameters (beta, c, sigma, tau), Newton with central differences; all the
    # difference points of one iteration are evaluated in one batched Laplace call
    P = p + 1
    params = np.concatenate([fe.beta, [fe.tau, 0.5]])
    u = np.zeros((k, 2))
    paired = np.array_equal(des.group, np.repeat(np.arange(k), 2))

    def f_batch(pars, u0):
        if not paired:  # pragma: no cover - pool_glmm's UM.RS design always pairs rows
            out = [f_one(q, u0) for q in pars]
            return np.array([o[0] for o in out]), np.array([o[1] for o in out])
        ub = np.broadcast_to(u0, (len(pars),) + u0.shape)
        return _laplace2_batch(
            fam, Xr, des.offset, des.z, k, pars[:, :P], pars[:, P], pars[:, P + 1], ub
        )

    def f_one(par, u0):
        return _laplace2(fam, Xr, des.offset, des.z, des.group, k, par[:P], par[P], par[P + 1], u0)

    def f(par, u0):
        if not paired:  # pragma: no cover
            return f_one(par, u0)
        val, ub = f_batch(par[None, :], u0)
        return float(val[0]), ub[0]

    ll, u = f(params, u)
    n = len(params)
    pairs = [(i, j) for i in range(n) for j in range(i)]
    converged = False
    it = 0
    lam = 0.0
    for it in range(1, 200):  # noqa: B007 - the count is reported
        h = 1e-4 * np.maximum(1, np.abs(params))
        E = np.diag(h)
        pts = [params + E, params - E]
        for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            pts.append(np.array([params + sa * E[i] + sb * E[j] for i, j in pairs]).reshape(-1, n))
        vals = f_batch(np.concatenate(pts), u)[0]
        fp, fm = vals[:n], vals[n : 2 * n]
        m = len(pairs)
        fpp, fpm, fmp, fmm = (vals[2 * n + q * m : 2 * n + (q + 1) * m] for q in range(4))
        g = (fp - fm) / (2 * h)
        H = np.diag((fp - 2 * ll + fm) / h**2)
        for q, (i, j) in enumerate(pairs):
            H[i, j] = H[j, i] = (fpp[q] - fpm[q] - fmp[q] + fmm[q]) / (4 * h[i] * h[j])
        ok = False
        for _ in range(40):
            A = -H + lam * np.diag(np.maximum(np.abs(np.diag(H)), 1e-8))
            try:
                np.linalg.cholesky(A)
                step = np.linalg.solve(A, g)
            except np.linalg.LinAlgError:
                lam = max(1e-6, 10 * lam)
                continue
            ll_t, u_t = f(params + step, u)
            if ll_t >= ll - 1e-12:
                ok = True
                break
            lam = max(1e-6, 10 * lam)
        if not ok:
            messages.append("Newton iteration could not improve the Laplace log-likelihood")
            break
        lam = lam / 10 if lam > 1e-6 else 0.0
        params = params + step
        dll = ll_t - ll
        ll, u = ll_t, u_t
        if np.max(np.abs(step)) < 1e-8 or abs(dll) < 1e-13:
            converged = True
            break
    if min(abs(params[P]), abs(params[P + 1])) < 1e-5:
        # a variance at its bound of 0: lme4's finite-difference Hessian is undefined there
        # and vcov() falls back to the covariance of beta given the variances (RX)
        V = _vcov_rx(
            fam, Xr, des.offset, des.z, des.group, k, params[:P], params[P], params[P + 1], u
        )
    else:
        try:
            V = np.linalg.inv(-H)
        except np.linalg.LinAlgError:
            V = np.full((n, n), np.nan)
            messages.append("the Hessian of the log-likelihood is singular")
    if not converged:
        messages.append(f"no convergence after {it} Newton iterations")
    return ModelFit(
        beta=params[:p],
        vb=V[:p, :p],
        tau2=float(params[P + 1] ** 2),
        ll_FE=ll_FE,
        ll_QE=ll_QE,
        QE_Wld=wld,
        ll_ML=ll,
        ll_marginal=ll,
        parms=p + 3,
        k_eff=2 * k,
        converged=converged,
        n_iter=it,
        algorithm="Newton on the Laplace log-likelihood (central differences)",
        messages=messages,
        sigma2=float(params[P] ** 2),
    )
