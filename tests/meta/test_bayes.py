"""pool_bayes against an independent dense-grid 2-D integration, closed forms and the
existence rules for posterior moments."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate, special, stats  # noqa: E402

from sci_evidence.errors import InputError  # noqa: E402
from sci_evidence.meta import pool_bayes  # noqa: E402
from sci_evidence.meta.bayes import parse_tau_prior  # noqa: E402
from tolerances import (
    BAYES_GRID_TOL as TOL,
)


# ---- the independent reference: Simpson on a dense (tau, mu) grid of the joint posterior
# p(mu, tau | y) ∝ p(tau) p(mu) Π N(y_i; mu, sigma_i² + tau²), no closed-form conditionals
def joint_reference(y, se, log_prior_tau, tau_max, mu_lim, *, mu_prior=None, n_tau=2001, n_mu=4001):
    y, v = np.asarray(y, float), np.asarray(se, float) ** 2
    tau = np.linspace(0.0, tau_max, n_tau)
    mu = np.linspace(mu_lim[0], mu_lim[1], n_mu)
    lp = np.empty((n_tau, n_mu))
    for j, t in enumerate(tau):
        s2 = v + t * t
        lp[j] = log_prior_tau(t) + stats.norm.logpdf(
            y[None, :], mu[:, None], np.sqrt(s2)[None, :]
        ).sum(axis=1)
        if mu_prior is not None:
            lp[j] += stats.norm.logpdf(mu, mu_prior[0], mu_prior[1])
    p = np.exp(lp - lp.max())
    tau_marg = integrate.simpson(p, x=mu, axis=1)
    mu_marg = integrate.simpson(p, x=tau, axis=0)
    Z = integrate.simpson(tau_marg, x=tau)
    tau_marg, mu_marg = tau_marg / Z, mu_marg / Z

    def cdf(x, grid, dens, value):
        sel = grid <= value
        xs = np.append(grid[sel], value)
        ds = np.append(dens[sel], np.interp(value, grid, dens))
        return integrate.simpson(ds, x=xs) if len(xs) > 2 else 0.0

    return {
        "mu_mean": integrate.simpson(mu * mu_marg, x=mu),
        "mu_sd": np.sqrt(
            integrate.simpson(mu**2 * mu_marg, x=mu) - integrate.simpson(mu * mu_marg, x=mu) ** 2
        ),
        "tau_mean": integrate.simpson(tau * tau_marg, x=tau),
        "tau_sd": np.sqrt(
            integrate.simpson(tau**2 * tau_marg, x=tau)
            - integrate.simpson(tau * tau_marg, x=tau) ** 2
        ),
        "mu_cdf": lambda x: cdf(None, mu, mu_marg, x),
        "tau_cdf": lambda x: cdf(None, tau, tau_marg, x),
        "mu_pdf": lambda x: np.interp(x, mu, mu_marg),
        "tau_pdf": lambda x: np.interp(x, tau, tau_marg),
    }


Y = [0.1, 0.3, -0.2, 0.5, 0.25]
SE = [0.2, 0.15, 0.3, 0.25, 0.1]

CASES = {
    "halfnormal, flat mu": (
        {"tau_prior": ("halfnormal", 0.5)},
        lambda t: -0.5 * (t / 0.5) ** 2,
        4.0,
        None,
    ),
    "halfnormal, normal mu": (
        {"tau_prior": ("halfnormal", 0.5), "mu_prior": ("normal", 0.0, 0.4)},
        lambda t: -0.5 * (t / 0.5) ** 2,
        4.0,
        (0.0, 0.4),
    ),
    "uniform(0, 1.5), flat mu": (
        {"tau_prior": "uniform:1.5"},
        lambda t: 0.0,
        1.5,
        None,
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def pair(request):
    kw, log_prior, tau_max, mu_prior = CASES[request.param]
    ref = joint_reference(Y, SE, log_prior, tau_max, (-5.0, 5.0), mu_prior=mu_prior)
    return pool_bayes(Y, SE, **kw), ref


def test_moments_match_dense_grid(pair):
    res, ref = pair
    assert res.mu.mean == pytest.approx(ref["mu_mean"], abs=TOL)
    assert res.mu.sd == pytest.approx(ref["mu_sd"], abs=TOL)
    assert res.tau.mean == pytest.approx(ref["tau_mean"], abs=TOL)
    assert res.tau.sd == pytest.approx(ref["tau_sd"], abs=TOL)


def test_quantiles_and_probabilities_match_dense_grid(pair):
    res, ref = pair
    a = (1 - res.level) / 2
    for p, s in (("mu", res.mu), ("tau", res.tau)):
        cdf = ref[f"{p}_cdf"]
        assert cdf(s.ci_lb) == pytest.approx(a, abs=TOL)
        assert cdf(s.median) == pytest.approx(0.5, abs=TOL)
        assert cdf(s.ci_ub) == pytest.approx(1 - a, abs=TOL)
        # HPD: the level's mass, and (interior bounds) equal density at both ends
        assert cdf(s.hpd_ub) - cdf(s.hpd_lb) == pytest.approx(res.level, abs=TOL)
        assert s.hpd_ub - s.hpd_lb <= s.ci_ub - s.ci_lb + 1e-12
    for x in (-0.1, 0.0, 0.2):
        assert res.prob_below(x) == pytest.approx(ref["mu_cdf"](x), abs=TOL)
    assert res.prob_below(0.2, "tau") == pytest.approx(ref["tau_cdf"](0.2), abs=TOL)
    lo, hi = res.mu.hpd_lb, res.mu.hpd_ub
    assert res.density("mu", lo)[0] == pytest.approx(res.density("mu", hi)[0], rel=1e-7)
    x = round(res.mu.median / 0.0025) * 0.0025  # a node of the reference's mu grid
    assert res.density("mu", x)[0] == pytest.approx(ref["mu_pdf"](x), rel=1e-6)


def test_theta_new_is_mu_plus_heterogeneity():
    res = pool_bayes(Y, SE)
    assert res.theta_new.mean == pytest.approx(res.mu.mean, abs=1e-12)
    # Var(θ_new) = Var(μ) + E[τ²]
    e_tau2 = res.tau.sd**2 + res.tau.mean**2
    assert res.theta_new.sd**2 == pytest.approx(res.mu.sd**2 + e_tau2, rel=1e-9)
    assert res.theta_new.ci_ub - res.theta_new.ci_lb > res.mu.ci_ub - res.mu.ci_lb


def test_single_study_tau_posterior_is_the_prior():
    # k = 1, flat mu: the likelihood does not depend on tau, so tau | y ~ half-normal(0.5)
    res = pool_bayes([0.4], [0.3])
    assert res.tau.median == pytest.approx(0.5 * special.ndtri(0.75), rel=1e-9)
    assert res.tau.mean == pytest.approx(0.5 * math.sqrt(2 / math.pi), rel=1e-9)
    assert res.tau.sd == pytest.approx(0.5 * math.sqrt(1 - 2 / math.pi), rel=1e-8)
    assert res.tau.ci_ub == pytest.approx(0.5 * special.ndtri(0.9875), rel=1e-9)
    assert (res.tau.hpd_lb, res.tau.hpd_ub) == pytest.approx((0.0, 0.5 * 1.959963984540054))
    # mu | tau ~ N(y, se² + tau²): symmetric about y, variance se² + E[tau²]
    assert res.mu.median == pytest.approx(0.4, abs=1e-12)
    assert res.mu.sd**2 == pytest.approx(0.09 + 0.25, rel=1e-9)


def test_normal_mu_prior_k1_conjugate_limit():
    # a tight tau prior (uniform on [0, 1e-9]) leaves the normal-normal conjugate posterior
    res = pool_bayes([0.4], [0.3], tau_prior=("uniform", 1e-9), mu_prior=("normal", 0.0, 0.3))
    post = stats.norm(0.2, math.sqrt(0.045))
    assert res.mu.mean == pytest.approx(0.2, abs=1e-9)
    assert res.mu.sd == pytest.approx(post.std(), rel=1e-7)
    assert res.mu.ci_lb == pytest.approx(post.ppf(0.025), rel=1e-7)


def test_non_existing_moments_are_inf():
    # k = 2, half-Cauchy, flat mu: p(tau|y) ~ tau^-3 → E[tau] finite, E[tau²] infinite
    res = pool_bayes([0.1, 0.5], [0.2, 0.3], tau_prior="halfcauchy:0.5")
    assert math.isfinite(res.tau.mean) and res.tau.sd == math.inf
    assert res.mu.sd == math.inf and res.theta_new.sd == math.inf
    assert math.isfinite(res.mu.median) and math.isfinite(res.tau.ci_ub)
    assert res.to_dict()["tau"]["sd"] == "inf"
    assert "inf" in res.summary()
    # a normal prior on mu makes mu's moments exist, not theta_new's (k = 1: tau^-3 tail)
    res = pool_bayes([0.1], [0.2], tau_prior="halfcauchy:0.5", mu_prior=("normal", 0, 1))
    assert math.isfinite(res.mu.sd) and res.theta_new.sd == math.inf and res.tau.sd == math.inf
    assert math.isfinite(res.theta_new.mean)
    # k = 1, half-Cauchy: even the mean of tau does not exist
    res = pool_bayes([0.1], [0.2], tau_prior="halfcauchy:0.5")
    assert res.tau.mean == math.inf and res.mu.mean == math.inf
    # k = 4 with half-Cauchy: all finite
    res = pool_bayes(Y[:4], SE[:4], tau_prior="halfcauchy:0.5")
    assert all(math.isfinite(getattr(res, p).sd) for p in ("mu", "tau", "theta_new"))


def test_heavy_tailed_quantiles_match_tail_integral():
    # k = 1, half-Cauchy(0.5): tau | y is the prior; its quantiles are 0.5·tan(π p / 2)
    res = pool_bayes([0.1], [0.2], tau_prior="halfcauchy:0.5")
    assert res.tau.median == pytest.approx(0.5, rel=1e-8)
    assert res.tau.ci_ub == pytest.approx(0.5 * math.tan(math.pi * 0.975 / 2), rel=1e-6)


@pytest.mark.parametrize(
    "prior",
    ["halfnormal:1", "halfcauchy:0.3", "halfstudent:0.5,3", "uniform:2", "loguniform:0.01,2",
     "jeffreys", "uniform"],
)  # fmt: skip
def test_every_prior_runs_and_is_coherent(prior):
    res = pool_bayes(Y, SE, tau_prior=prior)
    for p in ("mu", "tau", "theta_new"):
        s = getattr(res, p)
        assert s.ci_lb < s.median < s.ci_ub
        assert s.hpd_lb <= s.median <= s.hpd_ub or p == "tau"
        assert res.prob_below(s.median, p) == pytest.approx(0.5, abs=1e-9)
    x, d = res.densities["tau"]
    assert len(x) == len(d) and np.all(d >= 0)


def test_prior_parsing_and_refusals():
    assert parse_tau_prior("halfnormal:0.5") == ("halfnormal", 0.5)
    assert parse_tau_prior(("Half-Cauchy", 1)) == ("halfcauchy", 1.0)
    assert parse_tau_prior("uniform") == ("uniform", math.inf)
    for bad, fragment in (
        ("gamma:1", "not supported"),
        ("halfnormal", "takes 1 parameter"),
        ("halfnormal:-1", "positive"),
        ("loguniform:2,1", "lower < upper"),
    ):
        with pytest.raises(InputError, match=fragment):
            parse_tau_prior(bad)
    with pytest.raises(InputError, match="improper"):
        pool_bayes([0.1, 0.2], [0.1, 0.1], tau_prior="uniform")
    with pytest.raises(InputError, match="sei must be > 0"):
        pool_bayes([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(InputError, match="mu_prior"):
        pool_bayes([0.1, 0.2], [0.1, 0.1], mu_prior=("cauchy", 0, 1))
    with pytest.raises(InputError, match="one per study"):
        pool_bayes([0.1, 0.2], [0.1])


def test_outputs():
    res = pool_bayes(Y, SE, measure="SMD")
    d = res.to_dict()
    assert d["mu"]["median"] == res.mu.median and d["tau_prior"] == ["halfnormal", 0.5]
    frame = res.to_frame()
    assert list(frame.index) == ["mu", "tau", "theta_new"] and "hpd_lb" in frame.columns
    text = res.summary()
    assert "SMD scale" in text and "P(mu < 0)" in text
    fig = res.plot()
    assert len(fig.axes) == 2
    with pytest.raises(InputError):
        res.prob_below(0.0, "sigma")


def test_wide_bounded_prior_matches_the_improper_one():
    # uniform on [0, 50] and on [0, ∞) differ only by the posterior mass beyond 50
    # (∝ ∫ τ^-4 dτ there, k = 5): medians and intervals agree to 1e-5
    a = pool_bayes(Y, SE, tau_prior="uniform")
    b = pool_bayes(Y, SE, tau_prior="uniform:50")
    for p in ("mu", "tau"):
        for f in ("median", "ci_lb", "ci_ub", "hpd_ub"):
            assert getattr(getattr(a, p), f) == pytest.approx(getattr(getattr(b, p), f), abs=1e-5)
