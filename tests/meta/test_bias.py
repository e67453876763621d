"""Egger's regression test, Begg's rank test, PET-PEESE and fail-safe N against metafor 3.8-1.

Reference values: ``tests/data/metafor_cases.json`` (kind ``bias``), the published cases 27,
28, 30 and 31 of ``tests/data/published_cases.json`` and ``tests/data/metafor_bias_extra.json``
(``tests/data/generate_bias_extra.R``: ``regtest(res)``, ``regtest(res, model="lm")``,
``regtest(res, model="lm", predictor="vi")``, ``ranktest(res)``, ``fsn(...)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import effect_sizes, pool
from sci_evidence.meta.bias import egger_test, fail_safe_n, pet_peese, rank_test
from tolerances import BIAS_RTOL

DATA = Path(__file__).resolve().parents[1] / "data"
METAFOR = json.loads((DATA / "metafor_cases.json").read_text())
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}
EXTRA = json.loads((DATA / "metafor_bias_extra.json").read_text())
BIAS_CASES = [c for c in METAFOR if c["kind"] == "bias"]
EXTRA_CASES = [c for c in EXTRA["cases"] if "mods" not in c["input"]]
#: full-precision metafor fits (tol 1e-12) against ours (threshold 1e-10)
RTOL = BIAS_RTOL


def _fit(case):
    inp = case["input"]
    return pool(
        inp["yi"],
        inp["vi"],
        method=case.get("method", "REML"),
        test=case.get("test", "z"),
        mods=inp.get("mods"),
    )


def _bcg():
    d = PUBLISHED[22]["input"]["data"]
    return effect_sizes("RR", ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])


def _egger2001(drop_last=False):
    d = PUBLISHED[30]["input"]["data"]
    n = len(d["ai"]) - (1 if drop_last else 0)
    ai, n1, ci, n2 = (np.asarray(d[c][:n], float) for c in ("ai", "n1i", "ci", "n2i"))
    es = effect_sizes("OR", ai=ai, bi=n1 - ai, ci=ci, di=n2 - ci)
    return es, n1 + n2


@pytest.mark.parametrize("case", BIAS_CASES, ids=lambda c: c["name"])
def test_egger_and_rank_match_metafor_cases(case):
    res = _fit(case)
    e = case["expected"]
    eg = egger_test(res)
    assert eg.z == pytest.approx(e["egger_z"], rel=RTOL)
    assert eg.pval == pytest.approx(e["egger_pval"], rel=RTOL)
    rk = rank_test(res)
    assert rk.tau == pytest.approx(e["rank_tau"], rel=RTOL, abs=1e-12)
    assert rk.pval == pytest.approx(e["rank_pval"], rel=RTOL)


@pytest.mark.parametrize("case", EXTRA_CASES, ids=lambda c: c["name"])
def test_regtest_variants_match_metafor(case):
    res = _fit(case)
    e = case["expected"]
    for key, kw in (
        ("egger_rma", {"model": "rma"}),
        ("egger_lm", {"model": "lm"}),
        ("peese_lm", {"model": "lm", "predictor": "vi"}),
        ("peese_rma", {"model": "rma", "predictor": "vi"}),
    ):
        r = egger_test(res, **kw)
        ref = e[key]
        assert r.z == pytest.approx(ref["z"], rel=RTOL), key
        assert r.pval == pytest.approx(ref["pval"], rel=RTOL, abs=1e-14), key
        assert r.limit_estimate == pytest.approx(ref["est"], rel=RTOL, abs=1e-12), key
        assert r.limit_ci_lb == pytest.approx(ref["ci_lb"], rel=RTOL, abs=1e-12), key
        assert r.limit_ci_ub == pytest.approx(ref["ci_ub"], rel=RTOL, abs=1e-12), key
    if "egger_rma_ni" in e:
        ni = case["input"]["ni"]
        assert egger_test(res, predictor="ni", ni=ni).z == pytest.approx(
            e["egger_rma_ni"]["z"], rel=RTOL
        )
        r = egger_test(res, model="lm", predictor="sqrtninv", ni=ni)
        assert r.z == pytest.approx(e["egger_lm_sqrtninv"]["z"], rel=RTOL)
        assert r.limit_estimate == pytest.approx(e["egger_lm_sqrtninv"]["est"], rel=RTOL)
    rk = rank_test(res)
    assert rk.tau == pytest.approx(e["ranktest"]["tau"], rel=RTOL, abs=1e-12)
    assert rk.pval == pytest.approx(e["ranktest"]["pval"], rel=RTOL)


@pytest.mark.parametrize(
    "case", [c for c in EXTRA["cases"] if "mods" in c["input"]], ids=lambda c: c["name"]
)
def test_regtest_with_moderators_matches_metafor(case):
    res = _fit(case)
    for key, model in (("egger_rma", "rma"), ("egger_lm", "lm")):
        r = egger_test(res, model)
        assert r.z == pytest.approx(case["expected"][key]["z"], rel=RTOL)
        assert r.pval == pytest.approx(case["expected"][key]["pval"], rel=RTOL)
        assert r.limit_estimate is None  # no limit estimate with moderators


@pytest.mark.parametrize("case", EXTRA_CASES, ids=lambda c: c["name"])
def test_fail_safe_n_matches_metafor(case):
    res = _fit(case)
    e = case["expected"]["fsn"]
    r = fail_safe_n(res)
    assert r.fsnum == e["Rosenthal"]
    assert r.pval == pytest.approx(e["Rosenthal_pval"], rel=1e-8)
    assert fail_safe_n(res, "Orwin").fsnum == e["Orwin"]
    assert fail_safe_n(res, "Orwin", weighted=True).fsnum == e["Orwin_weighted"]
    assert fail_safe_n(res, "Orwin", target=0.1).fsnum == e["Orwin_target_0.1"]
    r = fail_safe_n(res, "Rosenberg")
    assert r.fsnum == e["Rosenberg"]
    assert r.pval == pytest.approx(e["Rosenberg_pval"], rel=1e-8)


def test_fail_safe_n_published_bcg():
    """Published case 28 (metafor fsn documentation, dat.bcg)."""
    res = pool(*_bcg()[["yi", "vi"]].to_numpy().T)
    e = PUBLISHED[28]["expected"]
    assert fail_safe_n(res).fsnum == e["Rosenthal"]["fsnum"]
    orwin = fail_safe_n(res, "Orwin", target=np.log(0.95))
    assert orwin.fsnum == e["Orwin_unweighted_target_log0.95"]["fsnum"]
    assert orwin.mean_effect == pytest.approx(-0.7407, abs=1e-4)
    assert orwin.target == pytest.approx(-0.0513, abs=1e-4)
    w = fail_safe_n(res, "Orwin", target=np.log(0.95), weighted=True)
    assert w.fsnum == e["Orwin_weighted_1_over_vi_target_log0.95"]["fsnum"]
    assert w.mean_effect == pytest.approx(-0.4303, abs=1e-4)
    assert fail_safe_n(res, "Rosenberg").fsnum == e["Rosenberg"]["fsnum"]


def test_rank_test_published_bcg():
    """Published case 27 (metafor ranktest documentation)."""
    res = pool(*_bcg()[["yi", "vi"]].to_numpy().T)
    r = rank_test(res)
    assert r.tau == pytest.approx(0.0256, abs=5e-5)
    assert r.pval == pytest.approx(0.9524, abs=5e-5)
    assert r.exact


def test_egger2001_full_published():
    """Published case 30 (metafor tests, all 16 magnesium trials, ISIS-4 included)."""
    es, ni = _egger2001()
    res = pool(es.yi, es.vi)
    e = PUBLISHED[30]["expected"]
    assert egger_test(res).z == pytest.approx(e["regtest_REML_sei_zval"], abs=1e-4)
    assert egger_test(res, "lm", predictor="sqrtninv", ni=ni).z == pytest.approx(
        e["regtest_lm_sqrtninv_zval"], abs=1e-4
    )
    rk = rank_test(res)
    assert rk.tau == pytest.approx(e["ranktest_kendall_tau"], abs=1e-4)
    assert rk.pval == pytest.approx(e["ranktest_pval"], abs=1e-4)


def test_egger2001_without_isis4_published():
    """Published case 31 (metafor regtest documentation): classical and mixed-effects tests,
    limit estimates, predictors ni and ninv."""
    es, ni = _egger2001(drop_last=True)
    res = pool(es.yi, es.vi)
    e = PUBLISHED[31]["expected"]
    lm = egger_test(res, "lm")
    assert lm.z == pytest.approx(e["egger_classical_lm_sei"]["tval"], abs=1e-4)
    assert lm.dof == 13
    assert lm.pval == pytest.approx(e["egger_classical_lm_sei"]["pval"], abs=1e-4)
    assert lm.limit_estimate == pytest.approx(
        e["egger_classical_lm_sei"]["limit_estimate_b0"], abs=1e-4
    )
    assert [lm.limit_ci_lb, lm.limit_ci_ub] == pytest.approx(
        e["egger_classical_lm_sei"]["b0_ci"], abs=1e-4
    )
    me = egger_test(res)
    assert me.z == pytest.approx(e["egger_mixed_effects_sei"]["zval"], abs=1e-4)
    assert me.limit_estimate == pytest.approx(
        e["egger_mixed_effects_sei"]["limit_estimate_b0"], abs=1e-4
    )
    assert [me.limit_ci_lb, me.limit_ci_ub] == pytest.approx(
        e["egger_mixed_effects_sei"]["b0_ci"], abs=1e-4
    )
    assert egger_test(res, predictor="ni", ni=ni).z == pytest.approx(
        e["mixed_effects_predictor_ni"]["zval"], abs=1e-4
    )
    assert egger_test(res, "lm", predictor="ni", ni=ni).z == pytest.approx(
        e["lm_predictor_ni"]["tval"], abs=1e-4
    )
    r = egger_test(res, "lm", predictor="ninv", ni=ni)
    assert r.z == pytest.approx(e["lm_predictor_ninv"]["tval"], abs=1e-4)
    assert r.limit_estimate == pytest.approx(e["lm_predictor_ninv"]["limit_estimate_b0"], abs=1e-4)
    r = egger_test(res, predictor="ninv", ni=ni)
    assert r.z == pytest.approx(e["mixed_effects_predictor_ninv"]["zval"], abs=1e-4)
    assert [r.limit_ci_lb, r.limit_ci_ub] == pytest.approx(
        e["mixed_effects_predictor_ninv"]["b0_ci"], abs=1e-4
    )


def test_pet_peese_uses_the_regtest_limit_estimates():
    case = EXTRA_CASES[0]
    res = _fit(case)
    pp = pet_peese(res)
    assert pp.pet.limit_estimate == pytest.approx(case["expected"]["egger_lm"]["est"], rel=RTOL)
    assert pp.peese.limit_estimate == pytest.approx(case["expected"]["peese_lm"]["est"], rel=RTOL)
    # the PET intercept test: t = b0 / se(b0) with k - 2 df
    assert pp.chosen == ("PEESE" if pp.pet_intercept_pval < 0.10 else "PET")
    assert pp.estimate == (pp.peese if pp.chosen == "PEESE" else pp.pet).limit_estimate
    frame = pp.to_frame()
    assert list(frame.index) == ["PET", "PEESE"]
    json.dumps(pp.to_dict())
    assert "PET" in pp.summary()


def test_results_are_json_safe_and_printable():
    res = _fit(BIAS_CASES[0])
    for r in (egger_test(res), rank_test(res), fail_safe_n(res), fail_safe_n(res, "Orwin")):
        d = r.to_dict()
        json.dumps(d)
        assert len(r.to_frame()) == 1
        assert isinstance(r.summary(), str) and r.summary()


def test_bad_options_raise_input_error():
    res = _fit(BIAS_CASES[0])
    with pytest.raises(InputError, match="model"):
        egger_test(res, "glm")
    with pytest.raises(InputError, match="predictor"):
        egger_test(res, predictor="se")
    with pytest.raises(InputError, match="ni"):
        egger_test(res, predictor="ni")
    with pytest.raises(InputError, match="ni"):
        egger_test(res, predictor="ni", ni=[10] * (res.k - 1))
    with pytest.raises(InputError, match="type"):
        fail_safe_n(res, "Binomial")
    with pytest.raises(InputError, match="alpha"):
        fail_safe_n(res, alpha=1.5)
    with pytest.raises(InputError):
        egger_test(pool([0.1, 0.2], [0.01, 0.02]))
    with pytest.raises(InputError):
        rank_test(pool([0.1, 0.2], [0.01, 0.02]))
    with pytest.raises(InputError, match="fitted model"):
        rank_test(object())


def test_rank_test_with_ties_uses_normal_approximation():
    from scipy.stats import kendalltau

    yi = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.0, 0.6])
    vi = np.array([0.01, 0.02, 0.02, 0.04, 0.05, 0.01, 0.07])
    r = rank_test(pool(yi, vi))
    assert not r.exact
    w = 1 / vi
    ystar = (yi - w @ yi / w.sum()) / np.sqrt(vi - 1 / w.sum())
    ref = kendalltau(ystar, vi, method="asymptotic")
    assert r.tau == pytest.approx(ref.statistic)
    assert r.pval == pytest.approx(ref.pvalue)
