"""Means and SDs from reported medians, quartiles and ranges (five-number summaries).

Single-arm stem-cell studies often report a median with a range or an interquartile range.
:func:`fivenum_to_mean_sd` estimates the sample mean and SD from one of three scenarios

* S1: minimum a, median m, maximum b, sample size n;
* S2: first quartile q₁, median m, third quartile q₃, n;
* S3: all five numbers and n;

by one of four deterministic methods (no Monte Carlo: the same input always gives the same
numbers).

``luo-wan`` (default; metafor ``conv.fivenum``'s default "luo/wan/shi" with ``dist="norm"``)
    Mean, Luo et al. (2018), with w = 4/(4 + n^0.75) (S1), w = 0.7 + 0.39/n (S2) and
    w₁ = 2.2/(2.2 + n^0.75), w₂ = 0.7 − 0.72/n^0.55 (S3)::

        S1: w·(a + b)/2 + (1 − w)·m
        S2: w·(q₁ + q₃)/2 + (1 − w)·m
        S3: w₁·(a + b)/2 + w₂·(q₁ + q₃)/2 + (1 − w₁ − w₂)·m

    SD, Wan et al. (2014) with ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25)) and
    η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25)): S1 (b − a)/ξ(n), S2 (q₃ − q₁)/η(n); S3 Shi et al.
    (2020), w = 1/(1 + 0.07·n^0.6): w·(b − a)/ξ(n) + (1 − w)·(q₃ − q₁)/η(n).
    Assumes roughly normal data; the skewness test of Shi et al. (as metafor's ``test=TRUE``)
    is computed and a significant result is stated in the note (metafor would return NA).
``hozo`` (Hozo et al. 2005; S1 only)
    Mean (a + 2m + b)/4 for n ≤ 25, else m. SD √(((a − 2m + b)²/4 + (b − a)²)/12) for
    n ≤ 15, (b − a)/4 for 15 < n ≤ 70, (b − a)/6 for n > 70 (metafor ``method="hozo2005"``).
``qe`` (quantile estimation; McGrath et al. 2020)
    Fits the normal and, when no quantile is negative, the log-normal, gamma, Weibull and
    (quantiles within [0, 1]) beta distributions by least squares between the reported
    quantiles and the distribution's quantiles at p = 1/n, 0.25, 0.5, 0.75, 1 − 1/n (only
    those reported); the mean and SD are those of the best-fitting distribution (smallest
    sum of squares). The fit is solved to convergence, not with estmeansd's box constraints,
    so results may differ from estmeansd's ``qe.mean.sd`` in the 4th significant digit.
``bc`` (Box–Cox; McGrath et al. 2020)
    Chooses the Box–Cox power λ ∈ [0, 3] that makes the transformed quantiles most
    symmetric about the median, estimates the mean μ and SD σ of the transformed data by
    Luo/Wan, and back-transforms by numerical integration over N(μ, σ²) truncated
    symmetrically to the support of the inverse transform (λ = 0: the log-normal moments).
    Needs every quantile > 0 (a zero cannot be transformed: refused with an InputError).

References
----------
Hozo SP, Djulbegovic B, Hozo I (2005). BMC Med Res Methodol 5:13.
Wan X, Wang W, Liu J, Tong T (2014). BMC Med Res Methodol 14:135.
Luo D, Wan X, Liu J, Tong T (2018). Stat Methods Med Res 27:1785–1805.
Shi J, Luo D, Weng H, et al. (2020). Res Synth Methods 11:641–654.
McGrath S, Zhao X, Steele R, et al. (2020). Stat Methods Med Res 29:2520–2537.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import integrate, optimize, special, stats

from sci_evidence.errors import InputError
from sci_evidence.meta.validation import check_option

__all__ = [
    "FIVENUM_METHODS",
    "FivenumEstimate",
    "fivenum_to_mean_sd",
    "fivenum_to_mean_sd_frame",
]

#: Methods of :func:`fivenum_to_mean_sd`.
FIVENUM_METHODS = ("luo-wan", "hozo", "qe", "bc")

_NAMES = ("min", "q1", "median", "q3", "max")


@dataclass(frozen=True)
class FivenumEstimate:
    """Estimated sample mean and SD from a five-number summary.

    ``scenario`` is "S1" (min, median, max), "S2" (quartiles and median) or "S3" (all
    five); ``note`` states the method's assumption and anything the user should know
    (a significant skewness test, the distribution chosen by QE, λ of Box–Cox);
    ``details`` holds the method's intermediate numbers.
    """

    mean: float
    sd: float
    method: str
    scenario: str
    n: float
    note: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"mean = {self.mean:.4g}, SD = {self.sd:.4g} (n = {self.n:g}, scenario "
            f"{self.scenario}, method {self.method}): {self.note}"
        )

    def __repr__(self) -> str:
        return f"FivenumEstimate({self.summary()})"


# ---- shared pieces -------------------------------------------------------------------------


def _xi(n: float) -> float:
    return 2.0 * float(special.ndtri((n - 0.375) / (n + 0.25)))


def _eta(n: float) -> float:
    return 2.0 * float(special.ndtri((0.75 * n - 0.125) / (n + 0.25)))


def _luo_mean(q: dict[str, float], n: float, scenario: str) -> float:
    a, m, b = q.get("min"), q["median"], q.get("max")
    if scenario == "S1":
        w = 4.0 / (4.0 + n**0.75)
        return w * (a + b) / 2.0 + (1.0 - w) * m
    if scenario == "S2":
        w = 0.7 + 0.39 / n
        return w * (q["q1"] + q["q3"]) / 2.0 + (1.0 - w) * m
    w1 = 2.2 / (2.2 + n**0.75)
    w2 = 0.7 - 0.72 / n**0.55
    return w1 * (a + b) / 2.0 + w2 * (q["q1"] + q["q3"]) / 2.0 + (1.0 - w1 - w2) * m


def _wan_sd(q: dict[str, float], n: float, scenario: str, *, s3: str = "shi") -> float:
    if scenario == "S1":
        return (q["max"] - q["min"]) / _xi(n)
    if scenario == "S2":
        return (q["q3"] - q["q1"]) / _eta(n)
    rng, iqr = (q["max"] - q["min"]) / _xi(n), (q["q3"] - q["q1"]) / _eta(n)
    if s3 == "wan":  # Wan et al. (2014) eq. 13, as estmeansd's Box-Cox step uses
        return 0.5 * (rng + iqr)
    w = 1.0 / (1.0 + 0.07 * n**0.6)  # Shi et al. (2020) eq. 10
    return w * rng + (1.0 - w) * iqr


def _skewness_test(q: dict[str, float], n: float, scenario: str) -> tuple[float, float]:
    """Shi et al.'s test statistic and critical value (metafor ``conv.fivenum``)."""
    a, m, b = q.get("min"), q["median"], q.get("max")
    if scenario == "S1":
        t = abs((a + b - 2 * m) / (b - a)) if b > a else 0.0
        return t, 1.0 / math.log(n + 9) + 2.5 / (n + 1)
    q1, q3 = q.get("q1"), q.get("q3")
    t2 = abs((q1 + q3 - 2 * m) / (q3 - q1)) if q3 > q1 else 0.0
    if scenario == "S2":
        return t2, 2.65 / math.sqrt(n) - 6.0 / n**2
    t1 = abs((a + b - 2 * m) / (b - a)) if b > a else 0.0
    t = max(2.65 * math.log(0.6 * n) / math.sqrt(n) * t1, t2)
    return t, 3.0 / math.sqrt(n) - 40.0 / n**3


