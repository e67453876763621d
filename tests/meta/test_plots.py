"""Forest plot: it draws what the result holds (rows, diamond, PI, text) and checks input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from meta_refcases import metafor_cases  # noqa: E402

from sci_evidence.errors import InputError  # noqa: E402
from sci_evidence.meta import pool, subgroups  # noqa: E402
from sci_evidence.meta.plots import forest_plot  # noqa: E402

BCG = metafor_cases("fit")[0]["input"]
ALLOC = ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_forest_plot_contents():
    res = pool(BCG["yi"], BCG["vi"], labels=[f"Trial {i}" for i in range(1, 14)], measure="RR")
    fig = forest_plot(res, columns={"n": [str(i * 10) for i in range(13)]})
    texts = _texts(fig)
    for i in range(1, 14):
        assert f"Trial {i}" in texts
    assert "n" in texts and "120" in texts
    # pooled row: estimate and CI as printed text, and one diamond at those coordinates
    assert f"{res.estimate:.2f} [{res.ci_lb:.2f}, {res.ci_ub:.2f}]" in texts
    diamonds = [p for ax in fig.axes for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 1
    xy = diamonds[0].get_xy()
    assert xy[:, 0].min() == pytest.approx(res.ci_lb) and xy[:, 0].max() == pytest.approx(res.ci_ub)
    assert "Prediction interval" in texts
    assert f"{res.weights[0]:.1f}%" in texts
    assert any(t.startswith("Heterogeneity: Q(12) = 152.23") for t in texts)


def test_forest_plot_back_transformed_log_axis():
    res = pool(BCG["yi"], BCG["vi"], measure="RR")
    fig = res.plot(transf=np.exp, show_weights=False)
    ax = fig.axes[1]
    assert ax.get_xscale() == "log"
    texts = _texts(fig)
    assert f"{np.exp(res.estimate):.2f} [{np.exp(res.ci_lb):.2f}, {np.exp(res.ci_ub):.2f}]" in texts
    assert "Weight" not in texts
    # the reference line sits at exp(0) = 1
    assert any(np.allclose(line.get_xdata(), 1.0) for line in ax.lines)


def test_forest_plot_subgroups_have_a_diamond_each(tmp_path):
    sg = subgroups(BCG["yi"], BCG["vi"], ALLOC)
    fig = sg.plot()
    diamonds = [p for ax in fig.axes for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 4  # three subgroups + overall
    texts = _texts(fig)
    assert "Subtotal (alternate)" in texts
    assert any("Test for subgroup differences" in t for t in texts)
    out = tmp_path / "f.png"
    fig.savefig(out)
    assert out.stat().st_size > 10_000


def test_equal_effect_plot_has_no_prediction_interval():
    fig = pool(BCG["yi"], BCG["vi"], method="EE").plot()
    assert "Prediction interval" not in _texts(fig)


def test_forest_plot_rejects_bad_input():
    res = pool(BCG["yi"], BCG["vi"])
    with pytest.raises(InputError, match="labels has 2 entries"):
        forest_plot(res, labels=["a", "b"])
    with pytest.raises(InputError, match="column 'n'"):
        forest_plot(res, columns={"n": ["1"]})
    mreg = pool(BCG["yi"], BCG["vi"], mods={"x": np.arange(13.0)})
    with pytest.raises(InputError, match="without moderators"):
        forest_plot(mreg)
