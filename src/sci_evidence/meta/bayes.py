"""Bayesian random-effects meta-analysis by numerical integration (no MCMC).

Model (the normal–normal hierarchical model of bayesmeta, Röver 2020)::

    y_i | θ_i ~ N(θ_i, σ_i²),   θ_i | μ, τ ~ N(μ, τ²)   ⇒   y_i | μ, τ ~ N(μ, σ_i² + τ²)

with a prior p(τ) on the heterogeneity and μ either flat (improper uniform) or N(m₀, s₀²).
Given τ, μ's posterior is normal in closed form: with w_i = 1/(σ_i² + τ²) and the prior
as an extra "study" (precision 1/s₀², none when flat),

    μ | τ, y ~ N(m(τ), V(τ)),   V = 1/(Σw_i + 1/s₀²),   m = V·(Σw_i·y_i + m₀/s₀²),

and τ's marginal posterior is, up to a constant,

    p(τ | y) ∝ p(τ) · Π w_i^½ · V^½ · exp(−½[Σw_i (y_i − m)² + (m − m₀)²/s₀²]).

Every posterior quantity is then a one-dimensional integral over τ: the marginal of μ is the
mixture ∫ N(μ; m(τ), V(τ)) p(τ|y) dτ, and the effect in a new study θ_new = μ + N(0, τ²) the
mixture of N(m(τ), V(τ) + τ²). The integral over τ is computed by composite Gauss–Legendre
quadrature (32 panels of 16 nodes) on u = τ/(s + τ) ∈ [0, 1), with s the posterior's rough
median (bounded priors: on their support); quantiles by safeguarded Newton on the exact
mixture CDF; HPD (shortest) intervals by Newton on f(a) = f(b), F(b) − F(a) = level.

Moments that do not exist are reported as ``inf``. For large τ the likelihood decays like
τ^−(k−1) (flat μ) or τ^−k (normal μ), the prior like τ^−a (half-Cauchy a = 2, half-Student-t
a = ν + 1, Jeffreys a = 1, improper uniform a = 0; half-normal and bounded priors: faster
than any power). With α = a + (k − 1 or k), the posterior is proper iff α > 1 and
E[τ^r] < ∞ iff α − r > 1; the mean and SD of μ (flat prior) and of θ_new exist iff E[τ] and
E[τ²] do (for a normal μ prior, μ's moments always exist).

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
Journal of Statistical Software 93(6):1–51. doi:10.18637/jss.v093.i06
Röver C, Bender R, Dias S, et al. (2021). On weakly informative prior distributions for the
heterogeneity parameter in Bayesian random-effects meta-analysis. Res Synth Methods 12:448.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from sci_evidence.errors import InputError
from sci_evidence.meta.validation import check_level, check_vector

__all__ = [
    "TAU_PRIORS",
    "BayesResult",
    "PosteriorSummary",
    "parse_tau_prior",
    "pool_bayes",
]

#: τ priors and their parameters (bayesmeta's dhalfnormal, dhalfcauchy, dhalft, uniform,
#: "Jeffreys"; "loguniform" is p(τ) ∝ 1/τ on [lower, upper]).
TAU_PRIORS = {
    "halfnormal": ("scale",),
    "halfcauchy": ("scale",),
    "halfstudent": ("scale", "df"),
    "uniform": ("upper",),
    "loguniform": ("lower", "upper"),
    "jeffreys": (),
}

_PARAMS = ("mu", "tau", "theta_new")
_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)
_PANELS = 16
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# projection of node values onto Legendre coefficients (Gauss quadrature is exact for the
# interpolating polynomial): c_n = (2n + 1)/2 · Σ_j w_j P_n(x_j) g_j
_PROJ = (np.arange(len(_GL_X))[:, None] + 0.5) * (
    np.polynomial.legendre.legvander(_GL_X, len(_GL_X) - 1).T * _GL_W[None, :]
)


def _legvander(x: np.ndarray, deg: int) -> np.ndarray:
    """Legendre polynomials P_0..P_deg at ``x`` (rows), by the three-term recurrence
    (numpy's legvander, without its per-call overhead)."""
    out = np.empty((x.shape[0], deg + 1))
    out[:, 0] = 1.0
    if deg > 0:
        out[:, 1] = x
    for n in range(1, deg):
        out[:, n + 1] = ((2 * n + 1) * x * out[:, n] - n * out[:, n - 1]) / (n + 1)
    return out


def parse_tau_prior(spec: Any) -> tuple:
    """Normalise a τ prior: ``("halfnormal", 0.5)``, ``"halfnormal:0.5"``,
    ``"halfstudent:0.5,3"``, ``"uniform"`` (improper), ``"uniform:2"``, ``"jeffreys"``."""
    if isinstance(spec, str):
        name, _, args = spec.partition(":")
        parts = [a for a in args.replace(",", " ").split() if a]
        spec = (name, *parts)
    if not isinstance(spec, tuple | list) or not spec or not isinstance(spec[0], str):
        raise InputError(
            f"tau_prior={spec!r} must be a tuple such as ('halfnormal', 0.5) or a string "
            "such as 'halfnormal:0.5'"
        )
    name = spec[0].strip().lower().replace("-", "").replace("_", "")
    if name not in TAU_PRIORS:
        raise InputError(
            f"tau_prior {spec[0]!r} is not supported; use one of {', '.join(TAU_PRIORS)}"
        )
    want = TAU_PRIORS[name]
    args = list(spec[1:])
    if name == "uniform" and not args:
        args = [math.inf]  # improper uniform on [0, ∞)
    if len(args) != len(want):
        raise InputError(
            f"tau_prior {name!r} takes {len(want)} parameter(s) ({', '.join(want) or 'none'}); "
            f"got {len(args)}"
        )
    vals = []
    for pname, a in zip(want, args, strict=True):
        try:
            v = float(a)
        except (TypeError, ValueError):
            raise InputError(f"tau_prior {name}: {pname} must be a number", value=a) from None
        if not v > 0 or (math.isinf(v) and pname != "upper"):
            raise InputError(f"tau_prior {name}: {pname} must be a positive number", value=a)
        vals.append(v)
    if name == "loguniform" and not vals[0] < vals[1]:
        raise InputError("tau_prior loguniform: need lower < upper", value=tuple(vals))
    return (name, *vals)


def _parse_mu_prior(spec: Any) -> tuple | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        name, _, args = spec.partition(":")
        spec = (name, *[a for a in args.replace(",", " ").split() if a])
    if not isinstance(spec, tuple | list) or len(spec) != 3 or str(spec[0]).lower() != "normal":
        raise InputError(f"mu_prior={spec!r} must be None (flat) or ('normal', mean, sd)")
    try:
        mean, sd = float(spec[1]), float(spec[2])
    except (TypeError, ValueError):
        raise InputError(f"mu_prior={spec!r}: mean and sd must be numbers") from None
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise InputError(f"mu_prior={spec!r}: need a finite mean and sd > 0")
    return ("normal", mean, sd)


@dataclass(frozen=True)
class PosteriorSummary:
    """Posterior summary of one parameter; ``inf`` marks a moment that does not exist."""

    median: float
    mean: float
    sd: float
    ci_lb: float
    ci_ub: float
    hpd_lb: float
    hpd_ub: float

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Posterior:
    """The quadrature representation of the posterior; all the numerics live here."""

    def __init__(self, y, v, tau_prior, mu_prior):
        self.y, self.v, self.k = y, v, len(y)
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        name = tau_prior[0]
        lo, hi = 0.0, math.inf
        if name == "uniform":
            hi = tau_prior[1]
        elif name == "loguniform":
            lo, hi = tau_prior[1], tau_prior[2]
        self.lo, self.hi = lo, hi
        tail = {"halfcauchy": 2.0, "jeffreys": 1.0, "uniform": 0.0}.get(name, math.inf)
        if name == "halfstudent":
            tail = tau_prior[2] + 1.0
        if math.isfinite(hi):
            tail = math.inf
        self.alpha = tail + (self.k - 1 if mu_prior is None else self.k)
        if not self.alpha > 1:
            mu_text = "a flat mu prior" if mu_prior is None else "a normal mu prior"
            raise InputError(
                f"the posterior is improper with tau_prior {name!r}, {mu_text} and "
                f"k = {self.k} stud{'y' if self.k == 1 else 'ies'}; use a proper tau prior "
                "(e.g. 'halfnormal:0.5')" + (" or a normal mu prior" if mu_prior is None else "")
            )
        self.bounded = math.isfinite(hi)
        self.s = self._scale()
        # panels and nodes in u = τ/(s + τ), over the prior's support
        self.u_lo = lo / (self.s + lo)
        self.u_hi = hi / (self.s + hi) if self.bounded else 1.0
        edges = np.linspace(self.u_lo, self.u_hi, _PANELS + 1)
        h = np.diff(edges) / 2
        self.u_edges = edges
        u = (edges[:-1, None] + h[:, None] * (_GL_X[None, :] + 1)).ravel()
        wu = (h[:, None] * _GL_W[None, :]).ravel()
        tau, jac = self._tau_of_u(u)
        lp, m, V = self._logpost(tau)
        lpj = lp + np.log(jac)
        self.shift = float(np.max(lpj))
        dens = np.exp(lpj - self.shift) * wu
        panel_mass = dens.reshape(_PANELS, -1).sum(axis=1)
        Z = float(panel_mass.sum())
        self.logZ = self.shift + math.log(Z)
        self.W = dens / Z
        self.cum = np.concatenate([[0.0], np.cumsum(panel_mass) / Z])
        self.tau, self.m, self.V = tau, m, V
        # the mixtures over τ skip nodes whose weight cannot change a double (< 1e-17 of
        # the total): a third of the nodes or more in the tails, at no cost in accuracy
        keep = self.W > 1e-17
        self.mW, self.mm, self.mV, self.mtau = self.W[keep], m[keep], V[keep], tau[keep]
        # the density in u on each panel as a Legendre series (exact at the nodes), and its
        # antiderivative: the CDF of τ anywhere at the accuracy of the quadrature
        g = (np.exp(lpj - self.shift) / Z).reshape(_PANELS, -1)
        self.h = h
        self.coef = g @ _PROJ.T  # (panels, degree + 1)
        anti = np.polynomial.legendre.legint(self.coef.T, lbnd=-1.0).T
        self.anti = anti * h[:, None]

    # -- the one-dimensional pieces --------------------------------------------------------
    def _logprior(self, tau):
        name, *a = self.tau_prior
        with np.errstate(divide="ignore"):
            if name == "halfnormal":
                return -0.5 * (tau / a[0]) ** 2
            if name == "halfcauchy":
                return -np.log1p((tau / a[0]) ** 2)
            if name == "halfstudent":
                return -(a[1] + 1) / 2 * np.log1p((tau / a[0]) ** 2 / a[1])
            if name == "uniform":
                return np.where(tau <= a[0], 0.0, -np.inf)
            if name == "loguniform":
                return np.where((tau >= a[0]) & (tau <= a[1]), -np.log(tau), -np.inf)
            # jeffreys: p(τ) ∝ √(Σ (τ/(σ_i² + τ²))²)
            t = np.asarray(tau)[..., None]
            return 0.5 * np.log(np.sum((t / (self.v + t * t)) ** 2, axis=-1))

    def _logpost(self, tau):
        t2 = np.asarray(tau, dtype=float)[..., None] ** 2
        w = 1.0 / (self.v + t2)
        sw = w.sum(axis=-1)
        swy = (w * self.y).sum(axis=-1)
        if self.mu_prior is None:
            prec, num, extra = sw, swy, 0.0
        else:
            _, m0, s0 = self.mu_prior
            prec, num = sw + 1.0 / s0**2, swy + m0 / s0**2
        m = num / prec
        q = (w * (self.y - m[..., None]) ** 2).sum(axis=-1)
        if self.mu_prior is not None:
            extra = (m - m0) ** 2 / s0**2
        ll = 0.5 * np.log(w).sum(axis=-1) - 0.5 * np.log(prec) - 0.5 * (q + extra)
        return self._logprior(tau) + ll, m, 1.0 / prec

    def _scale(self):
        """A rough posterior median of τ: the mapping scale s of u = τ/(s + τ)."""
        ref = math.sqrt(float(np.mean(self.v)))
        scaled = self.tau_prior[0] in ("halfnormal", "halfcauchy", "halfstudent")
        extra = self.tau_prior[1] if scaled else ref
        t_lo = max(1e-4 * min(ref, extra), self.lo)
        t_hi = min(1e3 * max(ref, extra, float(np.ptp(self.y))), self.hi)
        t = np.geomspace(t_lo, t_hi, 64)
        lp = self._logpost(t)[0] + np.log(t)  # density per log τ
        p = np.exp(lp - lp.max())
        c = np.cumsum(p)
        return float(t[np.searchsorted(c, 0.5 * c[-1])])

    def _tau_of_u(self, u):
        return self.s * u / (1.0 - u), self.s / (1.0 - u) ** 2

    def _u_of_tau(self, tau):
        return tau / (self.s + tau)

    # -- τ -------------------------------------------------------------------------------
    def tau_logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self._logpost(np.maximum(tau, 0.0))[0] - self.logZ
        inside = (tau >= self.lo) & (tau <= self.hi)
        return np.where(inside, out, -np.inf)

    def _panel(self, tau):
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        t = np.minimum(np.maximum(tau, self.lo), self.hi)
        u = np.minimum(np.maximum(t / (self.s + t), self.u_lo), self.u_hi)
        rel = (u - self.u_lo) / (self.u_hi - self.u_lo)
        p = np.minimum(np.maximum((rel * _PANELS).astype(int), 0), _PANELS - 1)
        x = (u - self.u_edges[p]) / self.h[p] - 1.0
        return u, p, x

    def tau_cdf(self, tau):
        u, p, x = self._panel(tau)
        vx = _legvander(x, self.anti.shape[1] - 1)
        out = self.cum[p] + np.einsum("ij,ij->i", vx, self.anti[p])
        return np.minimum(np.maximum(np.where(u >= self.u_hi, 1.0, out), 0.0), 1.0)

    def tau_cdf_pdf(self, tau):
        """CDF and density of τ from the panel interpolant (consistent for Newton)."""
        u, p, x = self._panel(tau)
        vx = _legvander(x, self.anti.shape[1] - 1)
        cdf = np.minimum(
            np.maximum(self.cum[p] + np.einsum("ij,ij->i", vx, self.anti[p]), 0.0), 1.0
        )
        dens_u = np.einsum("ij,ij->i", vx[:, : self.coef.shape[1]], self.coef[p])
        _, jac = self._tau_of_u(np.minimum(u, 1 - 1e-16))
        return np.where(u >= self.u_hi, 1.0, cdf), np.maximum(dens_u, 0.0) / jac

    # -- mixtures (μ and θ_new) -----------------------------------------------------------
    def mix_sd(self, which):
        cache = self.__dict__.setdefault("_sd_cache", {})
        if which not in cache:
            cache[which] = np.sqrt(self.mV + (self.mtau**2 if which == "theta_new" else 0.0))
        return cache[which]

    def mix_cdf_pdf(self, which, x):
        sd = self.mix_sd(which)
        z = (np.atleast_1d(x)[:, None] - self.mm) / sd
        cdf = special.ndtr(z) @ self.mW
        pdf = (np.exp(-0.5 * z * z) / sd) @ self.mW * _INV_SQRT_2PI
        return cdf, pdf

    def mix_pdf(self, which, x):
        sd = self.mix_sd(which)
        z = (np.atleast_1d(x)[:, None] - self.mm) / sd
        return (np.exp(-0.5 * z * z) / sd) @ self.mW * _INV_SQRT_2PI

    def mix_logpdf(self, which, x):
        with np.errstate(divide="ignore"):
            return np.log(self.mix_pdf(which, x))

    # -- generic pieces -------------------------------------------------------------------
    def cdf(self, which, x):
        return self.tau_cdf(x) if which == "tau" else self.mix_cdf_pdf(which, x)[0]

    def cdf_pdf(self, which, x):
        if which == "tau":
            return self.tau_cdf_pdf(x)
        return self.mix_cdf_pdf(which, x)

    def logpdf(self, which, x):
        return self.tau_logpdf(x) if which == "tau" else self.mix_logpdf(which, x)

    def support(self, which):
        if which == "tau":
            hi = self.hi if self.bounded else float(self.tau[-1]) * 4
            return self.lo, hi
        sd = self.mix_sd(which)
        return float(np.min(self.mm - 60 * sd)), float(np.max(self.mm + 60 * sd))

    def quantile(self, which, p, x0=None):
        """Safeguarded Newton on the CDF, vectorised over the probabilities ``p``."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        lo_s, hi_s = self.support(which)
        lo = np.full_like(p, lo_s)
        hi = np.full_like(p, hi_s)
        if x0 is None:
            x0, bracket = self._quantile_start(which, p)
            if bracket is not None:
                lo = np.maximum(lo, bracket[0])
                hi = np.minimum(hi, bracket[1])
        x = np.minimum(np.maximum(np.asarray(x0, dtype=float), lo), hi)
        active = np.ones(p.shape, dtype=bool)
        for _ in range(100):
            F, dens = self.cdf_pdf(which, x)
            f = F - p
            active &= np.abs(f) > 1e-13
            if not active.any():
                break
            lo = np.where(active & (f < 0), x, lo)
            hi = np.where(active & (f > 0), x, hi)
            ok = dens > 0
            new = np.where(ok, x - f / np.where(ok, dens, 1.0), np.nan)
            bad = ~np.isfinite(new) | (new < lo) | (new > hi)
            new = np.where(bad, 0.5 * (lo + hi), new)
            step = np.abs(new - x)
            x = np.where(active, new, x)
            active &= step > 1e-15 * np.maximum(np.abs(x), 1e-300)
            if not active.any():
                break
        return x

    def _quantile_start(self, which, p):
        if which == "tau":
            # quantiles of the quadrature nodes' cumulative mass
            c = np.cumsum(self.W)
            idx = np.clip(np.searchsorted(c, p), 0, len(c) - 1)
            return self.tau[idx], None
        # the mixture CDF on a table that is fine near the centre and reaches far into heavy
        # tails (x = centre + scale·sinh(u)); interpolation gives the start and a bracket
        sd = self.mix_sd(which)
        j = int(np.argmax(self.mW))
        centre, scale = float(self.mm[j]), float(sd[j])
        grid = centre + scale * np.sinh(np.linspace(-7.0, 7.0, 41))
        F = self.mix_cdf_pdf(which, grid)[0]
        i = np.clip(np.searchsorted(F, p), 1, len(grid) - 1)
        inside = (F[0] <= p) & (p <= F[-1])
        lo = np.where(inside, grid[i - 1], -np.inf)
        hi = np.where(inside, grid[i], np.inf)
        return np.interp(p, F, grid), (lo, hi)

    def hpd(self, which, level, ci):
        """Shortest interval: Newton on F(b) − F(a) = level, log f(a) = log f(b)."""
        a, b = float(ci[0]), float(ci[1])
        lo_s, _ = self.support(which)
        if which == "tau":
            b0 = float(self.quantile("tau", level)[0])
            lf = self.tau_logpdf(np.array([self.lo, b0]))
            if lf[0] >= lf[1]:  # density highest at the lower bound: [lower, F⁻¹(level)]
                return self.lo, b0
        for _ in range(60):
            h = 1e-6 * max(b - a, 1e-300)
            pts = np.array([a, b, a - h, a + h, b - h, b + h])
            if which == "tau":
                F, lf = self.tau_cdf(pts[:2]), self.tau_logpdf(pts)
                fa, fb = math.exp(lf[0]), math.exp(lf[1])
            else:
                F, dens = self.mix_cdf_pdf(which, pts)
                lf = np.log(np.maximum(dens, 1e-300))
                fa, fb = dens[0], dens[1]
            r = np.array([F[1] - F[0] - level, lf[0] - lf[1]])
            da, db = (lf[3] - lf[2]) / (2 * h), (lf[5] - lf[4]) / (2 * h)
            det = fa * db - fb * da  # J = [[-fa, fb], [da, -db]]
            if det == 0 or not math.isfinite(det):
                break
            step = np.array([(db * r[0] + fb * r[1]) / det, (da * r[0] + fa * r[1]) / det])
            lam = 1.0
            while lam > 1e-4:
                na, nb = a + lam * step[0], b + lam * step[1]
                if na < nb and (which != "tau" or na >= self.lo):
                    break
                lam /= 2
            else:
                break
            conv = abs(na - a) + abs(nb - b) <= 1e-12 * max(abs(a), abs(b), b - a)
            a, b = na, nb
            if conv or (abs(r[0]) < 1e-13 and abs(r[1]) < 1e-9):
                break
        return a, b


@dataclass(frozen=True, eq=False, repr=False)
class BayesResult:
    """Posterior of a Bayesian normal–normal random-effects meta-analysis.

    ``mu`` (the mean effect), ``tau`` (heterogeneity SD) and ``theta_new`` (the true effect
    of a new study) are :class:`PosteriorSummary` objects on the scale of ``yi``; moments
    that do not exist under the prior are ``inf``. ``densities`` holds each marginal
    posterior density on a grid (``{"mu": (x, density), ...}``).
    """

    k: int
    yi: np.ndarray
    sei: np.ndarray
    tau_prior: tuple
    mu_prior: tuple | None
    level: float
    mu: PosteriorSummary
    tau: PosteriorSummary
    theta_new: PosteriorSummary
    densities: dict
    measure: str | None = None
    _post: Any = field(default=None, repr=False)

    def prob_below(self, value: float, parameter: str = "mu") -> float:
        """Posterior probability that ``parameter`` (mu, tau or theta_new) is below ``value``."""
        if parameter not in _PARAMS:
            raise InputError(f"parameter={parameter!r}; use one of {', '.join(_PARAMS)}")
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise InputError("value must be a number", value=value) from None
        return float(self._post.cdf(parameter, np.array([x]))[0])

    def density(self, parameter: str, x: Any) -> np.ndarray:
        """Marginal posterior density of ``parameter`` at ``x``."""
        if parameter not in _PARAMS:
            raise InputError(f"parameter={parameter!r}; use one of {', '.join(_PARAMS)}")
        return np.exp(self._post.logpdf(parameter, np.atleast_1d(np.asarray(x, dtype=float))))

    def _prior_text(self) -> str:
        name, *a = self.tau_prior
        args = ", ".join(f"{v:g}" for v in a)
        mu = (
            "flat"
            if self.mu_prior is None
            else f"normal({self.mu_prior[1]:g}, {self.mu_prior[2]:g})"
        )
        return f"tau ~ {name}({args}); mu ~ {mu}"

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({p: getattr(self, p).to_dict() for p in _PARAMS}).T

    def to_dict(self) -> dict[str, Any]:
        def num(x):
            if isinstance(x, float) and math.isinf(x):
                return "inf" if x > 0 else "-inf"
            return x

        return {
            "model": "bayes",
            "k": self.k,
            "measure": self.measure,
            "level": self.level,
            "tau_prior": list(self.tau_prior),
            "mu_prior": list(self.mu_prior) if self.mu_prior else None,
            **{p: {k: num(v) for k, v in getattr(self, p).to_dict().items()} for p in _PARAMS},
            "prob_mu_below_0": self.prob_below(0.0),
        }

    def summary(self) -> str:
        pct = f"{self.level:.0%}"
        scale = f" ({self.measure} scale)" if self.measure else ""
        lines = [
            f"Bayesian random-effects meta-analysis (k = {self.k}){scale}",
            f"Priors: {self._prior_text()}",
            "",
            f"{'':10s} {'median':>9s} {'mean':>9s} {'sd':>9s}   {pct + ' CI':>21s}   "
            f"{pct + ' HPD':>21s}",
        ]
        for p in _PARAMS:
            s = getattr(self, p)
            lines.append(
                f"{p:10s} {s.median:9.4f} {s.mean:9.4f} {s.sd:9.4f}   "
                f"[{s.ci_lb:9.4f}, {s.ci_ub:9.4f}]   [{s.hpd_lb:9.4f}, {s.hpd_ub:9.4f}]"
            )
        lines.append("")
        lines.append(f"P(mu < 0) = {self.prob_below(0.0):.4f}")
        if any(math.isinf(getattr(self, p).sd) for p in _PARAMS):
            lines.append("inf: the moment does not exist under these priors")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def plot(self):
        """Posterior densities of mu and tau (matplotlib Figure), intervals shaded."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, p, label in zip(
            axes, ("mu", "tau"), ("effect mu", "heterogeneity tau"), strict=True
        ):
            x, d = self.densities[p]
            s = getattr(self, p)
            ax.plot(x, d, color="black", lw=1.2)
            sel = (x >= s.ci_lb) & (x <= s.ci_ub)
            ax.fill_between(x[sel], d[sel], color="0.8")
            ax.axvline(s.median, color="0.3", lw=0.8, ls="--")
            scale = f" ({self.measure} scale)" if self.measure and p == "mu" else ""
            ax.set_xlabel(label + scale)
            ax.set_ylabel("posterior density")
            ax.set_ylim(bottom=0)
            ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(self._prior_text(), fontsize="small")
        fig.tight_layout()
        return fig


