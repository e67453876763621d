"""Trial statistics against R (tests/data/trials_reference.json, made by
tests/trials/reference/make_reference.R) and hand-computed values."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.trials.stats import (
    ancova,
    mean_ci,
    poisson_binomial_pmf,
    poisson_binomial_test,
    proportion_ci,
    two_by_two_effect,
)
from tolerances import TRIAL_STATS

DATA = Path(__file__).resolve().parents[1] / "data"
REF = json.loads((DATA / "trials_reference.json").read_text())
TOL = TRIAL_STATS


@pytest.mark.parametrize("case", REF["proportions"], ids=lambda c: f"{c['x']}/{c['n']}")
def test_proportion_intervals_match_r(case):
    cp = proportion_ci(case["x"], case["n"])
    assert [cp.ci_lb, cp.ci_ub] == pytest.approx(case["cp"], abs=TOL)
    w = proportion_ci(case["x"], case["n"], method="wilson")
    assert [w.ci_lb, w.ci_ub] == pytest.approx(case["wilson"], abs=TOL)
    cp90 = proportion_ci(case["x"], case["n"], level=0.90)
    assert [cp90.ci_lb, cp90.ci_ub] == pytest.approx(case["cp90"], abs=TOL)


@pytest.mark.parametrize(
    "case", REF["two_by_two"], ids=lambda c: f"{c['ai']}/{c['n1']}-{c['ci']}/{c['n2']}"
)
def test_risk_ratio_and_difference_match_escalc(case):
    rr = two_by_two_effect("RR", case["ai"], case["n1"], case["ci"], case["n2"])
    assert rr.yi == pytest.approx(case["rr_yi"], abs=TOL)
    assert rr.vi == pytest.approx(case["rr_vi"], abs=TOL)
    assert [np.log(rr.ci_lb), np.log(rr.ci_ub)] == pytest.approx(case["rr_ci"], abs=1e-8)
    rd = two_by_two_effect("RD", case["ai"], case["n1"], case["ci"], case["n2"])
    assert rd.yi == pytest.approx(case["rd_yi"], abs=TOL)
    assert rd.vi == pytest.approx(case["rd_vi"], abs=TOL)
    assert [rd.ci_lb, rd.ci_ub] == pytest.approx(case["rd_ci"], abs=1e-8)


def test_ancova_matches_lm():
    d = json.loads((Path(__file__).parent / "reference" / "ancova_data.json").read_text())
    ref = REF["ancova"]
    res = ancova(np.array(d["change"]), np.array(d["treated"]), np.array(d["baseline"]))
    assert res.estimate == pytest.approx(ref["estimate"], abs=TOL)
    assert res.se == pytest.approx(ref["se"], abs=TOL)
    assert res.stat == pytest.approx(ref["stat"], abs=1e-8)
    assert res.pval == pytest.approx(ref["pval"], abs=1e-10)
    assert [res.ci_lb, res.ci_ub] == pytest.approx(ref["ci"], abs=1e-8)
    assert res.coefficients["baseline"] == pytest.approx(ref["baseline"], abs=TOL)
    assert res.sigma == pytest.approx(ref["sigma"], abs=TOL)
    assert res.df == ref["df"]
    change = np.array(d["change"])[np.array(d["treated"]) == 1]
    m = mean_ci(change)
    assert m.mean == pytest.approx(ref["ttest_mean"], abs=TOL)
    assert [m.ci_lb, m.ci_ub] == pytest.approx(ref["ttest_ci"], abs=1e-9)


def test_poisson_binomial_hand_computed():
    # Three patients with p = 0.1, 0.2, 0.5.  By hand:
    # P(0) = .9*.8*.5 = .36; P(1) = .1*.8*.5 + .9*.2*.5 + .9*.8*.5 = .04+.09+.36 = .49
    # P(2) = .1*.2*.5 + .1*.8*.5 + .9*.2*.5 = .01+.04+.09 = .14; P(3) = .1*.2*.5 = .01
    pmf = poisson_binomial_pmf(np.array([0.1, 0.2, 0.5]))
    assert pmf == pytest.approx([0.36, 0.49, 0.14, 0.01], abs=1e-15)
    res = poisson_binomial_test(2, np.array([0.1, 0.2, 0.5]))
    assert res.pval == pytest.approx(0.15, abs=1e-15)
    assert res.expected == pytest.approx(0.8)
    assert poisson_binomial_test(0, [0.1, 0.2, 0.5], alternative="less").pval == pytest.approx(0.36)
    # two-sided: outcomes with P <= P(2)=.14: k=2 and k=3 -> .15
    assert poisson_binomial_test(2, [0.1, 0.2, 0.5], alternative="two-sided").pval == pytest.approx(
        0.15
    )


def test_poisson_binomial_matches_enumeration():
    rng = np.random.default_rng(1)
    p = rng.random(9)
    brute = np.zeros(10)
    for bits in itertools.product([0, 1], repeat=9):
        b = np.array(bits)
        brute[b.sum()] += np.prod(np.where(b == 1, p, 1 - p))
    assert poisson_binomial_pmf(p) == pytest.approx(brute, abs=1e-14)


def test_poisson_binomial_equal_p_is_binomial():
    from scipy import stats

    pmf = poisson_binomial_pmf(np.full(25, 0.3))
    assert pmf == pytest.approx(stats.binom.pmf(np.arange(26), 25, 0.3), abs=1e-13)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        proportion_ci(5, 3)
    with pytest.raises(ValueError):
        proportion_ci(1, 3, method="exact")
    with pytest.raises(ValueError):
        poisson_binomial_pmf(np.array([0.2, 1.3]))
    with pytest.raises(ValueError):
        two_by_two_effect("OR", 1, 2, 1, 2)
    with pytest.raises(ValueError):
        ancova(np.ones(3), np.array([0, 1, 0]), np.ones(3))
