"""pool()/subgroups() against published_cases.json (values printed by metafor, metafor's own
tests, statsmodels' pinned metafor output). Each test names the case; the tolerance is the
case's: printed values (4 decimals) are compared to 1e-4 absolute, I²/H² printed with two
decimals to 0.006, high-precision pins to 1e-9 or better."""

from __future__ import annotations

import numpy as np
import pytest
from meta_refcases import published_case

from sci_evidence.meta import pool, subgroups
from tolerances import PRINTED_2DP, PRINTED_4DP

PRINTED = PRINTED_4DP
#: metafor's documentation output was printed with metafor's default control (Fisher scoring
#: stops when tau² changes by < 1e-5): replay those iterations exactly for printed values.
METAFOR_DEFAULT = {"threshold": 1e-5, "metafor_iterations": True}


def _bcg(case_name: str, measure: str = "RR"):
    """Log risk ratio / log odds ratio of dat.bcg (formulas stated in the case's method)."""
    d = published_case(case_name)["input"]["data"]
    ai, bi, ci, di = (np.asarray(d[k], float) for k in ("tpos", "tneg", "cpos", "cneg"))
    if measure == "RR":
        yi = np.log(ai / (ai + bi)) - np.log(ci / (ci + di))
        vi = 1 / ai - 1 / (ai + bi) + 1 / ci - 1 / (ci + di)
    elif measure == "OR":
        yi = np.log(ai * di / (bi * ci))
        vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
    else:  # RD
        n1, n2 = ai + bi, ci + di
        p1, p2 = ai / n1, ci / n2
        yi = p1 - p2
        vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return yi, vi, d


def _pval(expected):
    return None if isinstance(expected, str) else expected


def _check_printed(res, exp, *, keys=("tau2", "se_tau2", "estimate", "se", "ci_lb", "ci_ub")):
    for key in keys:
        if key in exp:
            assert getattr(res, key) == pytest.approx(exp[key], abs=PRINTED), key
    if "zval" in exp:
        assert res.stat == pytest.approx(exp["zval"], abs=PRINTED)
    if "tau" in exp:
        assert res.tau == pytest.approx(exp["tau"], abs=PRINTED)
    if "I2_percent" in exp:
        assert res.I2 == pytest.approx(exp["I2_percent"], abs=PRINTED_2DP)
    if "H2" in exp:
        assert res.H2 == pytest.approx(exp["H2"], abs=PRINTED_2DP)
    if "Q" in exp:
        assert res.Q == pytest.approx(exp["Q"], abs=1e-3)


def test_case5_bcg_rr_reml():
    """published case 5: rma(yi, vi, data=dat) on dat.bcg, metafor docs output."""
    yi, vi, _ = _bcg("bcg_RR_REML")
    res = pool(yi, vi)
    exp = published_case("bcg_RR_REML")["expected"]
    _check_printed(res, exp)
    assert res.Q_df == exp["Q_df"] and res.Q_pval < 1e-4 and res.pval < 1e-4


@pytest.mark.parametrize(
    ("name", "measure", "method"),
    [
        ("bcg_RR_EE", "RR", "EE"),
        ("bcg_RR_DL", "RR", "DL"),
        ("bcg_OR_EE", "OR", "EE"),
        ("bcg_OR_DL", "OR", "DL"),
        ("bcg_OR_ML", "OR", "ML"),
        ("bcg_RD_EE", "RD", "EE"),
        ("bcg_RD_DL", "RR" if False else "RD", "DL"),
    ],
)
def test_bcg_basic_fits(name, measure, method):
    """published cases 2, 3, 6, 7, 8, 10, 11 (metafor testthat, targets to 4 decimals)."""
    yi, vi, _ = _bcg(name, measure)
    res = pool(yi, vi, method=method)
    exp = published_case(name)["expected"]
    _check_printed(res, exp)
    for key in ("exp_estimate", "exp_ci_lb", "exp_ci_ub"):
        if key in exp:
            assert np.exp(getattr(res, key[4:])) == pytest.approx(exp[key], abs=PRINTED)


