"""Score analyses (issue 18): conversions, the change-correlation sensitivity and Xiao 2014's
mean difference against metafor (make_metafor_scores.R), the plain-words sentence generated
from the numbers, and what the bundled review pools or shows study by study."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from _handmade_scores import score_evidence
from scipy import stats

from sci_evidence import meta
from sci_evidence.evidence import load_evidence
from sci_evidence.evidence.model import EvidenceSet
from sci_evidence.review.analyses import run_analysis
from sci_evidence.review.protocol import load_protocol
from tolerances import REVIEW_VS_METAFOR

REF = json.loads((Path(__file__).parents[1] / "data" / "metafor_review_scores.json").read_text())
SCORE_IDS = ("motor_change", "motor_md", "lt_change", "pp_change", "lt_md", "pp_md", "sensory_md")


def approx(x):
    return pytest.approx(x, rel=REVIEW_VS_METAFOR, abs=1e-10)


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


@pytest.fixture(scope="module")
def bundled():
    return load_evidence()


def _run(evidence, protocol, analysis_id):
    spec = next(s for s in protocol.analyses if s.id == analysis_id)
    return run_analysis(evidence, spec, protocol)


def test_medians_with_iqr_and_ranges_are_converted_and_marked(protocol):
    a = _run(score_evidence(), protocol, "lt_change")
    rows = a.main.rows.set_index("study_id")
    conv = REF["conversions"]
    assert list(rows.index) == ["s1", "s2", "s4"]
    assert (rows.loc["s1", ["m1i", "sd1i"]].tolist()) == approx(conv["s1_post"])
    assert (rows.loc["s1", ["m2i", "sd2i"]].tolist()) == approx(conv["s1_base"])
    assert (rows.loc["s2", ["mi", "sdi"]].tolist()) == approx(conv["s2_change"])
    assert (rows.loc["s4", ["m1i", "sd1i"]].tolist()) == approx(conv["s4_post"])
    assert rows.loc["s4", ["m2i", "sd2i"]].tolist() == [50.0, 12.0]  # reported: kept
    assert rows.loc["s1", "converted"] == (
        "follow-up: converted from median and IQR (luo-wan); "
        "baseline: converted from median and IQR (luo-wan)"
    )
    assert rows.loc["s2", "converted"] == "converted from median and range (luo-wan)"
    assert rows.loc["s4", "converted"] == (
        "follow-up: converted from median and IQR and range (luo-wan)"
    )
    # results.json carries the mark for every study row
    studies = {s["study_id"]: s for s in a.main.studies()}
    assert studies["s2"]["converted"] == "converted from median and range (luo-wan)"


@pytest.mark.parametrize(("analysis_id", "key"), [("lt_change", "lt"), ("motor_change", "motor")])
def test_change_correlation_sensitivity_matches_metafor(protocol, analysis_id, key):
    a = _run(score_evidence(), protocol, analysis_id)
    fits = {k: v for k, v in a.sensitivity.items() if k.startswith("change_correlation")}
    assert sorted(fits) == [f"change_correlation_r={r}" for r in ("0.2", "0.5", "0.8")]
    for r in ("0.2", "0.5", "0.8"):
        ref, fit = REF[key][r], fits[f"change_correlation_r={r}"]
        assert fit.rows["yi"].tolist() == approx(ref["yi"])
        assert fit.rows["vi"].tolist() == approx(ref["vi"])
        res = fit.result
        got = [res.estimate, res.se, res.ci_lb, res.ci_ub, res.tau2]
        want = [ref[k] for k in ("estimate", "se", "ci_lb", "ci_ub", "tau2")]
        assert got == approx(want)
    # the main fit is the one at the protocol's r = 0.5, and the three differ
    assert a.main.result.estimate == approx(REF[key]["0.5"]["estimate"])
    vis = {r: REF[key][r]["vi"][0] for r in ("0.2", "0.5", "0.8")}
    assert vis["0.2"] > vis["0.5"] > vis["0.8"]


@pytest.mark.parametrize(("n", "q"), [(31, stats.t.ppf(0.975, 30)), (80, 1.959963984540054)])
def test_sd_of_a_reported_change_from_its_95_ci(protocol, n, q):
    # Cochrane Handbook 6.5.2.3: SD = √n·(upper − lower)/(2·t_{n−1}) (n < 60), 2·1.96 otherwise
    rows = [("s2:lt1", "s2", False, True, 12.0, n, 6.0, None, *[None] * 5)]
    rows.append(("s1:lt1", "s1", False, True, 12.0, 14, 4.0, 3.0, *[None] * 5))
    a = _run(score_evidence(rows, ci={"s2:lt1": (3.0, 9.5)}), protocol, "lt_change")
    r = a.main.rows.set_index("study_id").loc["s2"]
    sd = math.sqrt(n) * 6.5 / (2 * q)
    assert r["sdi"] == approx(sd)
    assert r["vi"] == approx(sd**2 / n)
    assert r["converted"] == "SD from the 95% CI of the mean (Cochrane 6.5.2.3)"


def test_change_correlation_says_why_when_every_change_sd_is_reported(protocol):
    rows = [("s2:lt1", "s2", False, True, 12.0, 31, 6.0, 5.0, *[None] * 5)]
    rows.append(("s1:lt1", "s1", False, True, 12.0, 14, 4.0, 3.0, *[None] * 5))
    a = _run(score_evidence(rows), protocol, "lt_change")
    assert a.status == "pooled"
    assert a.sensitivity["change_correlation"].startswith("not run: every study reports")


def test_xiao_2014_sensory_mean_difference_matches_metafor(protocol, bundled):
    a = _run(bundled, protocol, "sensory_md")
    assert a.status == "single study" and a.main is None
    row = a.individual.set_index("study_id").loc["xiao-2014"]
    ref = REF["xiao_md"]
    assert row["n"] == "35 vs 29"
    assert [row["estimate"], row["ci_lb"], row["ci_ub"]] == approx(
        [ref["yi"], ref["ci_lb"], ref["ci_ub"]]
    )
    # closed form: MD = m1 − m2, var = sd1²/n1 + sd2²/n2
    assert ref["vi"] == approx(41.6**2 / 35 + 36.4**2 / 29)
    assert (
        "Only one study (Xiao 2014, 35 vs 29 patients) compares MSC with control on the ASIA "
        "sensory score (light touch + pin prick)" in a.statement
    )
    assert (
        f"mean difference (MSC − control) +23.6 points (95% CI +{ref['ci_lb']:.1f} to "
        f"+{ref['ci_ub']:.1f}) on the 0–224 scale at 3 months" in a.statement
    )


def _liu_sentence(post_mean: float) -> str:
    """The sentence expected for Liu 2013's motor change, from the closed forms."""
    z = stats.norm.ppf(0.975)
    est = post_mean - 58.1

    def sign(v):
        return f"{v:+.1f}".replace("-", "−")

    def ci(r):
        se = meta.sd_change(22.2, 23.9, r) / math.sqrt(22)
        return f"95% CI {sign(est - z * se)} to {sign(est + z * se)}"

    return (
        f"Only one study (Liu 2013, 22 patients) reports the ASIA motor score with the numbers "
        f"a meta-analysis needs: mean change {sign(est)} points ({ci(0.5)}) on the 0–100 scale "
        f"at > 12 months (values from a secondary source); its change SD rests on an assumed baseline–follow-up correlation "
        f"r = 0.5 (r = 0.2: {ci(0.2)}; r = 0.8: {ci(0.8)})."
    )


