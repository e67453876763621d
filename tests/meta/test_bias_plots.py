"""Figures of the bias/sensitivity part: each is built, has the expected content and saves."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import PathCollection, QuadMesh

from sci_evidence.errors import InputError
from sci_evidence.meta import (
    baujat_plot,
    cumulative,
    funnel_plot,
    gosh,
    influence_result,
    leave_one_out_result,
    permutation_test,
    pool,
    trim_and_fill,
)

DATA = Path(__file__).resolve().parents[1] / "data"
BCG = json.loads((DATA / "metafor_bias_extra.json").read_text())["cases"][0]["input"]


@pytest.fixture(scope="module")
def res():
    return pool(BCG["yi"], BCG["vi"])


def _points(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def test_funnel_plot_contours_and_filled_studies(res, tmp_path):
    tf = trim_and_fill(pool(BCG["yi"], BCG["vi"], method="EE"))
    fig = funnel_plot(res, filled=tf)
    ax = fig.axes[0]
    pts = _points(ax)
    assert [len(p.get_offsets()) for p in pts] == [13, tf.k0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1] == 0.0  # standard error axis reversed
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("0.05 < p" in s for s in labels) and any("filled" in s for s in labels)
    fig.savefig(tmp_path / "funnel.png")
    assert tf.plot() is not None
    plain = funnel_plot(res, contours=False).axes[0]
    assert len(_points(plain)) == 1


def test_funnel_plot_of_a_meta_regression_uses_residuals():
    x = np.arange(13, dtype=float)
    fig = funnel_plot(pool(BCG["yi"], BCG["vi"], mods={"x": x}))
    assert fig.axes[0].get_xlabel() == "Residual value"


def test_baujat_plot(res):
    """The plot draws the coordinates baujat() computed; it computes nothing itself."""
    import ast
    from pathlib import Path

    import sci_evidence.meta.bias_plots as bias_plots_module
    from sci_evidence.meta.influence import baujat

    with pytest.raises(InputError, match="baujat"):
        baujat_plot(res)
    fig = baujat(res).plot()
    assert baujat_plot(baujat(res)).axes[0].get_xlabel() == fig.axes[0].get_xlabel()
    tree = ast.parse(Path(bias_plots_module.__file__).read_text(encoding="utf-8"))
    runtime_imports = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "influence"
    ]
    assert len(runtime_imports) == 1  # only the TYPE_CHECKING import of BaujatResult
    ax = fig.axes[0]
    assert len(_points(ax)[0].get_offsets()) == 13
    assert ax.get_xlabel() == "Squared Pearson Residual"


def test_gosh_plot_points_and_density():
    small = gosh(pool(BCG["yi"][:8], BCG["vi"][:8], method="DL"))
    fig = small.plot(study=2)
    ax = fig.axes[0]
    assert sum(len(p.get_offsets()) for p in _points(ax)) == 255
    assert "with Study 3" in [t.get_text() for t in ax.get_legend().get_texts()]
    dense = small.plot(max_points=100)
    assert any(isinstance(c, QuadMesh) for c in dense.axes[0].collections)


def test_forest_style_and_diagnostic_plots(res, tmp_path):
    infl = influence_result(res).plot()
    assert len(infl.axes) == 8
    for fig in (cumulative(res).plot(), leave_one_out_result(res).plot(transf=np.exp)):
        assert len(fig.axes[0].get_yticklabels()) == 13
        fig.savefig(tmp_path / "x.png", dpi=50)


def test_permutation_plot(res):
    pt = permutation_test(res, iterations=300, seed=1)
    fig = pt.plot()
    assert "p = " in fig.axes[0].get_title()
    with pytest.raises(InputError):
        pt.plot(coef="slope")
    with pytest.raises(InputError):
        pt.plot(coef=3)