def _scenario(q: dict[str, float | None]) -> str:
    has = {k for k, v in q.items() if v is not None}
    if has == {"min", "median", "max"}:
        return "S1"
    if has == {"q1", "median", "q3"}:
        return "S2"
    if has == set(_NAMES):
        return "S3"
    given = ", ".join(k for k in _NAMES if k in has) or "nothing"
    raise InputError(
        "give the median with min and max (S1), with q1 and q3 (S2), or with all four (S3); "
        f"got {given}"
    )


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number", column=name, value=value) from None
    if math.isnan(x):
        return None
    if not math.isfinite(x):
        raise InputError(f"{name} must be finite", column=name, value=value)
    return x


# ---- methods -------------------------------------------------------------------------------


def _luo_wan(q, n, scenario):
    t, crit = _skewness_test(q, n, scenario)
    note = "assumes roughly normal data (Luo 2018 mean, "
    note += "Shi 2020 SD)" if scenario == "S3" else "Wan 2014 SD)"
    if t >= crit:
        note += (
            f"; the skewness test of Shi et al. is significant ({t:.3f} >= {crit:.3f}), "
            "so normality is doubtful: consider method 'qe' or 'bc' (metafor returns NA here)"
        )
    details = {"skew_stat": t, "skew_crit": crit, "skewed": bool(t >= crit)}
    return _luo_mean(q, n, scenario), _wan_sd(q, n, scenario), note, details