def test_case9_bcg_or_ml_knha():
    yi, vi, _ = _bcg("bcg_OR_ML_knha", "OR")
    res = pool(yi, vi, method="ML", test="knha")
    exp = published_case("bcg_OR_ML_knha")["expected"]
    assert np.exp(res.ci_lb) == pytest.approx(exp["exp_ci_lb"], abs=PRINTED)
    assert np.exp(res.ci_ub) == pytest.approx(exp["exp_ci_ub"], abs=PRINTED)


def _check_coefficients(res, coefs):
    tab = res.coefficients
    for term, vals in coefs.items():
        row = tab.loc[term.replace("factor(alloc)", "alloc")]
        for col, key in (
            ("estimate", "estimate"),
            ("se", "se"),
            ("stat", "zval"),
            ("ci_lb", "ci_lb"),
            ("ci_ub", "ci_ub"),
        ):
            assert row[col] == pytest.approx(vals[key], abs=PRINTED), (term, col)
        if not isinstance(vals["pval"], str):
            assert row["pval"] == pytest.approx(vals["pval"], abs=PRINTED)
        else:
            assert row["pval"] < 1e-4


@pytest.mark.parametrize(
    ("name", "mods", "method"),
    [
        ("bcg_RR_metareg_ablat_REML", ["ablat"], "REML"),
        ("bcg_RR_metareg_ablat_year_REML", ["ablat", "year"], "REML"),
        ("bcg_RR_metareg_ablat_year_FE", ["ablat", "year"], "EE"),
        ("bcg_RR_metareg_ablat_alloc", ["ablat", "alloc"], "REML"),
    ],
)
def test_bcg_meta_regression(name, mods, method):
    """published cases 16, 17, 18, 20: rma(yi, vi, mods = ~ ..., data=dat.bcg)."""
    yi, vi, d = _bcg(name)
    res = pool(yi, vi, mods={m: d[m] for m in mods}, method=method, control=METAFOR_DEFAULT)
    exp = published_case(name)["expected"]
    _check_printed(res, exp, keys=("tau2", "se_tau2"))
    assert res.I2 == pytest.approx(exp["I2_percent"], abs=PRINTED_2DP)
    assert res.H2 == pytest.approx(exp["H2"], abs=PRINTED_2DP)
    assert res.Q == pytest.approx(exp["QE"], abs=PRINTED)
    assert res.Q_df == exp["QE_df"]
    assert res.QM == pytest.approx(exp["QM"], abs=PRINTED)
    assert res.QM_df == exp["QM_df"]
    if "QM_pval" in exp and not isinstance(exp["QM_pval"], str):
        assert res.QM_pval == pytest.approx(exp["QM_pval"], abs=PRINTED)
    if "QE_pval" in exp:
        assert res.Q_pval == pytest.approx(exp["QE_pval"], abs=PRINTED)
    _check_coefficients(res, exp["coefficients"])
    if method == "EE":
        # R² of an equal-effects meta-regression is not defined here (metafor prints an
        # adjusted R² of a weighted lm instead); the decomposition QE + QM = Q holds
        assert res.R2 is None
        total = pool(yi, vi, method="EE").Q
        assert res.Q + res.QM == pytest.approx(exp["QE_plus_QM"], abs=1e-3)
        assert total == pytest.approx(exp["QE_plus_QM"], abs=1e-3)
    else:
        assert res.R2 == pytest.approx(exp["R2_percent"], abs=PRINTED_2DP)


