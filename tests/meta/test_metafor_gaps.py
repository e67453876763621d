"""The remaining gaps to metafor (issue 14 §6), pinned to metafor 3.8-1 / R
(tests/data/small_k/generate_metafor_gaps.R) and to DerSimonian & Kacker (2007)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sci_evidence.meta import pool, pool_mh

REF = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "small_k" / "metafor_gaps.json").read_text()
)
CLASP = REF["clasp"]


def test_sidik_jonkman_honours_tau2_init():
    res = pool(CLASP["yi"], CLASP["vi"], method="SJ", control={"tau2_init": CLASP["he_tau2"]})
    tau2, est, se = CLASP["sj2"]
    assert res.tau2 == pytest.approx(tau2, rel=1e-10)
    assert res.estimate == pytest.approx(est, rel=1e-10)
    assert res.se == pytest.approx(se, rel=1e-10)
    # DerSimonian & Kacker (2007), Tables 3-4, "SJ2": tau 0.4084, mu -0.3941, se 0.2208
    assert (round(res.tau, 4), round(res.estimate, 4), round(res.se, 4)) == (
        0.4084,
        -0.3941,
        0.2208,
    )
    default = pool(CLASP["yi"], CLASP["vi"], method="SJ")
    assert default.tau2 == pytest.approx(CLASP["sj"][0], rel=1e-10)
    assert round(default.tau, 4) == 0.4572  # the paper's "SJ" column
    assert default.tau2 != pytest.approx(res.tau2, rel=1e-3)


def test_cmh_in_mantel_haenszel_and_cochran_forms():
    kw = {"n1i": CLASP["n1i"], "n2i": CLASP["n2i"]}
    res = pool_mh(CLASP["ai"], ci=CLASP["ci"], **kw)
    assert res.cmh == pytest.approx(REF["cmh"]["mh_correct"], rel=1e-10)
    assert res.cochran == pytest.approx(REF["cmh"]["cochran"], rel=1e-10)
    assert res.cochran > pool_mh(CLASP["ai"], ci=CLASP["ci"], correct=False, **kw).cmh
    unc = pool_mh(CLASP["ai"], ci=CLASP["ci"], correct=False, **kw)
    assert unc.cmh == pytest.approx(REF["cmh"]["mh_uncorrected"], rel=1e-10)
    assert "Cochran's test" in res.summary()
    assert res.to_dict()["cochran"] == pytest.approx(REF["cmh"]["cochran"], rel=1e-12)


@pytest.mark.parametrize("case", REF["pl"], ids=lambda c: f"{c['data']}-{c['method']}-{c['level']}")
def test_profile_likelihood_ci_of_tau2(case):
    from sci_evidence.meta import tau2_confint

    data = CLASP if case["data"] == "clasp" else REF["bcg"]
    res = pool(data["yi"], data["vi"], method=case["method"], level=case["level"])
    assert res.tau2 == pytest.approx(case["tau2"], rel=1e-8)
    lo, hi = tau2_confint(res, type="PL")
    assert lo == pytest.approx(case["ci_lb"], rel=1e-6, abs=1e-10)
    assert hi == pytest.approx(case["ci_ub"], rel=1e-6)
    assert tau2_confint(res, type="QP") == res.tau2_ci


def test_profile_likelihood_needs_a_likelihood_fit():
    from sci_evidence.errors import InputError
    from sci_evidence.meta import tau2_confint

    with pytest.raises(InputError, match="ML or REML"):
        tau2_confint(pool(CLASP["yi"], CLASP["vi"], method="DL"), type="PL")
    with pytest.raises(InputError, match="not estimated"):
        tau2_confint(pool(CLASP["yi"], CLASP["vi"], method="EE"))


@pytest.mark.parametrize("case", REF["unweighted"], ids=lambda c: f"{c['data']}-{c['method']}")
def test_unweighted_model(case):
    data = CLASP if case["data"] == "clasp" else REF["bcg"]
    res = pool(data["yi"], data["vi"], method=case["method"], weighted=False)
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pval"):
        assert getattr(res, key) == pytest.approx(case[key], rel=1e-8), key
    assert res.tau2 == pytest.approx(case["tau2"], rel=1e-8, abs=1e-14)
    assert res.weights == pytest.approx([100.0 / res.k] * res.k)
    assert res.control["weighted"] is False


def test_unweighted_needs_z_test():
    from sci_evidence.errors import InputError

    with pytest.raises(InputError, match="test='z' only"):
        pool(CLASP["yi"], CLASP["vi"], weighted=False, test="knha")


def test_measures_irr_ird_peto():
    from sci_evidence.meta import MEASURES, effect_sizes

    assert {"IRR", "IRD", "PETO"} <= set(MEASURES)
    r = REF["rates"]
    cols = {k: r[k] for k in ("x1i", "t1i", "x2i", "t2i")}
    irr = effect_sizes("IRR", **cols)
    ird = effect_sizes("IRD", **cols)
    assert irr["yi"].tolist() == pytest.approx(r["irr_yi"], rel=1e-12)
    assert irr["vi"].tolist() == pytest.approx(r["irr_vi"], rel=1e-12)
    assert ird["yi"].tolist() == pytest.approx(r["ird_yi"], rel=1e-12)
    assert ird["vi"].tolist() == pytest.approx(r["ird_vi"], rel=1e-12)
    peto = effect_sizes("PETO", ai=CLASP["ai"], n1i=CLASP["n1i"], ci=CLASP["ci"], n2i=CLASP["n2i"])
    assert peto["yi"].tolist() == pytest.approx(REF["peto"]["yi"], rel=1e-12)
    assert peto["vi"].tolist() == pytest.approx(REF["peto"]["vi"], rel=1e-12)


def test_rate_measures_refuse_bad_input():
    from sci_evidence.errors import InputError
    from sci_evidence.meta import effect_sizes

    with pytest.raises(InputError, match="person-time must be positive"):
        effect_sizes("IRR", x1i=[1], t1i=[0], x2i=[2], t2i=[10])
    with pytest.raises(InputError, match="needs x1i, t1i, x2i, t2i"):
        effect_sizes("IRD", x1i=[1], t1i=[3], x2i=[2])


FSN = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "small_k" / "fsn_data.json").read_text()
)


@pytest.mark.parametrize(
    "data, expected",
    [("raudenbush1985", 0), ("hackshaw1998", 112), ("mcdaniel1994", 6068)],
)
def test_fail_safe_n_general_matches_metafor_tests(data, expected):
    # metafor's tests/testthat/test_misc_fsn.r: fsn(yi, vi, type="General") (approximate)
    from sci_evidence.meta import fail_safe_n

    res = pool(FSN[data]["yi"], FSN[data]["vi"])
    out = fail_safe_n(res, "General")
    assert out.fsnum == expected
    if expected:
        assert out.pval_fsn >= 0.05
        # one study fewer is still significant: N is the smallest
        assert out.pval < 0.05


def test_fail_safe_n_general_with_target():
    # metafor: res <- rma(yi, vi, data=dat.raudenbush1985); fsn(res, target=.05) -> 12
    from sci_evidence.meta import fail_safe_n

    res = pool(FSN["raudenbush1985"]["yi"], FSN["raudenbush1985"]["vi"])
    out = fail_safe_n(res, "General", target=0.05)
    assert out.fsnum == 12
    assert abs(out.est_fsn) <= 0.05


def test_fail_safe_n_fisher():
    # metafor's test gives 40 for fsn(yi, vi, data=dat.raudenbush1985, pool="Fisher"): it
    # root-finds N as a continuous number and rounds up, and so do we (tests/meta/
    # test_fsn_fisher.py); at N = 40 Fisher's combined p is still below 0.05.
    from scipy import stats

    from sci_evidence.meta import fail_safe_n

    d = FSN["raudenbush1985"]
    out = fail_safe_n(pool(d["yi"], d["vi"]), "Fisher")
    assert out.fsnum == 40
    import numpy as np

    z = np.array(d["yi"]) / np.sqrt(d["vi"])
    x0 = -2 * np.sum(np.log(stats.norm.sf(np.abs(z))))
    k = len(z)
    assert stats.chi2.sf(x0 + 40 * 2 * np.log(2), 2 * (k + 40)) < 0.05
    assert stats.chi2.sf(x0 + 41 * 2 * np.log(2), 2 * (k + 41)) >= 0.05
    # and the Stouffer (Rosenthal) number of the same test file
    assert fail_safe_n(pool(d["yi"], d["vi"]), "Rosenthal").fsnum == 26