def _hozo(q, n, scenario):
    if scenario != "S1":
        raise InputError(
            "method 'hozo' needs exactly min, median and max (Hozo et al. 2005); use 'luo-wan', "
            "'qe' or 'bc' for quartiles"
        )
    a, m, b = q["min"], q["median"], q["max"]
    mean = (a + 2 * m + b) / 4.0 if n <= 25 else m
    if n <= 15:
        sd = math.sqrt(((a - 2 * m + b) ** 2 / 4.0 + (b - a) ** 2) / 12.0)
        rule = "n <= 15: SD from the range formula"
    elif n <= 70:
        sd, rule = (b - a) / 4.0, "15 < n <= 70: SD = range/4"
    else:
        sd, rule = (b - a) / 6.0, "n > 70: SD = range/6"
    mean_rule = "n <= 25: mean = (min + 2 median + max)/4" if n <= 25 else "n > 25: mean = median"
    note = f"distribution-free bounds of Hozo 2005 ({mean_rule}; {rule})"
    return mean, sd, note, {}


def _qe_families(values):
    fams = {
        "normal": (
            lambda th, p: th[0] + th[1] * special.ndtri(p),
            lambda th: (th[0], th[1]),
        ),
    }
    if min(values) >= 0:
        fams["log-normal"] = (
            lambda th, p: np.exp(th[0] + th[1] * special.ndtri(p)),
            lambda th: (
                math.exp(th[0] + th[1] ** 2 / 2),
                math.sqrt(math.expm1(th[1] ** 2) * math.exp(2 * th[0] + th[1] ** 2)),
            ),
        )
        fams["gamma"] = (
            lambda th, p: special.gammaincinv(th[0], p) / th[1],
            lambda th: (th[0] / th[1], math.sqrt(th[0]) / th[1]),
        )
        fams["weibull"] = (
            lambda th, p: th[1] * (-np.log1p(-p)) ** (1.0 / th[0]),
            lambda th: (
                th[1] * math.gamma(1 + 1 / th[0]),
                th[1]
                * math.sqrt(max(math.gamma(1 + 2 / th[0]) - math.gamma(1 + 1 / th[0]) ** 2, 0)),
            ),
        )
        if max(values) <= 1:
            fams["beta"] = (
                lambda th, p: special.betaincinv(th[0], th[1], p),
                lambda th: (
                    th[0] / (th[0] + th[1]),
                    math.sqrt(th[0] * th[1] / ((th[0] + th[1]) ** 2 * (th[0] + th[1] + 1))),
                ),
            )
    return fams


