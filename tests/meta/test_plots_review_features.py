"""Forest-plot options the review report relies on: no reference line for outcomes without a
null value, and the default still drawing one."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from sci_evidence.meta import pool  # noqa: E402
from sci_evidence.meta.plots import forest_plot  # noqa: E402

# five single-arm proportions on the logit scale (x/n = 7/14, 9/20, 5/6, 17/50, 13/31)
X = np.array([7, 9, 5, 17, 13])
N = np.array([14, 20, 6, 50, 31])
YI = np.log(X / (N - X))
VI = 1 / X + 1 / (N - X)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _vertical_lines_at(ax, x):
    """Lines of the plot axes that run vertically at ``x`` (axvline: x data, y axes)."""
    out = []
    for ln in ax.lines:
        if not isinstance(ln, Line2D):
            continue
        xd = np.asarray(ln.get_xdata(), dtype=float)
        yd = np.asarray(ln.get_ydata(), dtype=float)
        if xd.size == 2 and np.allclose(xd, x) and np.allclose(yd, [0, 1]):
            out.append(ln)
    return out


def _percent(v):
    return 100.0 / (1.0 + np.exp(-np.asarray(v, dtype=float)))


def test_default_draws_reference_line_at_transformed_null():
    res = pool(YI, VI, measure="PLO")
    fig = forest_plot(res, transf=_percent)
    ax = fig.axes[1]
    assert len(_vertical_lines_at(ax, 50.0)) == 1  # expit(0) in percent


def test_show_refline_false_draws_none_and_axis_spans_the_data():
    res = pool(YI, VI, measure="PLO")
    fig = forest_plot(res, transf=_percent, show_refline=False, refline=None, digits=1)
    ax = fig.axes[1]
    assert _vertical_lines_at(ax, 50.0) == []
    # the axis covers every study CI and the prediction interval, nothing more than 5% padding
    z = 1.959963984540054
    lo = _percent(YI - z * np.sqrt(VI)).min()
    hi = _percent(YI + z * np.sqrt(VI)).max()
    lo = min(lo, _percent(res.pi_lb), _percent(res.ci_lb))
    hi = max(hi, _percent(res.pi_ub), _percent(res.ci_ub))
    pad = 0.05 * (hi - lo)
    assert ax.get_xlim() == pytest.approx((lo - pad, hi + pad))
    # one decimal in the text column (the report prints percentages that way)
    texts = [t.get_text() for t in fig.axes[2].texts]
    e, lb, ub = _percent([res.estimate, res.ci_lb, res.ci_ub])
    assert f"{e:.1f} [{lb:.1f}, {ub:.1f}]" in texts


def test_show_refline_false_with_explicit_refline_ignores_it():
    res = pool(YI, VI, measure="PLO")
    fig = forest_plot(res, refline=0.0, show_refline=False)
    assert _vertical_lines_at(fig.axes[1], 0.0) == []
    fig = forest_plot(res, refline=0.0)
    assert len(_vertical_lines_at(fig.axes[1], 0.0)) == 1