def test_case19_subgroups_common_and_separate():
    """published case 19: separate REML fits per alloc group, and the mixed model with
    factor(alloc) (common tau²) whose QM is the test of subgroup differences."""
    yi, vi, d = _bcg("bcg_RR_subgroups_alloc")
    exp = published_case("bcg_RR_subgroups_alloc")["expected"]
    sep = subgroups(yi, vi, d["alloc"], tau2="separate", control=METAFOR_DEFAULT)
    assert sep.groups == ("alternate", "random", "systematic")
    for g, e in exp["subgroups"].items():
        r = sep.results[g]
        assert r.k == e["k"]
        _check_printed(r, e)
        assert r.Q_df == e["Q_df"]
    com = subgroups(yi, vi, d["alloc"], tau2="common", control=METAFOR_DEFAULT)
    mm = exp["mixed_model_factor_alloc"]
    assert com.moderator_fit.tau2 == pytest.approx(mm["tau2"], abs=PRINTED)
    assert com.Q_between == pytest.approx(mm["QM"], abs=PRINTED)
    assert com.Q_between_df == mm["QM_df"]
    assert com.Q_between_pval == pytest.approx(mm["QM_pval"], abs=PRINTED)
    assert com.moderator_fit.R2 == pytest.approx(mm["R2_percent"], abs=PRINTED_2DP)
    cm = exp["cell_means_model_0_plus_factor_alloc"]["coefficients"]
    for g, e in cm.items():
        r = com.results[g]
        assert r.estimate == pytest.approx(e["estimate"], abs=PRINTED)
        assert r.se == pytest.approx(e["se"], abs=PRINTED)
        assert r.ci_lb == pytest.approx(e["ci_lb"], abs=PRINTED)
    assert sum(r.Q for r in sep.results.values()) == pytest.approx(
        exp["sum_of_within_subgroup_Q"], abs=PRINTED
    )


@pytest.mark.parametrize(
    "name", ["viechtbauer2005_example1_tau2_estimators", "viechtbauer2005_example2_tau2_estimators"]
)
def test_viechtbauer2005_estimators(name):
    """published cases 32, 33: tau², I², H², SE(tau²) for HS, HE, DL, ML, REML, EB, SJ."""
    case = published_case(name)
    d, exp = case["input"]["data"], case["expected"]
    for method in case["method"]["tau2_estimator"]:
        res = pool(d["yi"], d["vi"], method=method)
        assert res.tau2 == pytest.approx(exp["tau2"][method], abs=PRINTED), method
        assert res.I2 == pytest.approx(exp["I2_percent"][method], abs=1e-2), method
        assert res.H2 == pytest.approx(exp["H2"][method], abs=PRINTED), method
        assert res.se_tau2 == pytest.approx(exp["se_tau2"][method], abs=PRINTED), method


@pytest.mark.parametrize(
    ("name", "test", "stat_key"),
    [
        ("raudenbush1985_RE_estimators_z", "z", "z"),
        ("raudenbush1985_RE_estimators_knha", "knha", "t"),
    ],
)
def test_raudenbush1985(name, test, stat_key):
    """published cases 35, 36: five estimators under z and knha."""
    case = published_case(name)
    d, exp = case["input"]["data"], case["expected"]
    for method in exp["tau2"]:
        res = pool(d["yi"], d["vi"], method=method, test=test)
        assert res.tau2 == pytest.approx(exp["tau2"][method], abs=PRINTED), method
        assert res.estimate == pytest.approx(exp["mu"][method], abs=PRINTED), method
        assert res.se == pytest.approx(exp["se"][method], abs=PRINTED), method
        assert res.stat == pytest.approx(exp[stat_key][method], abs=PRINTED), method
        assert res.ci_lb == pytest.approx(exp["ci_lb"][method], abs=PRINTED), method
        assert res.ci_ub == pytest.approx(exp["ci_ub"][method], abs=PRINTED), method
    reml = pool(d["yi"], d["vi"])
    assert (reml.pi_lb, reml.pi_ub) == pytest.approx((-0.2036, 0.3710), abs=PRINTED)


HIGH = 1e-9


