"""The default review of the bundled evidence base: files, results.json, and consistency of
every pooled number with ``pool`` run on the same study rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sci_evidence import __version__
from sci_evidence.evidence import load_evidence
from sci_evidence.meta import pool
from sci_evidence.review.select import study_labels


def test_files_written(bundled_run):
    result, out = bundled_run
    files = json.loads((out / "run_record.json").read_text())["files"]
    for f in files:
        assert (out / f).is_file(), f
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    for stem in svgs:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{stem}.{ext}").stat().st_size > 0
    assert {
        "forest_ais_improved_prop",
        "natural_history_ais_improved_prop",
        "prisma_flow",
        "rob_traffic_light_rob2",
        "rob_traffic_light_robins_i",
        "rob_traffic_light_minors",
        "rob_summary_rob2",
        "rob_summary_robins_i",
        "rob_summary_minors",
        "funnel_ais_improved_prop",
        "forest_ais_improved_prop_by_route",
    } <= set(svgs)
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {
        "study_characteristics",
        "pooled_results",
        "summary_of_findings",
        "subgroups",
        "natural_history_comparison",
        "swim_sign_tests",
        "published_comparison",
        "serious_adverse_events",
        "excluded_studies",
    } <= tables
    html = (out / "report.html").read_text()
    assert "<script src" not in html and "<link " not in html  # self-contained
    assert html.count("<svg") == len(svgs)


def test_results_json_and_run_record(bundled_run):
    result, out = bundled_run
    d = json.loads((out / "results.json").read_text())
    ev = load_evidence()
    assert d["software_version"] == __version__
    assert d["data_hash"] == ev.data_hash
    assert d["protocol"]["seed"] == result.protocol.seed
    record = json.loads((out / "run_record.json").read_text())
    assert (
        record["data_hash"] == ev.data_hash and record["seeds"]["protocol"] == result.protocol.seed
    )
    assert record["protocol"] == d["protocol"]
    main = next(e for e in d["analyses"] if e["id"] == "ais_improved_prop")
    # the main model of a single proportion is the binomial-normal GLMM (ML)
    assert main["measure"] == "PLO" and main["method"] == "ML"
    bt = main["pooled"]["back_transformed"]
    assert bt["scale"] == "proportion" and 0 < bt["ci_lb"] < bt["estimate"] < bt["ci_ub"] < 1
    assert all({"xi", "ni", "yi", "vi", "label"} <= set(s) for s in main["studies"])
    excluded = {x["study_id"] for x in d["excluded_studies"]}
    assert {"kakabadze-2016", "schwann-msc-trial-2021", "xiao-2018"} <= excluded
    # some subgroup has fewer than 3 studies: a caution is written
    assert any(t["cautions"] for t in main["subgroup_tests"])


def _refit(e):
    """The entry's model refitted from its studies: the GLMMs and Mantel–Haenszel/Peto from
    the counts, the inverse-variance models from yi/vi."""
    from sci_evidence.meta import pool_glmm, pool_mh, pool_peto

    col = {c: np.array([s.get(c) for s in e["studies"]], dtype=float) for c in e["studies"][0]
           if c in ("xi", "ni", "ai", "n1i", "ci", "n2i")}  # fmt: skip
    if "glmm_model" in e["pooled"] and e["measure"] == "PLO":
        return pool_glmm(xi=col["xi"], ni=col["ni"], measure="PLO", method=e["method"])
    if "glmm_model" in e["pooled"]:
        return pool_glmm(**col, measure=e["measure"], model=e["pooled"]["glmm_model"])
    if e["method"] == "MH":
        return pool_mh(
            col["ai"], n1i=col["n1i"], ci=col["ci"], n2i=col["n2i"], measure=e["measure"]
        )
    if e["method"] == "PETO":
        return pool_peto(col["ai"], n1i=col["n1i"], ci=col["ci"], n2i=col["n2i"])
    yi = np.array([s["yi"] for s in e["studies"]])
    vi = np.array([s["vi"] for s in e["studies"]])
    return pool(yi, vi, method=e["method"], test=e["test"])


def test_every_pooled_entry_equals_pool_on_its_studies(bundled_run):
    result, out = bundled_run
    d = json.loads((out / "results.json").read_text())
    for e in d["analyses"]:
        r = _refit(e)
        assert e["pooled"]["estimate"] == pytest.approx(r.estimate, abs=1e-10), e["id"]
        assert e["pooled"]["ci_ub"] == pytest.approx(r.ci_ub, abs=1e-10), e["id"]
        assert e["pooled"]["tau2"] == pytest.approx(r.tau2, abs=1e-10), e["id"]
        assert sum(s["weight"] for s in e["studies"]) == pytest.approx(100.0)


def test_chronic_and_acute_are_visible_against_natural_history(bundled_run):
    result, _ = bundled_run
    a = result.analysis("ais_improved_prop")
    t = a.natural_history
    chronic = t[t["injury_phase"] == "chronic"]["expected"].dropna()
    acute = t[t["injury_phase"].isin(["acute", "subacute"])]["expected"].dropna()
    assert len(chronic) and len(acute)
    assert chronic.max() < acute.min()  # chronic injuries barely change on their own


def test_unpooled_outcome_says_which_studies_report_it_and_why_not_used(bundled_run):
    """An outcome that studies do report but that cannot be pooled must not read 'no study
    reports this outcome': the note names the reporting studies and the reason."""
    _, out = bundled_run
    d = json.loads((out / "results.json").read_text())
    ev = load_evidence()
    # Liu 2013's pre/post motor means (audit) make motor_change a single-study analysis; the
    # controlled mean difference still has no usable study, and its note must say who reports.
    change = next(e for e in d["not_pooled"] if e["id"] == "motor_change")
    assert change["status"] == "single study" and change["k"] == 1
    motor = next(e for e in d["not_pooled"] if e["id"] == "motor_md")
    reporting = set(ev.outcomes.loc[ev.outcomes["outcome"] == "motor_total", "study_id"])
    assert reporting, "the bundled evidence reports total motor scores"
    note = motor["notes"][0]
    assert "no study reports" not in note
    # named by their labels, never by internal ids
    labels = study_labels(ev.studies)
    assert all(labels[sid] in note for sid in reporting)
    assert not any(sid in note for sid in reporting if sid != labels[sid])
    assert "none gives usable data" in note


def test_tien_2019_counts_as_a_controlled_study(bundled_run):
    """Audit finding M01: Tien 2019 is a two-group controlled study (47 patients, intervention
    vs control), which the base once recorded as single-arm. The review counts it among the
    controlled studies of the AIS analysis; it cannot enter the risk ratio, because its source
    gives AIS transitions for the treated arm only."""
    result, _ = bundled_run
    a = result.analysis("ais_improved_prop")
    controlled = a.sensitivity["controlled_only"]
    assert "tien-2019" in set(controlled.rows["study_id"])
    assert "tien-2019" in set(a.main.rows["study_id"])
    ev = load_evidence()
    arms = ev.arms[ev.arms["study_id"] == "tien-2019"]
    assert set(arms["role"]) == {"treated", "control"}
    control_ais = ev.outcomes[
        (ev.outcomes["arm_id"] == "tien-2019:control")
        & ev.outcomes["outcome"].isin(["ais_improved", "ais_transition"])
    ]
    assert control_ais.empty
    rr = result.analysis("ais_improved_rr")
    assert "tien-2019" not in set(rr.main.rows["study_id"])
