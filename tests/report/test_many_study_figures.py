"""Figures with a row per study draw their marks as collections (issue 16): at 1,000+ studies
a figure holds a fixed number of artists for its whiskers and markers (one artist per mark
cost ~10 kB each and hundreds of MB per figure at 100x the bundled evidence), and still draws
each study's interval and estimate where it belongs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from sci_evidence import meta  # noqa: E402
from sci_evidence.meta.plots import forest_plot  # noqa: E402
from sci_evidence.report.figures import (  # noqa: E402
    conversion_figure,
    safety_route_figure,
    score_change_figure,  # noqa: E402
)
from sci_evidence.review.safety import SafetyByRoute  # noqa: E402
from support.forest_lines import study_whiskers  # noqa: E402

N = 1000
RNG = np.random.default_rng(16)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _collections(ax, kind):
    return [c for c in ax.collections if isinstance(c, kind)]


def _segments(coll) -> np.ndarray:
    """(x0, x1, y) of each horizontal segment of a line collection."""
    return np.array([(s[0, 0], s[1, 0], s[0, 1]) for s in coll.get_segments()])


def test_safety_route_figure_of_1000_studies():
    ni = RNG.integers(5, 60, N)
    xi = RNG.binomial(ni, 0.2)
    group = np.where(np.arange(N) < 600, "intrathecal", "intravenous")
    count = np.where(RNG.random(N) < 0.3, "largest_type", "reported")
    rows = pd.DataFrame(
        {
            "study_id": [f"s{i}" for i in range(N)],
            "label": [f"Author{i} 2020" for i in range(N)],
            "arm_id": [f"s{i}-a" for i in range(N)],
            "route": group,
            "route_group": group,
            "xi": xi,
            "ni": ni,
            "count": count,
        }
    )
    groups = pd.DataFrame(
        [
            (g, int((group == g).sum()), int(ni[group == g].sum()), int(xi[group == g].sum()))
            for g in ("intrathecal", "intravenous")
        ],
        columns=["route_group", "k", "patients", "events"],
    ).assign(proportion=0.2, ci_lb=0.15, ci_ub=0.25, tau2=0.1, method="GLMM")
    res = SafetyByRoute("ae_any_prop", 0.95, rows, groups, moderator=None)
    fig = safety_route_figure(res)
    ax = fig.axes[0]
    assert not ax.lines  # no Line2D per study
    (whiskers,) = _collections(ax, LineCollection)
    (squares,) = _collections(ax, PathCollection)
    assert len(ax.patches) == 2  # the two route diamonds
    # rows top to bottom: the intrathecal studies, their group, the intravenous ones, theirs
    n_lines = N + 2
    y = np.r_[n_lines - 1 - np.arange(600), n_lines - 2 - np.arange(600, N)]
    lo, hi = meta.proportion_ci(xi, ni, level=0.95)
    np.testing.assert_allclose(_segments(whiskers), np.c_[100 * lo, 100 * hi, y])
    np.testing.assert_allclose(squares.get_offsets(), np.c_[100 * xi / ni, y])
    white = np.all(squares.get_facecolors() == to_rgba("white"), axis=1)
    np.testing.assert_array_equal(white, count != "reported")  # hollow: a derived bound
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == n_lines and labels[0] == f"Author0 2020  {xi[0]}/{ni[0]}"


def _nh_table(scores: bool) -> pd.DataFrame:
    observed = RNG.random(N) * (20 if scores else 1)
    t = pd.DataFrame(
        {
            "label": [f"Author{i:04d} 2020" for i in range(N)],
            "injury_phase": RNG.choice(["acute", "subacute", "chronic", None], N),
            "observed": observed,
            "ci_lb": observed * 0.5,
            "ci_ub": observed * 1.5,
            "expected": np.where(RNG.random(N) < 0.2, np.nan, observed * 0.4),
        }
    )
    if scores:
        t["expected_lb"] = t["expected"] - 1
        t["expected_ub"] = t["expected"] + 1
    return t


def _in_drawing_order(t: pd.DataFrame) -> pd.DataFrame:
    """Chronic at the top, then subacute, acute and unknown; by label within a phase."""
    rank = t["injury_phase"].map({"chronic": 0, "subacute": 1, "acute": 2}).fillna(3)
    return t.assign(_rank=rank).sort_values(["_rank", "label"]).reset_index(drop=True)


def test_conversion_figure_of_1000_studies():
    t = _nh_table(scores=False)
    pooled = {"observed": 0.3, "ci_lb": 0.2, "ci_ub": 0.4, "expected": 0.1}
    fig = conversion_figure(t, pooled=pooled)
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # the pooled row's interval, estimate and expectation only
    (ci,) = _collections(ax, LineCollection)
    observed, expected = _collections(ax, PathCollection)
    s = _in_drawing_order(t)
    y = np.arange(N)
    np.testing.assert_allclose(_segments(ci), np.c_[100 * s["ci_lb"], 100 * s["ci_ub"], y])
    np.testing.assert_allclose(observed.get_offsets(), np.c_[100 * s["observed"], y])
    has = s["expected"].notna().to_numpy()
    np.testing.assert_allclose(expected.get_offsets(), np.c_[100 * s["expected"][has], y[has]])
    acute = (s["injury_phase"] == "acute").to_numpy()
    np.testing.assert_array_equal(
        np.all(observed.get_facecolors() == to_rgba("#c0392b"), axis=1), acute
    )


def test_score_change_figure_of_1000_studies():
    t = _nh_table(scores=True)
    fig = score_change_figure(t, xlabel="points")
    ax = fig.axes[0]
    assert len(ax.lines) == 1  # the zero line only
    ci, band = _collections(ax, LineCollection)
    observed, expected = _collections(ax, PathCollection)
    s = _in_drawing_order(t)
    y = np.arange(N)
    has = s["expected"].notna().to_numpy()
    np.testing.assert_allclose(_segments(ci), np.c_[s["ci_lb"], s["ci_ub"], y])
    np.testing.assert_allclose(
        _segments(band), np.c_[s["expected_lb"][has], s["expected_ub"][has], y[has] + 0.22]
    )
    np.testing.assert_allclose(observed.get_offsets(), np.c_[s["observed"], y])
    np.testing.assert_allclose(expected.get_offsets(), np.c_[s["expected"][has], y[has] + 0.22])


def test_forest_plot_of_1000_studies():
    yi = RNG.normal(0.3, 0.4, N)
    vi = RNG.uniform(0.02, 0.3, N)
    res = meta.pool(yi, vi)
    fig = forest_plot(res)
    ax = fig.axes[1]
    # Line2D only for the prediction interval (bar, two ends, mark) and the reference line
    assert len(ax.lines) == 5
    (squares,) = _collections(ax, PathCollection)
    z = 1.959963984540054
    drawn = np.array(study_whiskers(fig))
    np.testing.assert_allclose(drawn, np.c_[yi - z * np.sqrt(vi), yi + z * np.sqrt(vi)])
    # each square at its study's estimate, side 4 + 8·sqrt(w / w_max) points
    offsets = squares.get_offsets()
    order = np.argsort(-offsets[:, 1])  # top to bottom = study order
    np.testing.assert_allclose(offsets[order, 0], yi)
    w = np.asarray(res.weights)
    np.testing.assert_allclose(squares.get_sizes()[order], (4 + 8 * np.sqrt(w / w.max())) ** 2)
