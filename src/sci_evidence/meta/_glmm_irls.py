"""R's ``glm.fit`` for :func:`sci_evidence.meta.glmm.pool_glmm` (private): the equal-effects
and saturated GLMs behind the heterogeneity tests and the starting values.

:func:`glm_fit` — iteratively reweighted least squares for the binomial (logit) and Poisson
(log) families, following the iteration of R's ``glm.fit`` step for step (same starting
values, same link thresholds, same convergence rule ``|dev - dev_old| / (|dev| + 0.1) <
1e-8``, at most 25 iterations) so that fits whose maximum is at infinity (zero cells in a
saturated model) stop where R stops; :func:`saturated_irls` the same for one parameter per
row; :func:`wald_against` the Wald statistic of a saturated fit against a smaller model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from sci_evidence.meta._glmm_engine import Family, make_family

_EPS = np.finfo(float).eps
_THRESH = 30.0


# --------------------------------------------------------------------------- glm.fit
@dataclass
class GlmFit:
    coef: np.ndarray  # NaN for aliased columns
    vcov: np.ndarray  # over the non-aliased columns (in order)
    kept: np.ndarray  # indices of the non-aliased columns
    loglik: float
    deviance: float
    converged: bool
    n_iter: int
    mu: np.ndarray


def _linkinv(family: str, eta):
    if family == "binomial" and (np.abs(eta) <= _THRESH).all():
        return expit(eta)
    if family == "binomial":
        tmp = np.where(
            eta < -_THRESH,
            _EPS,
            np.where(eta > _THRESH, 1 / _EPS, np.exp(np.clip(eta, -_THRESH, _THRESH))),
        )
        return tmp / (1.0 + tmp)
    return np.maximum(np.exp(eta), _EPS)


def _linkinv_plain(family: str, eta):
    """``(_linkinv(eta), plain)``: ``plain`` says no threshold applied, so that
    ``_mu_eta(eta)`` equals ``mu * (1 - mu)`` (binomial) or ``mu`` (Poisson) bit for bit and
    the IRLS loops need not evaluate the link twice at the same point."""
    if family == "binomial":
        # |eta| <= thresh everywhere (NaN fails both tests, as it fails abs(eta) <= thresh)
        if eta.max() <= _THRESH and eta.min() >= -_THRESH:
            return expit(eta), True
        return _linkinv(family, eta), False
    mu = np.maximum(np.exp(eta), _EPS)
    return mu, False


def _mu_eta_from(family: str, eta, mu, plain: bool):
    if plain:  # mu = expit(eta) without thresholds (binomial only)
        return mu * (1.0 - mu)
    return _mu_eta(family, eta)


def _deviance_fn(family: str, y, wt):
    """``mu -> sum(_dev_resids(family, y, mu, wt))`` with the parts that depend on ``y``
    only computed once (the same arithmetic as :func:`_dev_resids`)."""
    pos = y > 0
    ys = np.where(pos, y, 1)
    if family == "binomial":
        lt = y < 1
        y1 = np.where(lt, 1 - y, 1)
        omy = 1 - y

        def dev(mu):
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(pos, y * np.log(ys / mu), 0.0)
                b = np.where(lt, omy * np.log(y1 / (1 - mu)), 0.0)
                return float(np.sum(2 * wt * (a + b)))

        return dev

    def dev_pois(mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(pos, y * np.log(ys / mu), 0.0) - (y - mu)
            return float(np.sum(2 * wt * r))

    return dev_pois


def _mu_eta(family: str, eta):
    if family == "binomial" and (np.abs(eta) <= _THRESH).all():
        p = expit(eta)
        return p * (1.0 - p)
    if family == "binomial":
        e = np.exp(np.clip(eta, -_THRESH, _THRESH))
        return np.where((eta > _THRESH) | (eta < -_THRESH), _EPS, e / (1.0 + e) ** 2)
    return np.maximum(np.exp(eta), _EPS)


def _dev_resids(family: str, y, mu, wt):
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "binomial":
            a = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0)
            b = np.where(y < 1, (1 - y) * np.log(np.where(y < 1, 1 - y, 1) / (1 - mu)), 0.0)
            return 2 * wt * (a + b)
        r = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0) - (y - mu)
        return 2 * wt * r


def _pivoted_qr_rank(A: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Columns kept by R's limited-pivoting QR (dqrdc2): a column nearly dependent on the
    columns before it is moved to the end and reported as aliased. ``|R_jj|`` of an
    unpivoted QR is the distance of column j from the span of the columns before it."""
    norms = np.linalg.norm(A, axis=0)
    R = np.linalg.qr(A, mode="r")
    d = np.zeros(A.shape[1])
    n = min(R.shape)
    d[:n] = np.abs(np.diag(R)[:n])
    if n < A.shape[1]:  # more columns than rows: the trailing ones are checked one by one
        kept = list(np.where(d[:n] > tol * np.maximum(norms[:n], 1e-300))[0])
        for j in range(n, A.shape[1]):
            B = A[:, kept + [j]]
            if np.linalg.matrix_rank(B, tol=tol * max(norms[j], 1e-300)) > len(kept):
                kept.append(j)
        return np.asarray(kept, dtype=int)
    return np.where(d > tol * np.maximum(norms, 1e-300))[0]


