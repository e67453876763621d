"""Figures of the report: each is drawn from a hand-made review and saved as PNG, SVG and PDF;
the inline SVG has unique ids and keeps text as text (so numbers are searchable)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sci_evidence.report import figures as figs
from sci_evidence.report.figures._save import inline_svg
from sci_evidence.report.writer import forest_for
from sci_evidence.review.results import PrismaCounts


def _saved(fig, tmp_path, name):
    svg = figs.save_figure(fig, tmp_path, name)
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 1000
    assert svg.startswith("<svg") and "<?xml" not in svg
    return svg


def test_forest_plots_show_labels_n_effects_weights(handmade_review, tmp_path):
    a = handmade_review.analysis("ais_improved_prop")
    svg = _saved(forest_for(a.main, "PLO"), tmp_path, "forest")
    for text in ("Alpha 2010", "7/14", "50.0 [", "Prediction interval", "Random-effects model"):
        assert text in svg, text
    assert "Heterogeneity: Q(4) = " in svg  # k = 5 studies
    sg = next(s for s in a.subgroups if s.variable == "route")
    svg = _saved(forest_for(a.main, "PLO", sg.result, "route"), tmp_path, "forest_route")
    assert "Subtotal (intrathecal)" in svg and "Test for subgroup differences" in svg
    assert sg.result.results["intrathecal"].k == 3
    rr = handmade_review.analysis("ais_improved_rr")
    svg = _saved(forest_for(rr.main, "RR"), tmp_path, "forest_rr")
    assert "9/20 vs 3/20" in svg
    est = rr.main.result
    import numpy as np

    assert f"{np.exp(est.estimate):.2f} [" in svg


def test_natural_history_figures(handmade_review, tmp_path):
    a = handmade_review.analysis("ais_improved_prop")
    _saved(
        figs.conversion_figure(a.natural_history, pooled=a.natural_history_pooled), tmp_path, "nh"
    )
    m = handmade_review.analysis("motor_change")
    t = m.natural_history.set_index("study_id")
    # s1 (chronic, time since injury unknown) sits on the chronic plateau: no spontaneous change;
    # s2 (acute) is compared with the EMSCI change over the same weeks
    assert t.loc["s1", "expected"] == 0.0
    assert t.loc["s2", "expected"] > 0
    assert t.loc["s2", "excess"] == pytest.approx(t.loc["s2", "observed"] - t.loc["s2", "expected"])
    _saved(figs.score_change_figure(m.natural_history, xlabel="points"), tmp_path, "nh_scores")


def test_prisma_and_rob(tmp_path):
    c = PrismaCounts(
        identified=120,
        duplicates_removed=20,
        screened=100,
        screened_excluded=60,
        assessed=40,
        excluded_reasons={"not MSC": 10, "no outcome": 5},
        included=25,
        analysis_excluded={"scaffold": 1},
        in_meta_analysis=18,
    )
    svg = _saved(figs.prisma_flow(c), tmp_path, "prisma")
    for text in ("(n = 120)", "not MSC: 10", "meta-analysis (n = 18)", "scaffold: 1"):
        assert text in svg, text
    rob = pd.DataFrame(
        {
            "study_id": ["a", "a", "b", "b"],
            "tool": "RoB2",
            "domain": ["randomisation", "overall"] * 2,
            "judgement": ["low", "some_concerns", "high", "high"],
        }
    )
    svg = _saved(figs.rob_traffic_light(rob, ["a", "b", "c"], {"a": "A 2001"}), tmp_path, "rob")
    assert "A 2001" in svg and "Not assessed" in svg
    _saved(figs.rob_summary(rob, ["a", "b", "c"]), tmp_path, "rob_summary")
    empty = figs.rob_traffic_light(rob.iloc[:0], ["a", "b"])
    assert "No risk-of-bias judgements" in _saved(empty, tmp_path, "rob_empty")


def test_inline_svg_prefixes_ids():
    svg = (
        '<?xml version="1.0"?>\n<svg><defs><path id="m1"/></defs><use xlink:href="#m1"/>'
        '<g clip-path="url(#m1)"/></svg>'
    )
    out = inline_svg(svg, prefix="fig one")
    assert out.startswith("<svg")
    assert 'id="fig_one-m1"' in out and '"#fig_one-m1"' in out and "url(#fig_one-m1)" in out
    assert not re.search(r'"#m1"', out)
