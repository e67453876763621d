"""The small forest of a not-pooled score analysis (report/individual.py): every study on one
axis that includes 0, positions proportional to the estimates."""

from __future__ import annotations

import pytest

from sci_evidence.evidence import load_evidence
from sci_evidence.report.individual import FOREST_WIDTH, individual_view
from sci_evidence.review.analyses import run_analysis
from sci_evidence.review.protocol import load_protocol


def _analysis(analysis_id):
    protocol = load_protocol()
    spec = next(s for s in protocol.analyses if s.id == analysis_id)
    return run_analysis(load_evidence(), spec, protocol)


def test_forest_geometry_follows_the_numbers():
    a = _analysis("motor_change")
    view = individual_view(a)
    rows, ax = view["individual"], view["individual_axis"]
    values = [0.0] + [
        v for r in rows for v in (r["estimate"], r["ci_lb"], r["ci_ub"]) if v is not None
    ]
    span = max(values) - min(values)
    assert ax["lo"] == pytest.approx(min(values) - 0.05 * span)
    assert ax["hi"] == pytest.approx(max(values) + 0.05 * span)

    def px(v):
        return FOREST_WIDTH * (v - ax["lo"]) / (ax["hi"] - ax["lo"])

    assert ax["zero"] == pytest.approx(px(0.0), abs=0.05)
    for r in rows:
        assert r["x"] == pytest.approx(px(r["estimate"]), abs=0.05)
        if r["ci_lb"] is None:
            assert r["x_lb"] is None and r["x_ub"] is None
        else:
            assert r["x_lb"] < r["x"] < r["x_ub"]
    assert view["individual_estimate"] == "Mean change (points, 0–100 scale)"
    assert view["individual_statement"] == a.statement


def test_no_view_for_a_pooled_or_binary_analysis():
    assert individual_view(_analysis("ais_improved_prop")) == {}


def test_summary_of_findings_row_of_a_single_study_shows_it():
    """The summary-of-findings row of an analysis resting on one study (Xiao 2014's
    controlled sensory total) gives that study's patients, treated + control, and its
    effect in the same words as the key message, not "–"."""
    from sci_evidence.report.html import _analysis_view
    from sci_evidence.review.score_studies import one_study_effect

    a = _analysis("sensory_md")
    view = _analysis_view(a, {}, {}, {}, 3, 0.95)
    row = a.individual[a.individual["status"] == "in the analysis"].iloc[0]
    assert row["label"] == "Xiao 2014" and row["n"] == "35 vs 29"
    assert view["sof_patients"] == 35 + 29
    assert view["sof_one"] == one_study_effect(a.spec, 0.95, a.individual)
    assert view["sof_one"].startswith(
        f"Xiao 2014, 35 vs 29 patients: mean difference (MSC − control) +{row['estimate']:.1f} "
        f"points (95% CI +{row['ci_lb']:.1f} to +{row['ci_ub']:.1f}) on the 0–224 scale"
    )
    # no study with usable numbers: nothing to show
    assert "sof_one" not in _analysis_view(_analysis("motor_md"), {}, {}, {}, 3, 0.95)