def test_the_sentence_is_generated_from_the_numbers(protocol, bundled):
    a = _run(bundled, protocol, "motor_change")
    assert a.statement.startswith(_liu_sentence(61.5))
    frames = bundled.frames()
    o = frames["outcomes"].copy()
    o.loc[o["outcome_id"] == "liu-2013:6", "mean"] = 52.0
    frames["outcomes"] = o
    b = _run(EvidenceSet.from_frames(frames, origin="changed"), protocol, "motor_change")
    assert b.statement.startswith(_liu_sentence(52.0))
    assert "mean change −6.1 points" in b.statement
    assert b.statement != a.statement


def test_below_min_studies_each_study_is_named_with_its_conversion(protocol):
    # three usable studies under a protocol that needs four: not pooled, each one in words
    p = replace(protocol, min_studies=4)
    a = _run(score_evidence(), p, "lt_change")
    assert a.status == "no data" and a.main is None
    used = a.individual[a.individual["status"] == "in the analysis"]
    assert list(used["label"]) == ["Alpha 2010", "Beta 2012", "Delta 2016"]
    yi = REF["lt"]["0.5"]["yi"]
    assert list(used["estimate"]) == approx(yi)
    assert a.statement.startswith(
        "Only 3 studies (Alpha 2010, 14 patients; Beta 2012, 31 patients; Delta 2016, "
        "11 patients) report the ASIA light touch score with the numbers a meta-analysis "
        f"needs: Alpha 2010: mean change +{yi[0]:.1f} points"
    )
    assert (
        f"Beta 2012: mean change +{yi[1]:.1f} points" in a.statement
        and "(converted from median and range (luo-wan))" in a.statement
    )


