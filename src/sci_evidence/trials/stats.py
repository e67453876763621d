"""Small exact statistics for trial analysis: proportion intervals, the Poisson–binomial
test, risk ratio and risk difference of two arms, and ANCOVA of a change score.

Pure functions over numbers and numpy arrays; results are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sci_evidence.errors import InputError

#: Intervals of a proportion that :func:`proportion_ci` computes.
CI_METHODS = ("clopper-pearson", "wilson")
_CI_METHODS = CI_METHODS


@dataclass(frozen=True)
class ProportionCI:
    """A share ``x / n`` with its confidence interval."""

    x: int
    n: int
    estimate: float
    ci_lb: float
    ci_ub: float
    method: str
    level: float

    def to_dict(self) -> dict:
        return asdict(self)


def proportion_ci(
    x: int, n: int, *, method: str = "clopper-pearson", level: float = 0.95
) -> ProportionCI:
    """Confidence interval of a binomial proportion.

    Parameters
    ----------
    x, n : int
        Successes and trials (``0 <= x <= n``; ``n = 0`` gives NaN).
    method : {"clopper-pearson", "wilson"}, default "clopper-pearson"
        Clopper–Pearson: the exact interval from beta quantiles,
        :math:`[B_{\\alpha/2}(x, n-x+1),\\ B_{1-\\alpha/2}(x+1, n-x)]` (R ``binom.test``).
        Wilson: the score interval without continuity correction (R ``prop.test(...,
        correct=FALSE)``).
    level : float, default 0.95
    """
    if method not in _CI_METHODS:
        raise InputError(f"method must be one of {_CI_METHODS}; got {method!r}")
    if not 0 <= x <= n:
        raise InputError(f"need 0 <= x <= n; got x={x}, n={n}")
    if n == 0:
        return ProportionCI(x, n, float("nan"), float("nan"), float("nan"), method, level)
    from scipy import stats as sps  # here, not at import: `trial design` never needs it

    alpha = 1 - level
    p = x / n
    if method == "clopper-pearson":
        lb = 0.0 if x == 0 else float(sps.beta.ppf(alpha / 2, x, n - x + 1))
        ub = 1.0 if x == n else float(sps.beta.ppf(1 - alpha / 2, x + 1, n - x))
    else:
        z = float(sps.norm.ppf(1 - alpha / 2))
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        # At x = 0 (x = n) the bound is exactly 0 (1); rounding would leave ~1e-17.
        lb = 0.0 if x == 0 else max(0.0, float(centre - half))
        ub = 1.0 if x == n else min(1.0, float(centre + half))
    return ProportionCI(int(x), int(n), p, lb, ub, method, level)


def poisson_binomial_pmf(p: np.ndarray) -> np.ndarray:
    """Distribution of the number of successes of independent Bernoulli(``p_i``) trials.

    Exact, by convolving the trials one at a time (O(n²)); entry ``k`` is ``P(X = k)``.
    """
    p = np.asarray(p, float)
    if np.any((p < 0) | (p > 1)) or np.any(~np.isfinite(p)):
        raise InputError("probabilities must lie in [0, 1]")
    pmf = np.zeros(p.size + 1)
    pmf[0] = 1.0
    for i, pi in enumerate(p):
        # New pmf[k] = pmf[k](1-p) + pmf[k-1] p; update from the top so values are not reused.
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1 - pi) + pmf[0 : i + 1] * pi
        pmf[0] *= 1 - pi
    return pmf


@dataclass(frozen=True)
class PoissonBinomialTest:
    """Observed successes against independent per-patient probabilities."""

    observed: int
    expected: float
    n: int
    pval: float
    alternative: str
    ratio: float  # observed / expected

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def poisson_binomial_test(
    observed: int, p: np.ndarray, *, alternative: str = "greater"
) -> PoissonBinomialTest:
    """Exact test of an observed number of successes against a Poisson–binomial null.

    Parameters
    ----------
    observed : int
        Number of patients who converted.
    p : array of float
        Each patient's probability of converting under the null (spontaneous recovery).
    alternative : {"greater", "less", "two-sided"}, default "greater"
        ``greater``: :math:`P(X \\ge x)`; ``less``: :math:`P(X \\le x)`; ``two-sided``: the
        sum of :math:`P(X = k)` over all k with :math:`P(X=k) \\le P(X=x)(1 + 10^{-7})`, the
        rule of R's ``binom.test``.
    """
    p = np.asarray(p, float)
    if not 0 <= observed <= p.size:
        raise InputError(f"observed must lie in 0..{p.size}; got {observed}")
    pmf = poisson_binomial_pmf(p)
    if alternative == "greater":
        pval = pmf[observed:].sum()
    elif alternative == "less":
        pval = pmf[: observed + 1].sum()
    elif alternative == "two-sided":
        pval = pmf[pmf <= pmf[observed] * (1 + 1e-7)].sum()
    else:
        raise InputError("alternative must be 'greater', 'less' or 'two-sided'")
    expected = float(p.sum())
    ratio = observed / expected if expected > 0 else float("nan")
    return PoissonBinomialTest(
        int(observed), expected, int(p.size), float(min(1.0, pval)), alternative, ratio
    )


@dataclass(frozen=True)
class TwoByTwoEffect:
    """Risk ratio or risk difference of arm 1 versus arm 2 (metafor ``escalc`` conventions).

    ``yi``/``vi`` are on the analysis scale (log RR, or RD), as ``escalc`` returns them;
    ``estimate, ci_lb, ci_ub`` are back-transformed (RR) or as is (RD).
    """

    measure: str
    ai: int
    n1: int
    ci: int
    n2: int
    yi: float
    vi: float
    estimate: float
    ci_lb: float
    ci_ub: float
    pval: float
    level: float
    corrected: bool

    def to_dict(self) -> dict:
        return asdict(self)


def two_by_two_effect(
    measure: str,
    ai: int,
    n1: int,
    ci: int,
    n2: int,
    *,
    add: float = 0.5,
    to: str = "only0",
    level: float = 0.95,
) -> TwoByTwoEffect:
    """Risk ratio (``"RR"``) or risk difference (``"RD"``) of events ``ai/n1`` vs ``ci/n2``.

    Notes
    -----
    As metafor's ``escalc``: with ``to="only0"`` (default) ``add`` (0.5) is added to all four
    cells when any cell is zero; ``to="all"`` always, ``to="none"`` never. Then

    * RR: :math:`y = \\log\\frac{a/n_1}{c/n_2}`, :math:`v = 1/a - 1/n_1 + 1/c - 1/n_2`;
    * RD: :math:`y = a/n_1 - c/n_2`, :math:`v = \\frac{p_1(1-p_1)}{n_1} +
      \\frac{p_2(1-p_2)}{n_2}`.

    The Wald interval is :math:`y \\pm z_{1-\\alpha/2}\\sqrt v` (exponentiated for RR).
    """
    if measure not in ("RR", "RD"):
        raise InputError("measure must be 'RR' or 'RD'")
    if to not in ("only0", "all", "none"):
        raise InputError("to must be 'only0', 'all' or 'none'")
    bi, di = n1 - ai, n2 - ci
    cells = np.array([ai, bi, ci, di], float)
    if np.any(cells < 0):
        raise InputError("events cannot exceed the number of patients")
    corrected = to == "all" or (to == "only0" and bool(np.any(cells == 0)))
    if corrected:
        cells = cells + add
    a, b, c, d = cells
    m1, m2 = a + b, c + d
    if measure == "RR":
        with np.errstate(divide="ignore", invalid="ignore"):
            yi = float(np.log((a / m1) / (c / m2)))
            vi = float(1 / a - 1 / m1 + 1 / c - 1 / m2)
    else:
        p1, p2 = a / m1, c / m2
        yi = float(p1 - p2)
        vi = float(p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2)
    from scipy import stats as sps  # here, not at import: `trial design` never needs it

    z = float(sps.norm.ppf(1 - (1 - level) / 2))
    se = np.sqrt(vi)
    lb, ub = yi - z * se, yi + z * se
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = float(2 * sps.norm.sf(abs(yi / se))) if se > 0 else float("nan")
    if measure == "RR":
        est, lb, ub = float(np.exp(yi)), float(np.exp(lb)), float(np.exp(ub))
    else:
        est = yi
    return TwoByTwoEffect(
        measure,
        int(ai),
        int(n1),
        int(ci),
        int(n2),
        yi,
        vi,
        est,
        float(lb),
        float(ub),
        pval,
        level,
        corrected,
    )


@dataclass(frozen=True)
class AncovaResult:
    """Treatment effect on a change score adjusted for the baseline score (OLS).

    Model: ``change ~ 1 + treated + baseline``; ``estimate`` is the ``treated`` coefficient.
    """

    estimate: float
    se: float
    stat: float
    df: int
    pval: float
    ci_lb: float
    ci_ub: float
    level: float
    n: int
    coefficients: dict[str, float]
    sigma: float

    def to_dict(self) -> dict:
        return asdict(self)


def ancova(
    change: np.ndarray, treated: np.ndarray, baseline: np.ndarray, *, level: float = 0.95
) -> AncovaResult:
    """ANCOVA of a change score on treatment, adjusted for the baseline score.

    Ordinary least squares of :math:`\\Delta_i = \\beta_0 + \\beta_1 T_i + \\beta_2 B_i +
    \\varepsilon_i` (R ``lm(change ~ treated + baseline)``), with the t test and interval of
    :math:`\\beta_1` on :math:`n - 3` degrees of freedom. Rows with a missing value are
    dropped.
    """
    y = np.asarray(change, float)
    t = np.asarray(treated, float)
    b = np.asarray(baseline, float)
    ok = np.isfinite(y) & np.isfinite(t) & np.isfinite(b)
    y, t, b = y[ok], t[ok], b[ok]
    n = y.size
    X = np.column_stack([np.ones(n), t, b])
    if n <= 3 or np.linalg.matrix_rank(X) < 3:
        raise InputError("ANCOVA needs more than 3 patients, both arms and varying baselines")
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    df = n - 3
    sigma2 = float(resid @ resid / df)
    cov = sigma2 * np.linalg.inv(X.T @ X)
    se = float(np.sqrt(cov[1, 1]))
    est = float(coef[1])
    stat = est / se if se > 0 else float("nan")
    from scipy import stats as sps  # here, not at import: `trial design` never needs it

    pval = float(2 * sps.t.sf(abs(stat), df))
    q = float(sps.t.ppf(1 - (1 - level) / 2, df))
    return AncovaResult(
        est,
        se,
        float(stat),
        int(df),
        pval,
        est - q * se,
        est + q * se,
        level,
        int(n),
        {"intercept": float(coef[0]), "treated": est, "baseline": float(coef[2])},
        float(np.sqrt(sigma2)),
    )


@dataclass(frozen=True)
class MeanCI:
    """Mean with a t interval (``mean ± t_{n-1} sd/√n``)."""

    n: int
    mean: float
    sd: float
    ci_lb: float
    ci_ub: float
    level: float

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def mean_ci(values: np.ndarray, *, level: float = 0.95) -> MeanCI:
    """Mean, SD (n−1) and t interval of the finite values (R ``t.test``)."""
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        nan = float("nan")
        return MeanCI(0, nan, nan, nan, nan, level)
    m = float(x.mean())
    if n == 1:
        return MeanCI(1, m, float("nan"), float("nan"), float("nan"), level)
    sd = float(x.std(ddof=1))
    from scipy import stats as sps  # here, not at import: `trial design` never needs it

    half = float(sps.t.ppf(1 - (1 - level) / 2, n - 1)) * sd / np.sqrt(n)
    return MeanCI(int(n), m, sd, m - half, m + half, level)