def _moment_exists(post: _Posterior, which: str, order: int) -> bool:
    if which == "mu" and post.mu_prior is not None:
        return True
    return post.alpha - order > 1


def _summarise(post: _Posterior, which: str, level: float) -> tuple[PosteriorSummary, tuple]:
    a = (1 - level) / 2
    q = post.quantile(which, np.array([a, 0.5, 1 - a, 0.001, 0.999]))
    if which == "tau":
        mean = float(post.W @ post.tau)
        var = float(post.W @ post.tau**2) - mean**2
    else:
        mean = float(post.mW @ post.mm)
        var = float(post.mW @ (post.mix_sd(which) ** 2 + (post.mm - mean) ** 2))
    if not _moment_exists(post, which, 1):
        mean = math.inf
    sd = math.sqrt(max(var, 0.0)) if _moment_exists(post, which, 2) else math.inf
    hpd = post.hpd(which, level, (q[0], q[2]))
    s = PosteriorSummary(
        median=float(q[1]),
        mean=mean,
        sd=sd,
        ci_lb=float(q[0]),
        ci_ub=float(q[2]),
        hpd_lb=float(hpd[0]),
        hpd_ub=float(hpd[1]),
    )
    # density grid: the central 99.8% (τ from its lower bound)
    lo, hi = (post.lo if which == "tau" else q[3]), q[4]
    x = np.linspace(lo, hi, 101)
    dens = np.exp(post.tau_logpdf(x)) if which == "tau" else post.mix_pdf(which, x)
    return s, (x, dens)