def glm_fit(
    family: str,
    X: np.ndarray,
    y_count: np.ndarray,
    n: np.ndarray | None,
    offset: np.ndarray | None = None,
    *,
    maxit: int = 25,
    epsilon: float = 1e-8,
    full_rank: bool = False,
    fam: Family | None = None,
) -> GlmFit:
    """IRLS as R's ``glm.fit`` (binomial with counts/trials, or Poisson with an offset).

    Each step's weighted least squares is solved by the normal equations (Cholesky) for
    up to 64 columns — the same solution as R's QR to rounding — and by QR beyond.
    ``full_rank`` skips the aliasing check for designs known to be of full rank; ``fam``, the
    family of these counts if the caller has built it (its constants are reused)."""
    X = np.asarray(X, dtype=float)
    nobs, ncol = X.shape
    off = np.zeros(nobs) if offset is None else np.asarray(offset, dtype=float)
    if family == "binomial":
        wt = np.asarray(n, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(wt > 0, y_count / np.where(wt > 0, wt, 1), 0.0)
        mu = (wt * y + 0.5) / (wt + 1.0)
        eta = np.log(mu / (1 - mu))
    else:
        wt = np.ones(nobs)
        y = np.asarray(y_count, dtype=float)
        mu = y + 0.1
        eta = np.log(mu)
    good_rows = wt > 0
    kept = np.arange(ncol) if full_rank else _pivoted_qr_rank(X[good_rows])
    Xk = X[:, kept]
    deviance = _deviance_fn(family, y, wt)
    dev_old = deviance(mu)
    converged = False
    beta = np.zeros(len(kept))
    R = None
    it = 0
    plain = False  # the starting mu is not the link of the starting eta
    # intercept only (the EE fit of PLO, IRLN and CM.AL without moderators): the weighted
    # least-squares step is a weighted mean, without numpy.linalg's per-call overhead
    icpt = Xk.shape[1] == 1 and bool(good_rows.all()) and bool((Xk == 1.0).all())
    for it in range(1, maxit + 1):  # noqa: B007 - the count is reported
        me = _mu_eta_from(family, eta, mu, plain)
        var = mu * (1 - mu) if family == "binomial" else mu
        if icpt and (me != 0).all():
            z = eta - off + (y - mu) / me
            w2 = wt * me**2 / var
            R = np.array([[w2.sum()]])
            b0 = float(w2 @ z) / R[0, 0]
            beta = np.array([b0])
            eta = b0 + off
            mu, plain = _linkinv_plain(family, eta)
            dev = deviance(mu)
            if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
                converged = True
                break
            dev_old = dev
            continue
        good = good_rows & (me != 0)
        z = (eta - off)[good] + (y[good] - mu[good]) / me[good]
        w2 = wt[good] * me[good] ** 2 / var[good]
        Xg = Xk[good]
        if Xk.shape[1] <= 64:
            A = (Xg.T * w2) @ Xg
            beta = np.linalg.solve(A, Xg.T @ (w2 * z))
            R = A
        else:
            w = np.sqrt(w2)
            Q, R = np.linalg.qr(Xg * w[:, None])
            beta = np.linalg.solve(R, Q.T @ (z * w))
        eta = Xk @ beta + off
        mu, plain = _linkinv_plain(family, eta)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    if Xk.shape[1] == 1:
        vcov = 1.0 / R  # R holds X'WX here
    elif Xk.shape[1] <= 64:
        vcov = np.linalg.inv(R)  # R holds X'WX here
    else:
        Rinv = np.linalg.inv(R)
        vcov = Rinv @ Rinv.T
    coef = np.full(ncol, np.nan)
    coef[kept] = beta
    if fam is None:
        fam = make_family(family, y_count, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "binomial":
            ll = np.where(
                wt > 0,
                fam.const
                + np.where(y_count > 0, y_count * np.log(mu), 0.0)
                + np.where(wt - y_count > 0, (wt - y_count) * np.log(1 - mu), 0.0),
                0.0,
            )
        else:
            ll = fam.const + np.where(y_count > 0, y_count * np.log(mu), 0.0) - mu
    return GlmFit(coef, vcov, kept, float(np.sum(ll)), dev, converged, it, mu)


@dataclass
class SaturatedFit:
    eta: np.ndarray  # final linear predictor (offset included)
    w2: np.ndarray  # IRLS weights of the last iteration (R's vcov uses these)
    loglik: float
    converged: bool
    n_iter: int


def saturated_irls(family: str, y_count, n, offset, fam: Family | None = None) -> SaturatedFit:
    """``glm.fit`` for a saturated model (one parameter per row). With a square full-rank
    design the weighted least-squares step reproduces the working response exactly, so each
    IRLS iteration is ``eta <- eta + (y - mu) / mu_eta`` row by row; the starting values,
    link thresholds and deviance-based stopping rule are R's. Rows whose maximum is at
    infinity (0 or all events) stop where R's iteration stops."""
    off = np.asarray(offset, dtype=float)
    if family == "binomial":
        wt = np.asarray(n, dtype=float)
        y = np.asarray(y_count, dtype=float) / wt
        mu = (wt * y + 0.5) / (wt + 1.0)
        eta = np.log(mu / (1 - mu))
    else:
        wt = np.ones(len(y_count))
        y = np.asarray(y_count, dtype=float)
        mu = y + 0.1
        eta = np.log(mu)
    # deviance = const - 2 * sum(log-likelihood kernel): only the kernel changes
    yw = wt * y
    if family == "binomial":
        nyw = wt - yw
        kern = lambda mu: float(yw @ np.log(mu) + nyw @ np.log1p(-mu))  # noqa: E731
    else:
        kern = lambda mu: float(y @ np.log(mu) - mu.sum())  # noqa: E731
    const = float(np.sum(_dev_resids(family, y, mu, wt))) + 2.0 * kern(mu)
    dev_old = const - 2.0 * kern(mu)
    converged = False
    mu_prev = mu
    it = 0
    plain = False  # the starting mu is not the link of the starting eta
    for it in range(1, 26):  # noqa: B007 - the count is reported
        # (_mu_eta_from inlined: this loop runs up to 25 times per fit)
        me = mu * (1.0 - mu) if plain else _mu_eta(family, eta)
        mu_prev = mu
        eta = eta + (y - mu) / me
        mu, plain = _linkinv_plain(family, eta)
        dev = const - 2.0 * kern(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            converged = True
            break
        dev_old = dev
    var = mu_prev * (1 - mu_prev) if family == "binomial" else mu_prev
    w2 = wt * me**2 / var
    if fam is None:
        fam = make_family(family, y_count, n)
    yc = np.asarray(y_count, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "binomial":
            ll = (
                fam.const
                + np.where(yc > 0, yc * np.log(mu), 0.0)
                + np.where(wt - yc > 0, (wt - yc) * np.log(1 - mu), 0.0)
            )
        else:
            ll = fam.const + np.where(yc > 0, yc * np.log(mu), 0.0) - mu
    del off
    return SaturatedFit(eta, w2, float(np.sum(ll)), converged, it)


def wald_against(eta_minus_offset, w2, X, group=None, n_groups=0) -> float:
    """Wald statistic of the hypothesis ``eta - offset in span(X [, study dummies])`` at a
    saturated fit with covariance ``diag(1 / w2)``: the weighted residual sum of squares
    ``min_g (e - X g)' W (e - X g)`` (invariant to how the saturated model is
    parametrised, so equal to the Wald test of its extra coefficients). Study dummies, when
    ``group`` is given, are partialled out by weighted group means (Frisch-Waugh)."""
    e = np.asarray(eta_minus_offset, dtype=float)
    w = np.asarray(w2, dtype=float)
    Xc = np.asarray(X, dtype=float)
    if group is not None:
        sw = np.bincount(group, weights=w, minlength=n_groups)
        e = e - (np.bincount(group, weights=w * e, minlength=n_groups) / sw)[group]
        Xc = (
            Xc
            - np.stack(
                [
                    np.bincount(group, weights=w * Xc[:, j], minlength=n_groups) / sw
                    for j in range(Xc.shape[1])
                ],
                axis=1,
            )[group]
        )
    if Xc.shape[1]:
        A = (Xc.T * w) @ Xc
        g = np.linalg.solve(A, Xc.T @ (w * e))
        e = e - Xc @ g
    return float(np.sum(w * e * e))