def test_bundled_score_analyses_show_each_study(protocol, bundled):
    results = {i: _run(bundled, protocol, i) for i in SCORE_IDS}
    # the data allow no pooling: no score analysis has two studies with usable numbers
    assert {i: a.status for i, a in results.items()} == {
        "motor_change": "single study",
        "motor_md": "no data",
        "lt_change": "single study",
        "pp_change": "single study",
        "lt_md": "no data",
        "pp_md": "no data",
        "sensory_md": "single study",
    }
    for a in results.values():
        assert a.main is None and a.individual is not None and a.statement
    m = results["motor_change"].individual.set_index("study_id")
    assert m.loc["liu-2013", "status"] == "in the analysis"
    assert m.loc["liu-2013", "n"] == 22
    assert m.loc["liu-2013", "data"] == (
        "change SD from baseline and follow-up SDs, r = 0.5; values from a secondary source"
    )
    assert m.loc["schwann-msc-trial-2021", "status"] == "excluded by rule: combination product"
    assert m.loc["schwann-msc-trial-2021", "estimate"] == pytest.approx(41.00 - 37.54)
    assert "number of patients not reported" in m.loc["kishk-2010", "status"]
    assert "number of patients not reported" in m.loc["muse-cl2020-2024", "status"]
    assert "flagged msc subpopulation" in m.loc["muse-cl2020-2024", "status"]
    # Bydon 2024: motor total from UEMS + LEMS (both given), one patient, no variance
    assert m.loc["bydon-2024", "estimate"] == pytest.approx((44 + 49) - (35 + 36))
    assert m.loc["bydon-2024", "data"].startswith("derived: UEMS + LEMS")
    assert "one patient" in m.loc["bydon-2024", "status"]
    assert results["motor_md"].statement.startswith(
        "No study gives the numbers needed to pool the ASIA motor score."
    )
    assert "Liu 2013 (22 patients); not weighted: no control group reports this outcome" in (
        results["lt_md"].statement
    )


def test_results_json_and_report_carry_the_individual_studies(bundled_run):
    review, out = bundled_run
    doc = json.loads((out / "results.json").read_text())
    by_id = {x["id"]: x for x in doc["not_pooled"]}
    for i in SCORE_IDS:
        assert by_id[i]["statement"] == review.analysis(i).statement
        assert len(by_id[i]["individual"]) == len(review.analysis(i).individual)
    html = (out / "report.html").read_text()
    assert html.count('class="individual-statement"') == len(SCORE_IDS)
    assert '<table class="individual" data-analysis="sensory_md">' in html
    assert "<th>Mean difference, MSC − control (points, 0–224 scale)</th>" in html
    assert "<th>Mean change (points, 0–100 scale)</th>" in html


def test_motor_total_from_parts_needs_both(protocol):
    rows = [
        ("s1:u0", "s1", True, False, 0.0, 14, 10.0, 3.0, *[None] * 5),
        ("s1:u1", "s1", False, False, 12.0, 14, 14.0, 4.0, *[None] * 5),
        ("s1:l0", "s1", True, False, 0.0, 14, 20.0, 5.0, *[None] * 5),
    ]
    ev = score_evidence(rows)
    frames = ev.frames()
    o = frames["outcomes"]
    o = o[~o["outcome"].eq("motor_total")].copy()
    o.loc[o["outcome_id"].isin(["s1:u0", "s1:u1"]), "outcome"] = "uems"
    o.loc[o["outcome_id"] == "s1:l0", "outcome"] = "lems"
    frames["outcomes"] = o
    spec = next(s for s in protocol.analyses if s.id == "motor_change")
    a = run_analysis(EvidenceSet.from_frames(frames, origin="t"), spec, protocol)
    # baseline has both parts (30, SD 8), follow-up only UEMS: no motor total at follow-up
    assert a.status == "no data"
    o2 = o.copy()
    extra = o[o["outcome_id"] == "s1:l0"].assign(
        outcome_id="s1:l1",
        is_baseline=False,
        timepoint="12 months",
        timepoint_months=12.0,
        mean=22.0,
        sd=6.0,
    )
    frames["outcomes"] = __import__("pandas").concat([o2, extra], ignore_index=True)
    b = run_analysis(EvidenceSet.from_frames(frames, origin="t"), replace(spec), protocol)
    row = b.individual.set_index("study_id").loc["s1"]
    assert row["status"] == "in the analysis"
    # (14 + 22) − (10 + 20) = 6; SDs 4 + 6 = 10 and 3 + 5 = 8 (parts at correlation 1)
    assert row["estimate"] == pytest.approx(6.0)
    se = meta.sd_change(8.0, 10.0, 0.5) / math.sqrt(14)
    assert row["ci_ub"] - row["estimate"] == pytest.approx(stats.norm.ppf(0.975) * se)
