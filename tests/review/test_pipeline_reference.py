"""The review's pooled numbers on a hand-made evidence set, checked against metafor 3.8-1
(tests/data/metafor_review_extra.json, made by make_metafor_review_extra.R) and against
``pool`` called directly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _handmade import TOL

from sci_evidence.meta import pool_glmm


def entry(review, analysis_id):
    for e in review.to_dict()["analyses"]:
        if e["id"] == analysis_id:
            return e
    raise KeyError(analysis_id)


def assert_fit(e, ref, *, bt=False, tol=TOL):
    p = e["pooled"]
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2", "Q", "Q_pval"):
        # I2 is in percent: near tau2 = 0 (see the ae case) allow 0.05 percentage points
        t = 0.05 if (key == "I2" and tol > TOL) else tol
        assert p[key] == pytest.approx(ref[key], abs=t), key
    assert p["k"] == ref["k"]
    np.testing.assert_allclose([s["yi"] for s in e["studies"]], ref["yi"], atol=1e-12)
    np.testing.assert_allclose([s["vi"] for s in e["studies"]], ref["vi"], atol=1e-12)
    # weights in percent; near tau2 = 0 they move with metafor's early stop (ae case)
    w_tol = 1e-5 if tol == TOL else 0.02
    np.testing.assert_allclose([s["weight"] for s in e["studies"]], ref["weights"], atol=w_tol)
    if bt:
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            assert p["back_transformed"][key] == pytest.approx(ref["bt"][key], abs=tol), key


@pytest.mark.parametrize(
    "analysis_id, ref_key, bt, tol",
    [
        ("ais_improved_prop:iv_logit", "plo", True, TOL),
        ("ais_improved_prop:iv_freeman_tukey", "pft", True, TOL),
        ("ais_improved_rr", "rr", True, TOL),
        ("ais_improved_rd", "rd", False, TOL),
        ("motor_change", "mc", False, TOL),
        ("motor_md", "md", False, TOL),
        # tau2 ~ 6e-6, next to the boundary: metafor stops its Fisher scoring at its
        # threshold 1e-5 (tau2 = 6.2e-6 there, ~1e-10 here), which moves the PI by 1.5e-4
        ("ae_any_prop:iv_freeman_tukey", "ae", True, 2e-4),
    ],
)
def test_pooled_analyses_match_metafor(
    handmade_review, metafor_extra, analysis_id, ref_key, bt, tol
):
    assert_fit(entry(handmade_review, analysis_id), metafor_extra[ref_key], bt=bt, tol=tol)


def test_raw_numbers_are_those_of_the_last_follow_up(handmade_review):
    e = entry(handmade_review, "ais_improved_prop")
    assert [(s["study_id"], s["xi"], s["ni"]) for s in e["studies"]] == [
        ("s1", 7, 14),
        ("s2", 13, 31),
        ("s3", 9, 20),
        ("s4", 5, 11),
        ("s5", 2, 10),
    ]
    # the 6-month row of s1 (3/14) and the not_ais_grade row of s2 (30/31) are not used
    assert e["studies"][0]["outcome_ids"] == ["s1:1"]
    assert e["studies"][0]["label"] == "Alpha 2010"


def test_flagged_study_is_excluded_and_reported(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    assert list(a.selection.excluded["study_id"]) == ["s6"]
    assert a.selection.excluded["reason"].iloc[0] == "not_culture_expanded_msc"
    # the sensitivity analysis puts it back: k = 6
    fit = a.sensitivity["exclude_flagged"]
    assert fit.result.k == 6 and "s6" in set(fit.rows["study_id"])


def test_sensitivity_controlled_only_equals_pool_on_the_subset(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    fit = a.sensitivity["controlled_only"]
    assert list(fit.rows["study_id"]) == ["s3", "s4", "s5"]
    rows = a.main.rows
    m = rows["controlled"].eq("controlled").to_numpy()
    # single proportions: the sensitivity fits use the main model, the GLMM of the counts
    direct = pool_glmm(xi=rows["xi"][m], ni=rows["ni"][m], measure="PLO", method="ML")
    assert fit.result.estimate == pytest.approx(direct.estimate, abs=1e-12)
    ee = a.sensitivity["fixed_effect"].result
    direct_ee = pool_glmm(xi=rows["xi"], ni=rows["ni"], measure="PLO", method="EE")
    assert ee.estimate == pytest.approx(direct_ee.estimate, abs=1e-12)
    assert a.sensitivity["low_risk_of_bias"].startswith("not run")


def test_subgroups_by_route_match_metafor_and_caution_small_groups(handmade_review, metafor_extra):
    a = handmade_review.analysis("ais_improved_prop")
    sg = next(s for s in a.subgroups if s.variable == "route")
    ref = metafor_extra["subgroups"]
    for g, est, se in zip(ref["groups"], ref["estimate"], ref["se"], strict=True):
        assert sg.result.results[g].estimate == pytest.approx(est, abs=TOL)
        # intrathecal: tau2 next to 0, where metafor stops iterating early (see above)
        assert sg.result.results[g].se == pytest.approx(se, abs=1e-5)
    assert sg.result.Q_between == pytest.approx(ref["Q_between"], abs=1e-4)
    assert sg.result.Q_between_pval == pytest.approx(ref["Q_between_pval"], abs=1e-4)
    # intralesional and intravenous have one study each: a caution names both
    assert len(sg.cautions) == 2
    assert any("intralesional: 1 study" in c for c in sg.cautions)
    # results.json: one entry per subgroup level, with the caution listed on the parent
    main = entry(handmade_review, "ais_improved_prop")
    test = next(t for t in main["subgroup_tests"] if t["variable"] == "route")
    assert len(test["cautions"]) == 2
    sub = entry(handmade_review, "ais_improved_prop:route=intrathecal")
    assert sub["parent"] == "ais_improved_prop" and sub["pooled"]["k"] == 3


def test_meta_regression_on_log_dose_equals_pool_with_moderator(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    reg = a.regressions["log_dose"]
    rows = a.main.rows
    # cells/kg at 70 kg: s1 1e6/kg -> 7e7 cells; s4 2e6/kg -> 1.4e8
    np.testing.assert_allclose(rows["log_dose"], np.log10([7e7, 4e7, 1e8, 1.4e8, 3e7]), atol=1e-12)
    # the GLMM of the counts with the moderator (the main model of a single proportion)
    direct = pool_glmm(
        xi=rows["xi"], ni=rows["ni"], measure="PLO", mods={"log_dose": rows["log_dose"].to_numpy()}
    )
    np.testing.assert_allclose(reg.beta, direct.beta, atol=1e-12)
    assert reg.method == "ML" and reg.has_mods


def test_baseline_group_subgroup(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    sg = next(s for s in a.subgroups if s.variable == "baseline_group")
    assert set(sg.result.groups) == {"A", "B–D"}


def test_swim_sign_test_on_handmade(handmade_review):
    spec, res = next((s, r) for s, r in handmade_review.syntheses if s.id == "swim_neurophysiology")
    # s1 2/14 and s3 5/20 improved: fewer than half, no clear effect (the SWiM rule of
    # swim_tables); s2 0/31: no change; so no study has a clear direction and no sign test
    assert (res.n_benefit, res.n_harm, res.n_no_change, res.n_no_clear_effect) == (0, 0, 1, 2)
    assert res.p_value is None
    assert list(res.table["measured"]) == [14, 31, 20]


def test_results_json_is_json_safe_and_has_the_required_fields(handmade_review):
    d = handmade_review.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["data_hash"] == handmade_review.record.data_hash
    for key in ("software_version", "data_hash", "protocol", "analyses"):
        assert key in d
    for e in d["analyses"]:
        for key in ("id", "outcome", "measure", "method", "test", "studies", "pooled"):
            assert key in e
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2", "Q"):
            assert key in e["pooled"]
        for s in e["studies"]:
            assert {"study_id", "label", "yi", "vi"} <= set(s)
    ids = [e["id"] for e in d["analyses"]]
    assert len(ids) == len(set(ids))
    assert {x["id"] for x in d["not_pooled"]} == {
        "lt_change",
        "pp_change",
        "lt_md",
        "pp_md",
        "sensory_md",
        "ae_serious_prop",
    }


def test_natural_history_comparison_on_handmade(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    t = a.natural_history.set_index("study_id")
    # chronic AIS A studies are compared with the chronic-phase rate, the acute one with the
    # first-year rate: the acute expectation is the larger
    assert t.loc["s2", "expected"] > t.loc["s1", "expected"]
    assert t.loc["s1", "excess"] == pytest.approx(7 / 14 - t.loc["s1", "expected"])
    p = a.natural_history_pooled
    assert p["excess"] == pytest.approx(p["observed"] - p["expected"])


def test_cumulative_meta_analysis_is_ordered_by_year(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    cum = a.robustness["cumulative"]
    assert not isinstance(cum, str)
    d = cum.to_dict()
    assert d["study"] == ["Alpha 2010", "Beta 2012", "Gamma 2014", "Delta 2016", "Epsilon 2018"]


def test_risk_of_bias_judgements_drive_sensitivity_and_grade(handmade):
    from dataclasses import replace

    import pandas as pd

    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    rob = pd.DataFrame(
        {
            "study_id": ["s1", "s2", "s3", "s4", "s5"],
            "tool": ["ROBINS-I", "MINORS", "RoB2", "ROBINS-I", "RoB2"],
            "domain": ["overall"] * 5,
            "judgement": ["serious", "high", "low", "moderate", "low"],
        }
    )
    full = rob.reindex(columns=handmade.risk_of_bias.columns, fill_value="")
    ev = replace(handmade, risk_of_bias=full)
    r = run_review(ev, load_protocol())
    a = r.analysis("ais_improved_prop")
    low = a.sensitivity["low_risk_of_bias"]
    assert list(low.rows["study_id"]) == ["s3", "s5"]
    direct = pool_glmm(xi=low.rows["xi"], ni=low.rows["ni"], measure="PLO")
    assert low.result.estimate == pytest.approx(direct.estimate, abs=1e-12)
    # s1, s2 high (1), s4 moderate (0.5): weighted share decides the downgrade
    w = a.main.result.weights / 100
    share = w[0] + w[1] + 0.5 * w[3]
    d = a.grade.downgrades[0]
    assert d.levels == (1 if share > 0.5 else 0)
    assert f"{100 * share:.0f}%" in d.reason


def test_study_labels():
    import pandas as pd

    from sci_evidence.review.select import study_labels

    s = pd.DataFrame(
        {
            "study_id": ["a", "b", "c", "d", "e"],
            "first_author": ["Cheng H", "Zhang", "Zhang", "El-Kheir", ""],
            "year": pd.array([2014, 2015, 2015, None, 2020], dtype="Int64"),
        }
    )
    assert study_labels(s) == {
        "a": "Cheng 2014",
        "b": "Zhang 2015a",
        "c": "Zhang 2015b",
        "d": "El-Kheir",
        "e": "e 2020",
    }


def test_a_rerun_gives_the_same_results(handmade, handmade_review):
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    again = run_review(handmade, load_protocol()).to_dict()
    first = handmade_review.to_dict()
    for d in (again, first):
        d["run"].pop("started_utc")
        d["run"].pop("seconds")
    assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)
    assert first["run"]["seeds"]["protocol"] == load_protocol().seed