def test_kacker2004_pm_high_precision():
    """published case 39: PM, metafor with tol 1e-9 (statsmodels' pins)."""
    case = published_case("kacker2004_PM_metafor_highprec")
    d, exp = case["input"]["data"], case["expected"]
    res = pool(d["yi"], d["vi"], method="PM")
    for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "se_tau2", "Q", "Q_pval", "H2"):
        assert getattr(res, key) == pytest.approx(exp[key], abs=HIGH, rel=1e-9), key
    assert res.stat == pytest.approx(exp["zval"], rel=1e-9)
    assert res.I2 == pytest.approx(exp["I2_percent"], rel=1e-9)


def test_kacker2004_dl_high_precision():
    """published cases 40, 41: DL under z and knha (QM as F)."""
    d = published_case("kacker2004_DL_metafor_highprec")["input"]["data"]
    exp = published_case("kacker2004_DL_metafor_highprec")["expected"]
    res = pool(d["yi"], d["vi"], method="DL")
    for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "se_tau2", "Q", "Q_pval", "H2"):
        assert getattr(res, key) == pytest.approx(exp[key], rel=1e-10, abs=1e-12), key
    assert res.I2 == pytest.approx(exp["I2_percent"], rel=1e-10)
    exp = published_case("kacker2004_DL_knha_metafor_highprec")["expected"]
    res = pool(d["yi"], d["vi"], method="DL", test="knha")
    for key in ("estimate", "se", "pval", "ci_lb", "ci_ub", "tau2", "Q"):
        assert getattr(res, key) == pytest.approx(exp[key], rel=1e-9, abs=1e-12), key
    assert res.stat == pytest.approx(exp["tval"], rel=1e-10)
    assert res.stat**2 == pytest.approx(exp["QM_F"], rel=1e-9)  # intercept-only F = t²
    assert res.dof == 8


def test_kacker2004_fe_and_fe_knha():
    """published case 42: EE and EE with Knapp-Hartung scaling."""
    case = published_case("kacker2004_FE_and_FE_knha_metafor_highprec")
    d, exp = case["input"]["data"], case["expected"]
    res = pool(d["yi"], d["vi"], method="FE")
    assert res.method == "EE"
    for key in ("estimate", "se", "ci_lb", "ci_ub", "Q", "H2"):
        assert getattr(res, key) == pytest.approx(exp["FE"][key], rel=1e-10), key
    assert res.I2 == pytest.approx(exp["FE"]["I2_percent"], rel=1e-10)
    res = pool(d["yi"], d["vi"], method="EE", test="knha")
    for key in ("estimate", "se", "pval", "ci_lb", "ci_ub"):
        assert getattr(res, key) == pytest.approx(exp["FE_knha"][key], rel=1e-9), key
    assert res.stat == pytest.approx(exp["FE_knha"]["tval"], rel=1e-10)


def test_meta_metabin_dl_hk_high_precision():
    """published case 43 (R meta 4.11, pinned by statsmodels): common effect, DL with
    Hartung-Knapp, weights. meta's prediction interval (t(k-2)) differs from metafor's by
    design and is not compared; meta's I² is a fraction."""
    exp = published_case("meta_metabin_OR_IV_DL_HK_highprec")["expected"]
    yi = np.asarray(exp["TE"])
    vi = np.asarray(exp["seTE"]) ** 2
    fe = pool(yi, vi, method="EE")
    assert fe.estimate == pytest.approx(exp["TE_fixed"], rel=1e-12)
    assert fe.se == pytest.approx(exp["seTE_fixed"], rel=1e-12)
    assert fe.ci_lb == pytest.approx(exp["lower_fixed"], rel=1e-12)
    assert fe.stat == pytest.approx(exp["zval_fixed"], rel=1e-12)
    assert fe.pval == pytest.approx(exp["pval_fixed"], rel=1e-9)
    assert fe.Q == pytest.approx(exp["Q"], rel=1e-12)
    assert fe.Q_pval == pytest.approx(exp["pval_Q"], rel=1e-10)
    np.testing.assert_allclose(fe.weights / 100 * (1 / vi).sum(), exp["w_fixed"], rtol=1e-12)
    re = pool(yi, vi, method="DL", test="knha")
    assert re.estimate == pytest.approx(exp["TE_random"], rel=1e-12)
    assert re.se == pytest.approx(exp["seTE_random_HK"], rel=1e-12)
    assert re.ci_lb == pytest.approx(exp["lower_random"], rel=1e-12)
    assert re.ci_ub == pytest.approx(exp["upper_random"], rel=1e-12)
    assert re.stat == pytest.approx(exp["tval_random"], rel=1e-12)
    assert re.pval == pytest.approx(exp["pval_random"], rel=1e-9)
    assert re.dof == exp["df_hakn"]
    assert re.tau2 == pytest.approx(exp["tau2"], rel=1e-12)
    assert re.se_tau2 == pytest.approx(exp["se_tau2"], rel=1e-10)
    w_re = 1 / (vi + re.tau2)
    np.testing.assert_allclose(re.weights / 100 * w_re.sum(), exp["w_random"], rtol=1e-12)
    # Q-profile is not meta's 'J' method, but the lower bound 0 agrees
    assert re.tau2_ci[0] == 0.0