def pool_bayes(
    yi: Any,
    sei: Any,
    *,
    tau_prior: Any = ("halfnormal", 0.5),
    mu_prior: Any = None,
    level: float = 0.95,
    measure: str | None = None,
) -> BayesResult:
    """Bayesian random-effects meta-analysis of ``yi`` with standard errors ``sei``.

    Parameters
    ----------
    yi, sei : array_like of shape (k,)
        Effect sizes and their standard errors (> 0); k ≥ 1.
    tau_prior : tuple or str, default ("halfnormal", 0.5)
        ``("halfnormal", scale)``, ``("halfcauchy", scale)``, ``("halfstudent", scale, df)``,
        ``("uniform", upper)`` (``("uniform",)``: improper on [0, ∞)), ``("loguniform",
        lower, upper)`` (p ∝ 1/τ), ``("jeffreys",)`` (bayesmeta's Jeffreys prior,
        p ∝ √Σ(τ/(σ_i² + τ²))², log-uniform-like in its tail); or a string such as
        ``"halfnormal:0.5"``. Half-normal(0.5) is weakly informative for log odds ratios
        (Röver et al. 2021); choose the scale for the measure at hand.
    mu_prior : None or ("normal", mean, sd), default None
        None: flat (improper uniform) prior on μ.
    level : float, default 0.95
        Probability of the equal-tailed (CI) and shortest (HPD) intervals.
    measure : str, optional
        The effect measure, recorded for display.

    Returns
    -------
    BayesResult

    Raises
    ------
    InputError
        Bad input, or priors under which the posterior is improper (e.g. an improper uniform
        τ prior with a flat μ prior and k ≤ 2).
    """
    y = check_vector("yi", yi)
    s = check_vector("sei", sei)
    if len(y) != len(s):
        raise InputError(f"yi has {len(y)} element(s) but sei has {len(s)}; give one per study")
    bad = s <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"sei must be > 0; element {i + 1} is {float(s[i])!r} (a standard error)")
    lvl = check_level(level)
    tp = parse_tau_prior(tau_prior)
    mp = _parse_mu_prior(mu_prior)
    post = _Posterior(y, s * s, tp, mp)
    sums, dens = {}, {}
    for p in _PARAMS:
        sums[p], dens[p] = _summarise(post, p, lvl)
    return BayesResult(
        k=len(y),
        yi=y,
        sei=s,
        tau_prior=tp,
        mu_prior=mp,
        level=lvl,
        mu=sums["mu"],
        tau=sums["tau"],
        theta_new=sums["theta_new"],
        densities=dens,
        measure=measure,
        _post=post,
    )
