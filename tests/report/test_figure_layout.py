"""report/figures/_layout.tight_layout: Figure.tight_layout's exact result, without the
figure-sized Agg pixel buffer (130 MB for a 1,600-row figure) that measuring text made."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from sci_evidence.report.figures._layout import tight_layout  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _tall_figure(rows: int):
    """A figure like the per-study ones: a tick label per row, title, legend below."""
    fig, ax = plt.subplots(figsize=(7.2, 1.9 + 0.3 * rows))
    ax.plot(range(rows), range(rows), "o", label="observed")
    ax.set_yticks(range(rows), [f"Study with a long name {i}  (chronic)" for i in range(rows)])
    ax.set_title("Title of the figure")
    ax.set_xlabel("Patients improving by ≥ 1 AIS grade (%)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.14), ncol=2)
    return fig


@pytest.mark.parametrize("rows", [3, 40, 600])
def test_same_subplot_parameters_as_figure_tight_layout(rows):
    ours, theirs = _tall_figure(rows), _tall_figure(rows)
    canvas = ours.canvas
    tight_layout(ours)
    theirs.tight_layout()
    got = ours.subplotpars
    want = theirs.subplotpars
    assert (got.left, got.right, got.bottom, got.top) == (
        want.left,
        want.right,
        want.bottom,
        want.top,
    )
    assert (got.left, got.bottom) != (0.125, 0.11)  # it did move the axes (not the defaults)
    # the figure keeps its canvas, which made no figure-sized renderer; Figure.tight_layout's
    # did
    assert ours.canvas is canvas
    assert getattr(canvas, "renderer", None) is None
    w, h = theirs.canvas.get_width_height(physical=True)
    assert (theirs.canvas.renderer.width, theirs.canvas.renderer.height) == (w, h)