def test_normand1999_md_reml():
    """published case 46: MD, REML (yi, vi as printed by metafor)."""
    exp = published_case("normand1999_MD_REML")["expected"]
    res = pool(exp["yi"], exp["vi"])
    assert res.tau2 == pytest.approx(exp["tau2"], abs=0.01)  # vi printed to 4 decimals
    assert res.se_tau2 == pytest.approx(exp["se_tau2"], abs=0.01)
    for key in ("estimate", "se", "ci_lb", "ci_ub"):
        assert getattr(res, key) == pytest.approx(exp[key], abs=2e-3), key
    assert res.I2 == pytest.approx(exp["I2_percent"], abs=PRINTED_2DP)
    assert res.Q == pytest.approx(exp["Q"], abs=2e-3)


def test_collins1985b_q_profile_ci():
    """published case 57: tau² by DL/ML/REML/SJ and the Q-profile CI (confint on DL fit)."""
    case = published_case("collins1985b_OR_tau2_estimators_and_CIs")
    d, exp = case["input"]["data"], case["expected"]
    xt, nt = np.asarray(d["pre.xti"], float), np.asarray(d["pre.nti"], float)
    xc, nc = np.asarray(d["pre.xci"], float), np.asarray(d["pre.nci"], float)
    ai, bi, ci, di = xt, nt - xt, xc, nc - xc
    yi = np.log(ai * di / (bi * ci))
    vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
    for method, t in exp["tau2"].items():
        assert pool(yi, vi, method=method).tau2 == pytest.approx(t, abs=PRINTED), method
    ci_ = pool(yi, vi, method="DL").tau2_ci
    assert ci_ == pytest.approx(exp["ci_Q_profile"], abs=PRINTED)


def test_konstantopoulos2011_two_level():
    """published case 58: two-level REML fits with Q-profile CIs, with and without year."""
    case = published_case("konstantopoulos2011_multilevel")
    d, exp = case["input"]["data"], case["expected"]
    res = pool(d["yi"], d["vi"])
    e = exp["two_level_REML"]
    for key in ("estimate", "se", "tau2", "se_tau2"):
        assert getattr(res, key) == pytest.approx(e[key], abs=PRINTED), key
    assert res.tau2_ci == pytest.approx(e["tau2_ci_Q_profile"], abs=PRINTED)
    year = np.asarray(d["year"], float)
    res = pool(d["yi"], d["vi"], mods={"year_c": year - year.mean()})
    e = exp["two_level_year_REML"]
    np.testing.assert_allclose(res.beta, e["coefficients"], atol=PRINTED)
    np.testing.assert_allclose(res.beta_se, e["se"], atol=PRINTED)
    assert res.tau2 == pytest.approx(e["tau2"], abs=PRINTED)
    assert res.se_tau2 == pytest.approx(e["se_tau2"], abs=PRINTED)
    assert res.tau2_ci == pytest.approx(e["tau2_ci_Q_profile"], abs=PRINTED)