def _qe_start(family, mean, sd):
    cv2 = (sd / mean) ** 2 if mean > 0 else 1.0
    if family == "normal":
        return [mean, sd]
    if family == "log-normal":
        return [math.log(mean / math.sqrt(1 + cv2)), math.sqrt(math.log1p(cv2))]
    if family == "gamma":
        return [1 / cv2, mean / sd**2]
    if family == "weibull":
        k = (
            optimize.brentq(
                lambda k: math.gamma(1 + 2 / k) / math.gamma(1 + 1 / k) ** 2 - 1 - cv2, 0.05, 500
            )
            if 1e-6 < cv2 < 1e3
            else 1.0
        )
        return [k, mean / math.gamma(1 + 1 / k)]
    s = mean * (1 - mean) / sd**2 - 1
    return [max(mean * s, 0.05), max((1 - mean) * s, 0.05)]


def _qe(q, n, scenario):
    if scenario == "S1":
        keys, probs = ("min", "median", "max"), (1 / n, 0.5, 1 - 1 / n)
    elif scenario == "S2":
        keys, probs = ("q1", "median", "q3"), (0.25, 0.5, 0.75)
    else:
        keys, probs = _NAMES, (1 / n, 0.25, 0.5, 0.75, 1 - 1 / n)
    target = np.array([q[k] for k in keys])
    p = np.array(probs)
    scale = max(float(np.ptp(target)), abs(float(target[len(target) // 2])), 1e-12)
    m0, s0 = _luo_mean(q, n, scenario), max(_wan_sd(q, n, scenario), 1e-6 * scale)
    fits = {}
    for name, (quantile, moments) in _qe_families(target.tolist()).items():
        # positive parameters are optimised on the log scale (normal: the mean is free)
        free = 1 if name == "normal" else 0

        def unpack(z, free=free):
            return [z[0] if free else math.exp(z[0]), math.exp(z[1])]

        def resid(z, quantile=quantile, unpack=unpack):
            with np.errstate(all="ignore"):
                r = (quantile(unpack(z), p) - target) / scale
            return np.where(np.isfinite(r), r, 1e6)

        try:
            start = _qe_start(name, m0, s0)
            z0 = [start[0] if free else math.log(start[0]), math.log(start[1])]
            sol = optimize.least_squares(resid, z0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
            theta = unpack(sol.x)
            value = float(np.sum((quantile(theta, p) - target) ** 2))
            mean, sd = moments(theta)
        except (ValueError, OverflowError, ZeroDivisionError, FloatingPointError):
            continue
        if math.isfinite(value) and math.isfinite(mean) and math.isfinite(sd):
            fits[name] = {"params": [float(t) for t in theta], "ssq": value, "mean": mean, "sd": sd}
    best = min(fits, key=lambda k: fits[k]["ssq"])
    note = (
        f"best-fitting distribution by quantile least squares: {best} "
        f"(of {', '.join(fits)}; McGrath 2020)"
    )
    return fits[best]["mean"], fits[best]["sd"], note, {"selected": best, "fits": fits}


def _boxcox(x, lam):
    x = np.asarray(x, dtype=float)
    return np.log(x) if lam == 0 else (x**lam - 1.0) / lam


def _bc(q, n, scenario):
    bad = [k for k in _NAMES if q.get(k) is not None and q[k] <= 0]
    if bad:
        raise InputError(
            f"method 'bc' (Box-Cox) needs every value > 0, but {bad[0]} = {q[bad[0]]:g}; "
            "use method 'qe' or 'luo-wan' for data with zeros or negatives"
        )
    keys = {"S1": ("min", "median", "max"), "S2": ("q1", "median", "q3"), "S3": _NAMES}[scenario]
    vals = np.array([q[k] for k in keys])

    def asymmetry(lam):
        t = dict(zip(keys, _boxcox(vals, lam), strict=True))
        out = 0.0
        if "q1" in t:
            out += ((t["q3"] - t["median"]) / (t["median"] - t["q1"]) - 1) ** 2
        if "min" in t:
            out += ((t["max"] - t["median"]) / (t["median"] - t["min"]) - 1) ** 2
        return out

    degenerate = any(
        q.get(lo) is not None and not (q[lo] < q["median"] < q[hi])
        for lo, hi in (("min", "max"), ("q1", "q3"))
    )
    if degenerate:
        raise InputError(
            "method 'bc' needs the median strictly inside the range and the quartiles "
            "(the transformation is chosen from their ratio); use 'luo-wan' or 'qe'"
        )
    if asymmetry(0.0) < 1e-8:
        lam = 0.0
    else:
        res = optimize.minimize_scalar(
            asymmetry, bounds=(-2.0, 3.0), method="bounded", options={"xatol": 1e-10}
        )
        lam = max(0.0, float(res.x))  # λ < 0 is rounded to 0 (log), as McGrath et al.
        if abs(lam) < 1e-8:
            lam = 0.0
    tq = dict(zip(keys, _boxcox(vals, lam).tolist(), strict=True))
    mu = _luo_mean(tq, n, scenario)
    sigma = _wan_sd(tq, n, scenario, s3="wan")
    if lam == 0.0:
        mean = math.exp(mu + sigma**2 / 2)
        sd = math.sqrt(math.expm1(sigma**2) * math.exp(2 * mu + sigma**2))
    else:
        # the inverse (λy + 1)^(1/λ) needs y > −1/λ; truncate N(μ, σ²) symmetrically about μ
        lo, hi = sorted((-1.0 / lam, 2 * mu + 1.0 / lam))
        mass = stats.norm.cdf(hi, mu, sigma) - stats.norm.cdf(lo, mu, sigma)

        def inv(y):
            return max(lam * y + 1.0, 0.0) ** (1.0 / lam)

        def moment(fn):
            val, _ = integrate.quad(
                lambda y: fn(inv(y)) * stats.norm.pdf(y, mu, sigma),
                lo,
                hi,
                points=[mu],
                epsabs=0.0,
                epsrel=1e-11,
                limit=200,
            )
            return val / mass

        mean = moment(lambda x: x)
        sd = math.sqrt(max(moment(lambda x: (x - mean) ** 2), 0.0))
    note = (
        f"normal after a Box-Cox transformation with lambda = {lam:.4g} "
        "(McGrath 2020; mean and SD by numerical integration)"
    )
    return mean, sd, note, {"lambda": lam, "location": mu, "scale": sigma}


_METHODS = {"luo-wan": _luo_wan, "hozo": _hozo, "qe": _qe, "bc": _bc}


def fivenum_to_mean_sd(
    *,
    min: Any = None,  # noqa: A002 - the statistic's name, as metafor's conv.fivenum
    q1: Any = None,
    median: Any,
    q3: Any = None,
    max: Any = None,  # noqa: A002
    n: Any,
    method: str = "luo-wan",
) -> FivenumEstimate:
    """Estimate a sample mean and SD from its median, quartiles and/or range.

    Parameters
    ----------
    min, q1, median, q3, max : float
        The reported summary; give the median with min and max (S1), with q1 and q3 (S2),
        or with all four (S3). ``None`` or NaN means not reported.
    n : float
        Sample size (≥ 3).
    method : {"luo-wan", "hozo", "qe", "bc"}, default "luo-wan"
        See the module documentation for the formulas and their references.

    Returns
    -------
    FivenumEstimate
        ``mean``, ``sd``, ``method``, ``scenario``, an assumption ``note`` and ``details``.

    Raises
    ------
    InputError
        An incomplete summary, values out of order (min ≤ q1 ≤ median ≤ q3 ≤ max), n < 3,
        or a case the method cannot handle (Hozo with quartiles, Box–Cox with a value ≤ 0).
    """
    method = check_option("method", method, FIVENUM_METHODS)
    q = {k: _number(k, v) for k, v in zip(_NAMES, (min, q1, median, q3, max), strict=True)}
    if q["median"] is None:
        raise InputError("the median is required", column="median")
    scenario = _scenario(q)
    nn = _number("n", n)
    if nn is None or nn < 3:
        raise InputError("n must be at least 3 (the sample size)", column="n", value=n)
    given = [(k, q[k]) for k in _NAMES if q[k] is not None]
    for (k1, v1), (k2, v2) in zip(given, given[1:], strict=False):
        if v1 > v2:
            raise InputError(
                f"{k1} = {v1:g} exceeds {k2} = {v2:g}; need min <= q1 <= median <= q3 <= max"
            )
    qq = {k: v for k, v in q.items() if v is not None}
    mean, sd, note, details = _METHODS[method](qq, nn, scenario)
    return FivenumEstimate(
        mean=float(mean),
        sd=float(sd),
        method=method,
        scenario=scenario,
        n=nn,
        note=note,
        details=details,
    )


def fivenum_to_mean_sd_frame(
    frame: Any,
    *,
    method: str = "luo-wan",
    columns: dict[str, str] | None = None,
    mean_column: str = "mean",
    sd_column: str = "sd",
):
    """Add estimated means and SDs to a DataFrame with one summary per row.

    ``frame`` has columns ``min, q1, median, q3, max, n`` (renamed via ``columns``, e.g.
    ``{"median": "med"}``; absent columns or empty cells mean not reported). Rows that
    already have both ``mean_column`` and ``sd_column`` keep them (method "reported"); in
    the others the missing value(s) are estimated and a reported one is kept (the note says
    so). Two columns are added: ``mean_sd_method`` (the method used, or
    "reported") and ``mean_sd_note`` (its assumption note). Returns a new DataFrame.

    Raises
    ------
    InputError
        Naming the row (1-based, header = row 1 as in a CSV) and column of the first row
        that has neither a reported mean and SD nor a usable summary.
    """
    import pandas as pd

    method = check_option("method", method, FIVENUM_METHODS)
    cols = {k: k for k in (*_NAMES, "n")}
    cols.update(columns or {})
    out = pd.DataFrame(frame).copy()
    k = len(out)

    def col(name):
        c = cols[name]
        if c not in out.columns:
            return [None] * k
        return pd.to_numeric(out[c], errors="coerce").tolist(), out[c].tolist()

    means = (
        pd.to_numeric(out[mean_column], errors="coerce").tolist()
        if mean_column in out
        else [math.nan] * k
    )
    sds = (
        pd.to_numeric(out[sd_column], errors="coerce").tolist()
        if sd_column in out
        else [math.nan] * k
    )
    data = {}
    for name in (*_NAMES, "n"):
        got = col(name)
        if isinstance(got, tuple):
            num, raw = got
            for i, (x, r) in enumerate(zip(num, raw, strict=True)):
                if (x is None or math.isnan(x)) and not (
                    r is None or pd.isna(r) or str(r).strip() == ""
                ):
                    raise InputError("not a number", row=i + 2, column=cols[name], value=r)
            data[name] = num
        else:
            data[name] = got
    methods, notes = [], []
    for i in range(k):
        if not (math.isnan(means[i]) or math.isnan(sds[i])):
            methods.append("reported")
            notes.append("")
            continue
        try:
            est = fivenum_to_mean_sd(
                **{nm: data[nm][i] for nm in _NAMES}, n=data["n"][i], method=method
            )
        except InputError as exc:
            raise InputError(
                exc.reason,
                row=i + 2,
                column=exc.column and cols.get(exc.column, exc.column),
                value=exc.value,
            ) from None
        # a reported value is kept; only the missing one is estimated (metafor's "ifna")
        kept = [name for name, v in (("mean", means[i]), ("SD", sds[i])) if not math.isnan(v)]
        if math.isnan(means[i]):
            means[i] = est.mean
        if math.isnan(sds[i]):
            sds[i] = est.sd
        methods.append(est.method)
        notes.append(est.note + "".join(f"; {name} as reported" for name in kept))
    out[mean_column] = means
    out[sd_column] = sds
    out["mean_sd_method"] = methods
    out["mean_sd_note"] = notes
    return out
