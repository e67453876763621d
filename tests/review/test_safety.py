"""Adverse events (review/safety.py): derived lower bounds for "any event", every
serious-graded event in the serious pool, and events by route with a GLMM moderator pinned
to metafor (make_metafor_safety_route.R; fixtures tests/data/safety_route_*.csv and
tests/data/metafor_safety_route.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _safety_set import safety_evidence
from scipy import stats
from scipy.special import logit

from sci_evidence.review.analyses import _sensitivity, run_analysis
from sci_evidence.review.protocol import SENSITIVITY_ANALYSES, load_protocol
from sci_evidence.review.safety import DERIVED, REPORTED, route_group, safety_by_route
from tolerances import (
    CLOPPER_PEARSON_RTOL,
    SAFETY_ROUTE_GLMM_CI_ATOL,
    SAFETY_ROUTE_GLMM_RTOL,
    SAFETY_ROUTE_GLMM_SE_RTOL,
)

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


@pytest.fixture(scope="module")
def bundled():
    from sci_evidence.evidence import load_evidence

    return load_evidence()


@pytest.fixture(scope="module")
def handmade_safety():
    return safety_evidence()


def _run(evidence, protocol, analysis_id):
    spec = next(s for s in protocol.analyses if s.id == analysis_id)
    return run_analysis(evidence, spec, protocol)


def _row(a, study_id) -> dict:
    rows = a.main.rows
    hit = rows[rows["study_id"] == study_id]
    assert len(hit) == 1, study_id
    return hit.iloc[0].to_dict()


# ---- derived lower bounds ------------------------------------------------------------------
def test_bundled_any_event_pool_takes_the_largest_single_type_as_a_marked_lower_bound(
    bundled, protocol
):
    a = _run(bundled, protocol, "ae_any_prop")
    bydon = _row(a, "bydon-2024")  # 8/10 headache or musculoskeletal pain, no "any" row
    assert (bydon["xi"], bydon["ni"], bydon["count"]) == (8, 10, DERIVED)
    assert bydon["count_basis"] == "headache_or_musculoskeletal_pain"
    assert bydon["label"].endswith(f"[{DERIVED}]")
    satti = _row(a, "satti-2016")  # tingling 2/9 beats headache 1/9 and serious 0/9
    assert (satti["xi"], satti["ni"], satti["count"], satti["count_basis"]) == (
        2,
        9,
        DERIVED,
        "tingling",
    )
    hur = _row(a, "hur-2016")  # an explicit any row: reported as it is
    assert (hur["xi"], hur["ni"], hur["count"]) == (3, 14, REPORTED)
    # only rows without an explicit count are derived
    derived = set(a.main.rows.loc[a.main.rows["count"] == DERIVED, "study_id"])
    assert derived == {"bydon-2024", "satti-2016", "mendonca-2014", "kishk-2010", "ejhm-series"}
    explicit = set(
        bundled.adverse_events.loc[bundled.adverse_events["ae_type"] == "any", "study_id"]
    )
    assert not derived & explicit


def test_rows_without_patients_give_no_bound_and_say_why(bundled, protocol):
    a = _run(bundled, protocol, "ae_any_prop")
    used = set(a.main.rows["study_id"])
    # Liu 2013 lists events (1 lumbago, 1 headache) but not patients; Yang 2021 percentages
    assert not {"liu-2013", "yang-2021"} & used
    r = safety_by_route(bundled, a)
    why = dict(zip(r.unusable["study_id"], r.unusable["reason"], strict=True))
    assert why["liu-2013"].startswith("patients with the event not reported")
    assert why["yang-2021"].startswith("patients with the event not reported")
    assert why["vij-2023"].startswith("only zero counts")  # serious 0/1 bounds nothing


def test_handmade_edge_cases_of_the_any_event_counts(handmade_safety, protocol):
    a = _run(handmade_safety, protocol, "ae_any_prop")
    rows = a.main.rows.set_index("study_id")
    assert (rows.loc["a2", "xi"], rows.loc["a2", "count"]) == (4, DERIVED)  # headache 4 > fever 2
    # a4: rash has events but no patients (NA): only fever 2/18 can bound
    assert (rows.loc["a4", "xi"], rows.loc["a4", "count_basis"]) == (2, "fever")
    assert rows.loc["a1", "count"] == REPORTED
    assert "a8" not in rows.index and "a9" not in rows.index
    r = safety_by_route(handmade_safety, a)
    why = dict(zip(r.unusable["study_id"], r.unusable["reason"], strict=True))
    assert set(why) == {"a8", "a9"}
    assert "not reported" in why["a8"] and "zero" in why["a9"]


def test_exclude_derived_counts_sensitivity(bundled, protocol):
    assert "exclude_derived_counts" in SENSITIVITY_ANALYSES
    a = _run(bundled, protocol, "ae_any_prop")
    fit = a.sensitivity["exclude_derived_counts"]
    assert fit.result.k == a.main.result.k - 5
    assert (fit.rows["count"] == REPORTED).all()
    studies = a.to_dict()["entry"]["studies"]  # the results.json study rows
    assert {s["study_id"]: s["count"] for s in studies}["bydon-2024"] == DERIVED
    # an analysis without derived counts says so instead of refitting the same rows
    s = _run(bundled, protocol, "ae_serious_prop")
    msg = _sensitivity(bundled, s.main.rows, s.spec, protocol, "exclude_derived_counts", {}, None)
    assert msg == "not run: no count of this analysis is a derived lower bound"


# ---- serious events --------------------------------------------------------------------------
def test_kishk_2010_is_in_the_bundled_serious_pool(bundled, protocol):
    a = _run(bundled, protocol, "ae_serious_prop")
    kishk = _row(a, "kishk-2010")
    # the ADEM row and the "serious" row both say 1/44: one patient, counted once
    assert (kishk["xi"], kishk["ni"]) == (1, 44)
    assert int(a.main.rows["xi"].sum()) >= 1


def test_serious_graded_events_enter_the_pool_without_double_counting(handmade_safety, protocol):
    a = _run(handmade_safety, protocol, "ae_serious_prop")
    rows = a.main.rows.set_index("study_id")
    # a1: serious row 1/20 and meningitis (serious) 1/20 — the same patient, once
    assert (rows.loc["a1", "xi"], rows.loc["a1", "count"]) == (1, REPORTED)
    # a2: no serious row; myelitis graded serious → 1/15, a lower bound
    assert (rows.loc["a2", "xi"], rows.loc["a2", "count"]) == (1, DERIVED)
    # a5: a serious row of 0 under an ADEM graded serious: the event wins
    assert (rows.loc["a5", "xi"], rows.loc["a5", "count_basis"]) == (
        1,
        "acute_disseminated_encephalomyelitis",
    )
    assert rows.loc["a9", "xi"] == 0
    assert "a3" not in rows.index  # "any" rows are not serious


def test_severe_is_not_serious():
    from sci_evidence.review.safety import event_counts

    ae = pd.DataFrame(
        {
            "ae_id": ["x:1"],
            "study_id": ["x"],
            "arm_id": ["x:t"],
            "ae_type": ["headache"],
            "severity": ["severe"],
            "n": [9],
            "patients": [1],
        }
    )
    rows, unusable = event_counts(ae, "serious", {"x:t": "treated"})
    assert rows == [] and unusable == []


# ---- routes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("route", "group"),
    [
        ("intrathecal", "intrathecal"),
        ("subarachnoid", "intrathecal"),
        ("intravenous", "intravenous"),
        ("intralesional", "intralesional"),
        ("intramedullary", "intralesional"),
        ("intralesional+intrathecal", "combined"),
        ("intramuscular+intrathecal+intravenous", "combined"),
        ("intra_arterial", "other"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_route_group_rule(route, group):
    assert route_group(route) == group


def test_single_study_route_is_its_clopper_pearson_interval(handmade_safety, protocol):
    r = safety_by_route(handmade_safety, _run(handmade_safety, protocol, "ae_any_prop"))
    g = r.groups.set_index("route_group").loc["combined"]
    assert (g["k"], g["events"], g["patients"]) == (1, 1, 8)
    # closed form: beta quantiles (Clopper & Pearson 1934)
    lo, hi = stats.beta.ppf(0.025, 1, 8), stats.beta.ppf(0.975, 2, 7)
    np.testing.assert_allclose(
        [g["proportion"], g["ci_lb"], g["ci_ub"]], [1 / 8, lo, hi], rtol=CLOPPER_PEARSON_RTOL
    )
    assert list(r.left_out["label"]) == ["AuthorA10 2009"]


def test_a_route_without_events_is_reported_not_fitted(bundled, protocol):
    r = safety_by_route(bundled, _run(bundled, protocol, "ae_any_prop"))
    g = r.groups.set_index("route_group")
    assert g.loc["combined", "events"] == 0 and g.loc["combined", "k"] == 2
    assert g.loc["combined", "method"].startswith("no patient had an event")
    assert g.loc["intravenous", "k"] == 0
    assert r.test["groups"] == ["intralesional", "intrathecal"]
    assert "combined" in r.note
    # 8/10 beside 0/50 made the conditional-mode Newton oscillate (a wrong maximum, 9.5%
    # instead of metafor's 2.1% for the intrathecal route): the fits now run clean
    assert r.warnings == ()


def _metafor():
    return {
        c["name"]: c for c in json.loads((DATA / "metafor_safety_route.json").read_text())["cases"]
    }


@pytest.mark.parametrize(
    ("set_name", "fixture"),
    [("bundled", "safety_route_rows.csv"), ("handmade", "safety_route_handmade_rows.csv")],
)
def test_route_glmm_equals_metafor(set_name, fixture, bundled, handmade_safety, protocol):
    evidence = bundled if set_name == "bundled" else handmade_safety
    r = safety_by_route(evidence, _run(evidence, protocol, "ae_any_prop"))
    # the rows metafor fitted are the rows the review compares
    want = pd.read_csv(DATA / fixture, keep_default_na=False)
    got = r.rows.assign(in_moderator=r.rows["route_group"].isin(r.test["groups"]))
    assert list(got["study_id"]) == list(want["study_id"])
    assert list(got["route_group"]) == list(want["route_group"])
    assert list(got["xi"]) == list(want["xi"]) and list(got["ni"]) == list(want["ni"])
    assert list(got["in_moderator"]) == [str(v) == "True" for v in want["in_moderator"]]
    cases = _metafor()
    m = cases[f"{set_name}_route_moderator"]
    res = r.moderator
    assert res.k == m["k"] and res.QM_df == m["QM_df"]
    # the same treatment coding as R's model.matrix(~route_group): same reference level
    assert list(res.coef_names) == [c.replace("route_group", "route") for c in m["coef_names"]]
    tol = SAFETY_ROUTE_GLMM_RTOL
    np.testing.assert_allclose(res.beta, m["beta"], rtol=tol, atol=tol)
    np.testing.assert_allclose(res.beta_se, m["se"], rtol=SAFETY_ROUTE_GLMM_SE_RTOL)
    np.testing.assert_allclose(res.beta_ci_lb, m["ci_lb"], rtol=tol, atol=tol)
    np.testing.assert_allclose(res.beta_ci_ub, m["ci_ub"], rtol=tol, atol=tol)
    np.testing.assert_allclose(res.tau2, m["tau2"], rtol=tol, atol=tol)
    np.testing.assert_allclose([r.test["QM"], r.test["pval"]], [m["QM"], m["QMp"]], rtol=tol)
    groups = r.groups.set_index("route_group")
    for name, c in cases.items():
        if not name.startswith(f"{set_name}_route_") or name.endswith("moderator"):
            continue
        g = groups.loc[c["route_group"]]
        assert g["k"] == c["k"]
        np.testing.assert_allclose(g["proportion"], c["proportion"], rtol=tol)
        # the interval on the model (logit) scale, where it is beta ± z·se
        np.testing.assert_allclose(
            logit([g["ci_lb"], g["ci_ub"]]),
            logit([c["prop_ci_lb"], c["prop_ci_ub"]]),
            atol=SAFETY_ROUTE_GLMM_CI_ATOL,
        )
        np.testing.assert_allclose(g["tau2"], c["tau2"], rtol=tol, atol=tol)


def test_review_result_carries_safety_by_route(handmade_safety, protocol):
    from sci_evidence.review.pipeline import run_review

    review = run_review(handmade_safety, protocol)
    assert [s.analysis_id for s in review.safety_by_route] == ["ae_any_prop", "ae_serious_prop"]
    d = review.to_dict()["safety_by_route"][0]
    assert d["analysis_id"] == "ae_any_prop" and d["test"]["df"] == 3
    assert {g["route_group"] for g in d["groups"]} == {
        "combined",
        "intralesional",
        "intrathecal",
        "intravenous",
    }
    frame = review.safety_by_route[0].to_frame()
    assert list(frame["k"]) == [1, 2, 2, 2]
    assert "route moderator (GLMM, Wald)" in review.safety_by_route[0].summary()


def test_safety_listing_says_how_each_row_enters_the_serious_pool(bundled):
    from sci_evidence.review.pipeline import safety_listing
    from sci_evidence.review.select import study_labels

    t = safety_listing(bundled, study_labels(bundled.studies))
    kishk = t[t["study_id"] == "kishk-2010"].set_index("event")["serious_pool"]
    adem = next(v for e, v in kishk.items() if "encephalomyelitis" in e)
    assert adem == "within the arm's count 1/44 (kishk-2010:4)"
    satti = t[(t["study_id"] == "satti-2016") & (t["severity"] == "severe")]["serious_pool"]
    assert list(satti) == ["not counted: severe is an intensity grade, not seriousness"]


def test_bundled_report_has_the_route_table_figure_and_json(bundled_run):
    review, out = bundled_run
    s = review.safety_by_route[0]
    d = json.loads((out / "results.json").read_text())
    block = d["safety_by_route"][0]
    assert block["analysis_id"] == "ae_any_prop"
    assert block["test"]["QM"] == pytest.approx(s.test["QM"])
    table = pd.read_csv(out / "tables" / "safety_by_route.csv")
    assert list(table["analysis_id"].unique()) == ["ae_any_prop", "ae_serious_prop"]
    assert len(table) == 8  # four route groups per analysis
    assert (out / "figures" / "safety_route_ae_any_prop.svg").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="safety-route-ae_any_prop"' in html
    assert f"Wald χ² = {s.test['QM']:.2f} on 1 df" in html  # generated from the result
    assert "Liu 2013 (patients with the event not reported" in html


def test_summary_of_findings_says_when_one_study_carries_every_serious_event(bundled_run):
    """The serious-event pool has its events in one study (Kishk 2010, 1/44): the GLMM cannot
    separate tau² from the mean, so the summary-of-findings row (table, CSV, results.json,
    page) carries that caveat beside the effect, with the summed counts; the any-event row,
    with events in several studies, carries none."""
    review, out = bundled_run
    serious = review.analysis("ae_serious_prop")
    rows = serious.main.rows
    with_events = int((rows["xi"] > 0).sum())
    x, n = int(rows["xi"].sum()), int(rows["ni"].sum())
    assert with_events == 1
    caveat = serious.grade.caveat
    assert caveat.startswith(f"events in 1 of {len(rows)} studies only")
    assert f"raw pooled rate {x}/{n} = {100 * x / n:.1f}%" in caveat
    assert review.analysis("ae_any_prop").grade.caveat == ""
    sof = pd.read_csv(out / "tables" / "summary_of_findings.csv").set_index("analysis_id")
    assert sof.loc["ae_serious_prop", "caveat"] == caveat
    grade = {g["analysis_id"]: g for g in json.loads((out / "results.json").read_text())["grade"]}
    assert grade["ae_serious_prop"]["caveat"] == caveat
    html = (out / "report.html").read_text(encoding="utf-8")
    row = html[html.index('id="tbl-sof"') :]
    row = row[row.index('href="#a-ae_serious_prop"') :]
    row = row[: row.index("</tr>")]
    assert caveat in row
