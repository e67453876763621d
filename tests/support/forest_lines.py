"""Reading a drawn forest plot back in a test: the study whiskers of its plot axis."""

from __future__ import annotations


def study_whiskers(fig, k: int | None = None) -> list[tuple[float, float]]:  # noqa: ANN001
    """(x0, x1) of the horizontal study whiskers of the forest plot's axis, top to bottom
    (the first ``k`` when given): the 1-point-wide two-point lines that
    :func:`sci_evidence.meta.plots.forest_plot` draws for each study's interval."""
    segs = []
    for line in fig.axes[1].get_lines():
        x, y = line.get_data()
        if len(x) == 2 and y[0] == y[1] and line.get_linewidth() == 1.0:
            segs.append((float(y[0]), float(x[0]), float(x[1])))
    drawn = [(a, b) for _, a, b in sorted(segs, reverse=True)]
    return drawn if k is None else drawn[:k]
