"""The models of the default review of the bundled base (issue 18, section 1): the GLMM main
model of single proportions, MH/Peto/conditional GLMM beside the random-effects model of the
controlled AIS tables, the Bayesian sensitivity analysis, the IV disagreement warning and the
raw Clopper–Pearson intervals in forest plots.

References: tests/data/metafor_review_glmm.json, made by make_metafor_review_glmm.R (metafor
3.8-1) from tests/data/review_glmm_rows.csv (export_review_glmm_rows.py: the review's rows);
the Bayes posterior against a dense-grid integration written here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import beta as beta_dist
from scipy.stats import norm

from tolerances import (
    GLMM_RTOL_LME4_FLAT,
    GLMM_RTOL_LME4_TIGHT,
    REVIEW_BAYES_GRID,
    REVIEW_GLMM_CM_EL,
    REVIEW_GLMM_CM_EL_SE,
    SAFETY_ROUTE_GLMM_CI_ATOL,
)

DATA = Path(__file__).parents[1] / "data"
REF = json.loads((DATA / "metafor_review_glmm.json").read_text())


@pytest.fixture(scope="module")
def review():
    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    return run_review(load_evidence(), load_protocol())


@pytest.fixture(scope="module")
def results(review):
    return {e["id"]: e for e in review.to_dict()["analyses"]}


def test_fixture_rows_are_the_rows_the_review_pools():
    from export_review_glmm_rows import review_rows

    fixture = pd.read_csv(DATA / "review_glmm_rows.csv", dtype={"label": str})
    now = review_rows()
    assert list(now["label"]) == list(fixture["label"])
    for c in ("xi", "ni", "ai", "n1i", "ci", "n2i"):
        np.testing.assert_array_equal(now[c].astype(float), fixture[c].astype(float), err_msg=c)


def _close(ours, ref, rtol, atol=1e-6):
    return abs(ours - ref) <= rtol * abs(ref) + atol


@pytest.mark.parametrize("aid", ["ais_improved_prop", "ae_any_prop", "ae_serious_prop"])
def test_single_proportions_main_model_is_the_glmm_of_metafor(results, aid):
    e, ref = results[aid], REF[aid]
    assert [s["label"] for s in e["studies"]] == ref["labels"]
    p = e["pooled"]
    assert e["method"] == "ML" and p["glmm_model"] is None and p["k"] == ref["k"]
    # ae_any_prop: tau2 ≈ 6 (8/10 beside 0/50), a flat maximum where lme4's 7-node quadrature
    # and ours differ by 5e-5 (with nAGQ = 21 both agree to 1e-6: -4.139821 vs -4.139825)
    flat = ref["tau2"] > 5
    rtol = GLMM_RTOL_LME4_FLAT if flat else GLMM_RTOL_LME4_TIGHT
    for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2"):
        assert _close(p[key], ref[key], rtol), (key, p[key], ref[key])
    # a logit-scale bound that differs by d moves a small proportion by a relative ~d
    bt_rtol = SAFETY_ROUTE_GLMM_CI_ATOL if flat else rtol
    for key in ("estimate", "ci_lb", "ci_ub"):
        assert _close(p["back_transformed"][key], ref["bt"][key], bt_rtol), key


def test_controlled_ais_mantel_haenszel_and_conditional_glmm_equal_metafor(results):
    mh = results["ais_improved_rr:mantel_haenszel"]
    assert mh["method"] == "MH" and mh["measure"] == "RR"
    for key in ("estimate", "ci_lb", "ci_ub"):
        assert mh["pooled"][key] == pytest.approx(REF["mh_rr"][key], abs=1e-8), key
        # the ratio the reader sees, never the log
        assert mh["pooled"]["back_transformed"][key] == pytest.approx(
            REF["mh_rr"]["bt"][key], rel=1e-8
        )
    rd = results["ais_improved_rd:mantel_haenszel"]["pooled"]
    for key in ("estimate", "se", "ci_lb", "ci_ub"):
        assert rd[key] == pytest.approx(REF["mh_rd"][key], abs=1e-8), key
    cm = results["ais_improved_rr:glmm_conditional"]
    assert cm["measure"] == "OR" and cm["pooled"]["glmm_model"] == "CM.EL"
    c, ref = cm["pooled"], REF["glmm_cm_el"]
    assert _close(c["estimate"], ref["estimate"], REVIEW_GLMM_CM_EL)
    for key in ("tau2", "se"):
        assert _close(c[key], ref[key], REVIEW_GLMM_CM_EL_SE), key
    z = norm.ppf(0.975)
    assert c["ci_lb"] == pytest.approx(c["estimate"] - z * c["se"], abs=1e-10)
    assert ref["ci_lb"] == pytest.approx(ref["estimate"] - z * ref["se"], abs=1e-8)
    # the odds ratio the reader sees, never the log
    assert c["back_transformed"]["estimate"] == pytest.approx(np.exp(c["estimate"]), rel=1e-12)


@pytest.mark.parametrize("which, ref", [("peto", "peto"), ("mantel_haenszel", "mh_or")])
def test_odds_ratio_models_of_the_review_rows_equal_metafor(review, which, ref):
    from sci_evidence.review.models import binary_model_fit

    a = review.analysis("ais_improved_rr")
    spec = replace(a.spec, measure="OR")
    fit = binary_model_fit(a.main.rows, spec, review.protocol, which)
    for key in ("estimate", "ci_lb", "ci_ub"):
        assert getattr(fit.result, key) == pytest.approx(REF[ref][key], abs=1e-8), key
    assert fit.to_dict()["pooled"]["back_transformed"]["estimate"] == pytest.approx(
        REF[ref]["bt"]["estimate"], rel=1e-8
    )


def _grid_posterior(y, v, tau_scale):
    """Normal–normal model, flat prior on mu, half-normal(tau_scale) on tau: p(tau | y) on a
    dense grid (mu integrated out in closed form) and mu | tau, y ~ N(m(tau), s(tau)^2)."""
    tau = np.linspace(0.0, 12.0 * tau_scale + 6.0, 40001)
    w = 1.0 / (v[None, :] + tau[:, None] ** 2)
    sw = w.sum(1)
    m = (w * y).sum(1) / sw
    q = (w * (y - m[:, None]) ** 2).sum(1)
    logp = -0.5 * tau**2 / tau_scale**2 + 0.5 * np.log(w).sum(1) - 0.5 * np.log(sw) - 0.5 * q
    p = np.exp(logp - logp.max())
    p /= np.trapezoid(p, tau)
    return tau, p, m, 1 / np.sqrt(sw)


def _grid_quantile(tau, p, m, s, prob):
    from scipy.optimize import brentq

    def cdf(x):
        return np.trapezoid(p * norm.cdf((x - m) / s), tau) - prob

    return brentq(cdf, m.min() - 20 * s.max(), m.max() + 20 * s.max(), xtol=1e-12)


@pytest.mark.parametrize("aid", ["ais_improved_rr", "ais_improved_rd"])
def test_bayes_sensitivity_equals_a_dense_grid(review, results, aid):
    a = review.analysis(aid)
    b = results[aid]["bayes"]
    assert a.k < 5 and isinstance(b, dict)
    y, v = a.main.rows["yi"].to_numpy(float), a.main.rows["vi"].to_numpy(float)
    scale = {"ais_improved_rr": 0.5, "ais_improved_rd": 0.125}[aid]
    assert b["tau_prior"] == ["halfnormal", scale]
    tau, p, m, s = _grid_posterior(y, v, scale)
    tf = np.exp if aid.endswith("rr") else (lambda x: x)
    for key, prob in (("median", 0.5), ("lower", 0.025), ("upper", 0.975)):
        assert b[key] == pytest.approx(
            tf(_grid_quantile(tau, p, m, s, prob)), rel=REVIEW_BAYES_GRID
        ), key
    p_above = np.trapezoid(p * norm.sf((0 - m) / s), tau)
    assert b["prob_above_null"] == pytest.approx(p_above, abs=REVIEW_BAYES_GRID)
    assert b["null"] == (1.0 if aid.endswith("rr") else 0.0)


def test_bayes_runs_only_below_five_studies_and_single_proportions_have_no_null(review):
    from sci_evidence.review.models import bayes_sensitivity

    a = review.analysis("ais_improved_prop")
    assert a.k >= 5 and a.bayes.startswith("not run: k = ")
    rows = a.main.rows.iloc[:3]
    b = bayes_sensitivity(rows, a.spec, review.protocol)
    assert b.prob_above_null is None and b.scale == "proportion"
    tau, p, m, s = _grid_posterior(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), 0.5)
    assert b.median == pytest.approx(expit(_grid_quantile(tau, p, m, s, 0.5)), rel=1e-5)
    assert "%" in b.text() and "P(" not in b.text()


def test_bayes_prior_names_the_scale_of_tau(review):
    """The prior on τ says the scale it is on: log RR for the RR, the risk difference (also
    in percentage points, the scale the report reads) for the RD, logit for a proportion."""
    rr = review.analysis("ais_improved_rr").bayes.prior_text()
    assert rr.startswith("τ ~ half-normal(0.5) on the log RR scale")
    rd = review.analysis("ais_improved_rd").bayes.prior_text()
    assert rd.startswith(
        "τ ~ half-normal(0.125, i.e. 12.5 percentage points) on the risk difference scale"
    )
    from sci_evidence.review.models import bayes_sensitivity

    a = review.analysis("ais_improved_prop")
    b = bayes_sensitivity(a.main.rows.iloc[:3], a.spec, review.protocol)
    assert b.prior_text().startswith("τ ~ half-normal(0.5) on the logit scale")


def test_adverse_events_interval_contains_the_raw_pooled_rate(results):
    e = results["ae_any_prop"]
    raw = sum(s["xi"] for s in e["studies"]) / sum(s["ni"] for s in e["studies"])
    bt = e["pooled"]["back_transformed"]
    assert bt["ci_lb"] <= raw <= bt["ci_ub"]
    # and so does the GLMM without the derived lower bounds (3 events in 188 patients)
    e = results["ae_any_prop:exclude_derived_counts"]
    raw = sum(s["xi"] for s in e["studies"]) / sum(s["ni"] for s in e["studies"])
    bt = e["pooled"]["back_transformed"]
    assert bt["ci_lb"] <= raw <= bt["ci_ub"]


def test_ae_any_warns_that_one_study_with_events_cannot_identify_the_glmm(results):
    # without the derived lower bounds only Hur 2016 (3/14) has events
    warned = results["ae_any_prop"]["warnings"]
    msgs = [w["message"] for w in warned if w["step"] == "sensitivity: exclude_derived_counts"]
    assert any("events in 1 of 11 studies only" in m and "3/188 = 1.6%" in m for m in msgs)
    # with them, events in 6 of 16 studies: the main GLMM is identified
    msgs = [w["message"] for w in warned if w["step"] == "main analysis"]
    assert not any("cannot separate" in m for m in msgs)
    msgs = [w["message"] for w in results["ais_improved_prop"]["warnings"]]
    assert not any("cannot separate" in m for m in msgs)


def test_iv_sensitivity_disagreement_follows_the_stated_rule(review, results):
    from sci_evidence.review.models import DISAGREE_PP, iv_disagreement

    for aid in ("ais_improved_prop", "ae_any_prop", "ae_serious_prop"):
        a = review.analysis(aid)
        g = results[aid]["pooled"]["back_transformed"]
        for name in ("iv_logit", "iv_freeman_tukey"):
            v = results[f"{aid}:{name}"]["pooled"]["back_transformed"]
            outside = not g["ci_lb"] <= v["estimate"] <= g["ci_ub"]
            gap = 100 * max(abs(g["ci_lb"] - v["ci_lb"]), abs(g["ci_ub"] - v["ci_ub"]))
            expected = outside or gap > DISAGREE_PP
            text = iv_disagreement(a.main, a.sensitivity[name])
            assert (text is not None) == expected, (aid, name)
            warned = [w for w in results[aid]["warnings"] if w["step"] == f"sensitivity: {name}"]
            assert any(w["message"] == text for w in warned) == expected
    # both outcomes occur in the bundled review
    a = review.analysis("ais_improved_prop")
    assert iv_disagreement(a.main, a.sensitivity["iv_freeman_tukey"]) is None
    a = review.analysis("ae_serious_prop")
    assert "outside the GLMM's confidence interval" in iv_disagreement(
        a.main, a.sensitivity["iv_freeman_tukey"]
    )


def test_subgroups_and_diagnostics_say_they_use_the_logit_iv_model(review, results):
    a = review.analysis("ais_improved_prop")
    assert any("logit inverse-variance model" in n for n in a.notes)
    # leave-one-out runs on the IV fit: its first row equals an IV fit without study 1
    from sci_evidence import meta

    loo = a.robustness["leave_one_out"]
    rows = a.main.rows.iloc[1:]
    iv = meta.pool(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), method="REML")
    assert loo.to_frame()["estimate"].iloc[0] == pytest.approx(iv.estimate, abs=1e-8)
    # the funnel plot and trim-and-fill use the same IV fit of all studies
    full = meta.pool(a.main.rows["yi"].to_numpy(float), a.main.rows["vi"].to_numpy(float))
    assert a.diagnostics_fit.method == "REML"
    assert a.diagnostics_fit.estimate == pytest.approx(full.estimate, abs=1e-10)
    assert a.main.result.method == "ML" and a.main.result.estimate != full.estimate
    reg = results["ais_improved_prop"]["meta_regression"]["log_dose"]
    assert reg["glmm_model"] is None and reg["method"] == "ML"


def test_forest_plot_draws_raw_proportions_with_clopper_pearson(review):
    from sci_evidence.report.writer import forest_for

    a = review.analysis("ae_serious_prop")
    fig = forest_for(a.main, a.spec.measure)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    rows = a.main.rows
    for x, n in zip(rows["xi"], rows["ni"], strict=True):
        lo = 0.0 if x == 0 else beta_dist.ppf(0.025, x, n - x + 1)
        hi = 1.0 if x == n else beta_dist.ppf(0.975, x + 1, n - x)
        assert f"{100 * x / n:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" in texts, (x, n)


def test_protocol_model_and_sensitivity_keys_are_checked():
    from sci_evidence.errors import InputError
    from sci_evidence.review.protocol import parse_protocol

    base = (
        'title = "t"\nseed = 1\n[[analyses]]\nid = "a"\noutcome = "ais_improved"\n'
        'design = "{design}"\nmeasure = "{measure}"\n'
    )
    p = parse_protocol(base.format(design="single_arm", measure="PLO"))
    assert p.analyses[0].model == "glmm"
    p = parse_protocol(base.format(design="single_arm", measure="PFT"))
    assert p.analyses[0].model == "iv"
    with pytest.raises(InputError, match="glmm applies to single_arm PLO analyses only"):
        parse_protocol(base.format(design="controlled", measure="RR") + 'model = "glmm"\n')
    with pytest.raises(InputError, match="peto applies to controlled analyses of OR only"):
        parse_protocol(base.format(design="controlled", measure="RR") + 'sensitivity = ["peto"]\n')
    p = parse_protocol(base.format(design="controlled", measure="MD") + "bayes_tau_scale = 4\n")
    assert p.analyses[0].bayes_tau_scale == 4.0


@pytest.mark.parametrize("variable", ["baseline_group", "route", "cell_source", "injury_phase"])
def test_glmm_subgroup_test_equals_metafor(review, variable):
    a = review.analysis("ais_improved_prop")
    sg = next(s for s in a.subgroups if s.variable == variable)
    ref = REF["ais_improved_prop"]["subgroups"][variable]
    t = sg.glmm_test
    assert t["df"] == ref["df"]
    for key in ("QM", "pval", "tau2"):
        assert _close(t[key], ref[key], GLMM_RTOL_LME4_TIGHT), key
    assert f"QM = {ref['QM']:.2f}" in sg.note and "logit inverse-variance" in sg.note


def test_degenerate_glmm_subgroup_test_is_not_reported_as_a_test(review):
    from dataclasses import replace

    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.analyses import run_analysis

    # the default protocol compares routes of adverse events in the safety section only;
    # asked as a subgroup, the GLMM's route test is degenerate (no events with 2 routes)
    spec = replace(review.protocol.analysis("ae_any_prop"), subgroups=("route",))
    a = run_analysis(load_evidence(), spec, review.protocol)
    sg = next(s for s in a.subgroups if s.variable == "route")
    assert sg.glmm_test["diagnostics"]
    assert "gives no usable test" in sg.note and "QM =" not in sg.note
    assert any(st == "subgroups by route (GLMM)" for st, _ in a.warnings)
