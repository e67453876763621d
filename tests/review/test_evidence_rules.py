"""Issue 17, review side: possible duplicates excluded by rule and tried back in, the
"primary sources only" sensitivity analysis, GRADE's risk-of-bias domain on the per-study
judgements, and no upgrading of uncontrolled evidence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sci_evidence.evidence import load_evidence
from sci_evidence.review.analyses import primary_rows, run_analysis
from sci_evidence.review.grade import ROB_CONCERN, assess_certainty
from sci_evidence.review.protocol import default_protocol_text, load_protocol, parse_protocol
from sci_evidence.review.select import study_exclusions


@pytest.fixture(scope="module")
def bundled():
    return load_evidence()


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


def _spec(protocol, analysis_id):
    return next(a for a in protocol.analyses if a.id == analysis_id)


def test_possible_duplicate_excluded_by_default_rule(bundled, protocol):
    assert protocol.inclusion.exclude_possible_duplicates is True
    excl = study_exclusions(bundled.studies, protocol.inclusion)
    reasons = dict(zip(excl["study_id"], excl["reason"], strict=True))
    assert reasons["zhang-2015b"] == "possible_duplicate_of:guo-2014"
    assert "guo-2014" not in reasons  # the study it may duplicate stays
    off = replace(protocol.inclusion, exclude_possible_duplicates=False)
    assert "zhang-2015b" not in set(study_exclusions(bundled.studies, off)["study_id"])


def test_protocol_reads_the_duplicate_rule():
    raw = default_protocol_text().replace(
        "exclude_possible_duplicates = true", "exclude_possible_duplicates = false"
    )
    assert parse_protocol(raw).inclusion.exclude_possible_duplicates is False


def _with_duplicate(evidence, study_id, of):
    s = evidence.studies.copy()
    s.loc[s["study_id"] == study_id, "duplicate_of"] = of
    return replace(evidence, studies=s)


def test_duplicate_tried_back_in_as_sensitivity(bundled, protocol):
    spec = _spec(protocol, "ais_improved_prop")
    assert "include_possible_duplicates" in spec.sensitivity
    plain = run_analysis(bundled, spec, protocol)
    # mark one pooled study as a possible duplicate of another: it leaves the main analysis
    ev = _with_duplicate(bundled, "pal-2009", "saito-2012")
    a = run_analysis(ev, spec, protocol)
    assert "pal-2009" in set(plain.main.rows["study_id"])
    assert "pal-2009" not in set(a.main.rows["study_id"])
    assert a.main.result.k == plain.main.result.k - 1
    back_in = a.sensitivity["include_possible_duplicates"]
    assert "pal-2009" in set(back_in.rows["study_id"])
    # tried back in, the fit is the original main fit
    assert back_in.result.estimate == pytest.approx(plain.main.result.estimate, abs=1e-12)
    # where no duplicate left the analysis, it says so rather than refitting
    assert plain.sensitivity["include_possible_duplicates"].startswith("not run: no possible")


def test_primary_sources_only_leaves_out_secondary_values(bundled, protocol):
    spec = _spec(protocol, "ais_improved_prop")
    a = run_analysis(bundled, spec, protocol)
    fit = a.sensitivity["primary_sources_only"]
    tier = dict(zip(bundled.outcomes["outcome_id"], bundled.outcomes["source_tier"], strict=True))
    main = a.main.rows
    expected = [
        sid
        for sid, ids in zip(main["study_id"], main["outcome_ids"], strict=True)
        if all(tier[i] == "primary" for i in ids.split(";"))
    ]
    assert 0 < len(expected) < len(main)
    assert list(fit.rows["study_id"]) == expected
    assert fit.result.k == len(expected)
    assert primary_rows(bundled, main).sum() == len(expected)


def test_primary_rows_for_adverse_events(bundled, protocol):
    a = run_analysis(bundled, _spec(protocol, "ae_any_prop"), protocol)
    tier = dict(
        zip(bundled.adverse_events["ae_id"], bundled.adverse_events["source_tier"], strict=True)
    )
    keep = primary_rows(bundled, a.main.rows)
    want = [tier[i] == "primary" for i in a.main.rows["outcome_ids"]]
    assert list(keep) == want
    assert a.sensitivity["primary_sources_only"].result.k == sum(want)


def _grade(rob, weights, **kw):
    k = len(rob)
    args = {
        "analysis_id": "x",
        "outcome": "x",
        "n_patients": 500,
        "randomised": [False] * k,
        "rob": rob,
        "weights": weights,
        "I2": 0.0,
        "ci": (0.1, 0.3),
        "pi": None,
        "null": None,
        "egger_pval": None,
        "single_arm": True,
        "labels": [f"S{i}" for i in range(k)],
    }
    args.update(kw)
    return assess_certainty(**args)


def _rob(g):
    return next(d for d in g.downgrades if d.domain == "risk_of_bias")


def test_no_information_is_a_judgement_not_not_assessed():
    g = _grade(["no_information", "no_information"], [1, 1])
    d = _rob(g)
    assert "not assessed" not in d.reason
    assert "no information 100%" in d.reason
    assert d.levels == 0  # weighted concern 50%, not above the 50% threshold
    none = _rob(_grade([None, None], [1, 1]))
    assert none.levels == 1 and "not assessed for any study" in none.reason


def test_rob_downgrade_weighted_by_the_analysis_and_says_why():
    # high risk with 60% of the weight: concern 0.6 > 0.5 → −1
    d = _rob(_grade(["high", "low"], [3, 2]))
    assert d.levels == 1
    assert d.reason.startswith("serious: ")
    assert "high/serious/critical risk carry 60% of the weight (S0 high)" in d.reason
    assert "low risk 40%" in d.reason
    # the same judgements with the weights swapped: 40% → no downgrade
    assert _rob(_grade(["high", "low"], [2, 3])).levels == 0
    # ROBINS-I serious and critical count as high: > 80% concern, > 50% high → −2
    d2 = _rob(_grade(["serious", "critical", "moderate"], [4, 4, 1]))
    assert d2.levels == 2 and "very serious" in d2.reason
    assert "S0 serious" in d2.reason and "S1 critical" in d2.reason


def test_upgrading_never_applied_to_uncontrolled_evidence():
    g = _grade(["low", "low"], [1, 1], n_patients=5000)
    assert g.upgrading.startswith("not applied: uncontrolled")
    # start low, indirectness −1, nothing added back for a large, precise effect
    assert (g.start, g.total_downgrade, g.certainty) == ("low", 1, "very low")
    assert g.to_row()["upgrading"] == g.upgrading


def test_bundled_grade_rests_on_the_per_study_judgements(bundled, protocol):
    overall = bundled.risk_of_bias.query("domain == 'overall'")
    rob = dict(zip(overall["study_id"], overall["judgement"], strict=True))
    a = run_analysis(bundled, _spec(protocol, "ae_any_prop"), protocol, rob=rob)
    d = _rob(a.grade)
    assert "not assessed" not in d.reason
    assert "Tien 2019 no information" in d.reason
    w = np.asarray(a.main.result.weights, float)
    w = w / w.sum()
    concern = [ROB_CONCERN[rob[s].replace("_", " ")] for s in a.main.rows["study_id"]]
    assert f"(weighted concern {100 * float(np.dot(w, concern)):.0f}%)" in d.reason


def test_report_shows_sensitivities_beside_the_main_estimate(bundled_run):
    import re

    result, out = bundled_run
    page = (out / "report.html").read_text()
    a = result.analysis("ais_improved_prop")
    section = page[page.index('id="a-ais_improved_prop"') :]
    table = section[section.index("<h4>Sensitivity analyses</h4>") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)
    from sci_evidence.review.results import back

    def shown(fit) -> str:  # the page reads proportions in percent (the reader's scale)
        return f"{100 * back('PLO', [fit.result.estimate], fit.rows)[0]:.1f}"

    assert "Main analysis" in rows[1]
    assert shown(a.main) in rows[1]
    fit = a.sensitivity["primary_sources_only"]
    assert any(fit.title in r and shown(fit) in r for r in rows[2:])
    assert "no possible duplicate was excluded" in table
    assert "possible duplicate of another" in page  # the rule in the methods
    assert "never upgraded for uncontrolled" in page
