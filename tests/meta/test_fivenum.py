"""Means and SDs from medians, quartiles and ranges: closed forms pinned to R, published
metafor conv.fivenum and estmeansd values, exact recovery for known distributions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sci_evidence.errors import InputError
from sci_evidence.meta import fivenum_to_mean_sd, fivenum_to_mean_sd_frame

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "small_k" / "fivenum.json"
CASES = json.loads(FIXTURE.read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['median']}@n={c['n']}")
def test_closed_forms_against_r(case):
    a, q1, m, q3, b, n = (case[k] for k in ("min", "q1", "median", "q3", "max", "n"))
    s1 = fivenum_to_mean_sd(min=a, median=m, max=b, n=n)
    s2 = fivenum_to_mean_sd(q1=q1, median=m, q3=q3, n=n)
    s3 = fivenum_to_mean_sd(min=a, q1=q1, median=m, q3=q3, max=b, n=n)
    hz = fivenum_to_mean_sd(min=a, median=m, max=b, n=n, method="hozo")
    for est, key in ((s1, "S1"), (s2, "S2"), (s3, "S3"), (hz, "hozo")):
        assert est.mean == pytest.approx(case[key][0], rel=1e-13, abs=1e-13)
        assert est.sd == pytest.approx(case[key][1], rel=1e-13)
    assert (s1.scenario, s2.scenario, s3.scenario) == ("S1", "S2", "S3")


# metafor 4.4 conv.fivenum(..., test=FALSE), printed with 17 digits in a public test suite
# (min 2, q1 6, median 9, q3 17, max 41): (mean, SD) for S1 and S2 and the S3 mean.
METAFOR_44 = {
    7: {"S1": (15.021544795358952, 14.29106691143328), "S2": (10.889285714285714, 10.103962147784886),
        "S3": 14.361220613598714},
    30: {"S1": (11.972897250696676, 9.5575055212413016), "S2": (10.782500000000001, 8.5626224066574625),
         "S3": 12.3038216208361},
    100: {"S1": (10.403596372036779, 7.804399930371213), "S2": (10.75975, 8.2742542328822122),
          "S3": 11.420082492316839},
}  # fmt: skip


@pytest.mark.parametrize("n", sorted(METAFOR_44))
def test_published_metafor_values(n):
    ref = METAFOR_44[n]
    s1 = fivenum_to_mean_sd(min=2, median=9, max=41, n=n)
    s2 = fivenum_to_mean_sd(q1=6, median=9, q3=17, n=n)
    s3 = fivenum_to_mean_sd(min=2, q1=6, median=9, q3=17, max=41, n=n)
    assert (s1.mean, s1.sd) == pytest.approx(ref["S1"], rel=1e-12)
    assert (s2.mean, s2.sd) == pytest.approx(ref["S2"], rel=1e-12)
    assert s3.mean == pytest.approx(ref["S3"], rel=1e-12)


def test_hozo_published_small_n_rule():
    # metafor conv.fivenum(method="hozo2005"), n = 20: mean (a + 2m + b)/4 = 20, SD range/4
    est = fivenum_to_mean_sd(min=0, median=15, max=50, n=20, method="hozo")
    assert (est.mean, est.sd) == (20.0, 12.5)
    assert fivenum_to_mean_sd(min=0, median=15, max=50, n=26, method="hozo").mean == 15.0


def test_qe_matches_estmeansd_readme():
    # estmeansd README: qe.mean.sd(min.val=2, med.val=4, max.val=9, n=100) -> 4.347284, 1.502171
    # (estmeansd stops L-BFGS-B at its default tolerance; we solve to convergence: the two
    # agree to 1e-5 relative)
    est = fivenum_to_mean_sd(min=2, median=4, max=9, n=100, method="qe")
    assert est.mean == pytest.approx(4.347284, rel=1e-5)
    assert est.sd == pytest.approx(1.502171, rel=1e-5)
    assert est.details["selected"] == "log-normal"


def test_bc_agrees_with_estmeansd_readme_within_its_monte_carlo_error():
    # estmeansd README (Monte Carlo with n + 1000 draws): 4.204881, 1.277236; the Monte Carlo
    # SE of that mean is about 1.3/sqrt(1100) = 0.04.
    est = fivenum_to_mean_sd(min=2, median=4, max=9, n=100, method="bc")
    assert est.mean == pytest.approx(4.204881, abs=0.04 * 3)
    assert est.sd == pytest.approx(1.277236, abs=0.1)
    assert est.details["lambda"] == 0.0  # right-skewed beyond log-symmetry: λ < 0 → 0


@pytest.mark.parametrize("scenario", ["S1", "S2", "S3"])
def test_qe_recovers_exact_normal_and_lognormal(scenario):
    n = 200
    probs = {"S1": (1 / n, 0.5, 1 - 1 / n), "S2": (0.25, 0.5, 0.75)}.get(
        scenario, (1 / n, 0.25, 0.5, 0.75, 1 - 1 / n)
    )
    keys = {"S1": ("min", "median", "max"), "S2": ("q1", "median", "q3")}.get(
        scenario, ("min", "q1", "median", "q3", "max")
    )
    norm = dict(zip(keys, stats.norm.ppf(probs, 10, 2), strict=True))
    est = fivenum_to_mean_sd(**norm, n=n, method="qe")
    assert est.details["selected"] == "normal"
    assert (est.mean, est.sd) == pytest.approx((10.0, 2.0), rel=1e-8)
    ln = stats.lognorm(s=0.8, scale=math.exp(1.0))
    est = fivenum_to_mean_sd(**dict(zip(keys, ln.ppf(probs), strict=True)), n=n, method="qe")
    assert est.details["selected"] == "log-normal"
    assert (est.mean, est.sd) == pytest.approx((ln.mean(), ln.std()), rel=1e-7)


def test_bc_log_symmetric_data_are_lognormal():
    # quantiles symmetric on the log scale: λ = 0 and the log-normal moments of Luo/Wan's
    # estimates on the log scale
    q1, m, q3 = math.exp(1.0), math.exp(1.5), math.exp(2.0)
    est = fivenum_to_mean_sd(q1=q1, median=m, q3=q3, n=50, method="bc")
    assert est.details["lambda"] == 0.0
    mu = fivenum_to_mean_sd(q1=1.0, median=1.5, q3=2.0, n=50)
    assert est.mean == pytest.approx(math.exp(mu.mean + mu.sd**2 / 2), rel=1e-12)


def test_bc_positive_lambda_uses_the_truncated_normal_integral():
    # quantiles of a squared normal (λ = 1/2 symmetric): back-transform by integration
    z = stats.norm.ppf([0.25, 0.5, 0.75], 6.0, 1.0)
    q1, m, q3 = (z / 2 + 1) ** 2  # inverse Box-Cox with λ = 1/2 of y = z
    est = fivenum_to_mean_sd(q1=q1, median=m, q3=q3, n=10_000, method="bc")
    assert est.details["lambda"] == pytest.approx(0.5, abs=1e-6)
    y = np.linspace(-2, 14, 400_001)  # dense-grid check of the integral (truncation at −2)
    loc, sc = est.details["location"], est.details["scale"]
    w = stats.norm.pdf(y, loc, sc)
    x = (y / 2 + 1) ** 2
    mean = np.trapezoid(x * w, y) / np.trapezoid(w, y)
    assert est.mean == pytest.approx(mean, rel=1e-8)


def test_skewness_flagged_in_note():
    est = fivenum_to_mean_sd(min=0, q1=10, median=15, q3=22, max=50, n=100)
    assert est.details["skewed"] and "skewness test" in est.note
    est = fivenum_to_mean_sd(q1=9, median=10, q3=11, n=100)
    assert not est.details["skewed"] and "skewness" not in est.note


@pytest.mark.parametrize(
    "kw, fragment",
    [
        ({"min": 0, "median": 3, "max": 9, "n": 20, "method": "bc"}, "needs every value > 0"),
        ({"q1": 1, "median": 3, "q3": 9, "n": 20, "method": "hozo"}, "exactly min, median and max"),
        ({"min": 1, "median": 3, "n": 20}, "give the median with min and max"),
        ({"min": 5, "median": 3, "max": 9, "n": 20}, "min = 5 exceeds median = 3"),
        ({"min": 1, "median": 3, "max": 9, "n": 2}, "n must be at least 3"),
        ({"min": 1, "median": 3, "max": 9, "n": 20, "method": "mc"}, "method='mc'"),
        ({"min": 1, "median": "x", "max": 9, "n": 20}, "median must be a number"),
    ],
)
def test_refusals(kw, fragment):
    with pytest.raises(InputError) as exc:
        fivenum_to_mean_sd(**kw)
    assert fragment in str(exc.value)


def test_frame_form():
    df = pd.DataFrame(
        {
            "study": ["A", "B", "C"],
            "min": [2, None, None],
            "q1": [None, 6, None],
            "median": [9, 9, None],
            "q3": [None, 17, None],
            "max": [41, None, None],
            "n": [30, 30, 12],
            "mean": [None, None, 4.0],
            "sd": [None, None, 1.0],
        }
    )
    out = fivenum_to_mean_sd_frame(df)
    assert list(out["mean_sd_method"]) == ["luo-wan", "luo-wan", "reported"]
    assert out.loc[0, "mean"] == pytest.approx(METAFOR_44[30]["S1"][0], rel=1e-12)
    assert out.loc[1, "sd"] == pytest.approx(METAFOR_44[30]["S2"][1], rel=1e-12)
    assert out.loc[2, "mean"] == 4.0 and out.loc[2, "mean_sd_note"] == ""
    assert "mean_sd_method" not in df  # the input is not modified
    bad = df.assign(n=[30, "many", 12])
    with pytest.raises(InputError) as exc:
        fivenum_to_mean_sd_frame(bad)
    assert "row 3" in str(exc.value) and "'n'" in str(exc.value)
    half = df.assign(mean=[7.5, None, 4.0])  # a reported mean without an SD: SD estimated
    out = fivenum_to_mean_sd_frame(half)
    assert out.loc[0, "mean"] == 7.5
    assert out.loc[0, "sd"] == pytest.approx(METAFOR_44[30]["S1"][1], rel=1e-12)
    assert out.loc[0, "mean_sd_note"].endswith("; mean as reported")
    missing = df.assign(mean=[None, None, None])
    with pytest.raises(InputError) as exc:
        fivenum_to_mean_sd_frame(missing)
    assert "row 4" in str(exc.value)
