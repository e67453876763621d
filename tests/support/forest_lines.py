"""Reading a drawn forest plot back in a test: the study whiskers of its plot axis."""

from __future__ import annotations

from matplotlib.collections import LineCollection


def study_whiskers(fig, k: int | None = None) -> list[tuple[float, float]]:  # noqa: ANN001
    """(x0, x1) of the horizontal study whiskers of the forest plot's axis, top to bottom
    (the first ``k`` when given): the segments of the 1-point-wide line collection that
    :func:`sci_evidence.meta.plots.forest_plot` draws for the studies' intervals."""
    segs = []
    for coll in fig.axes[1].collections:
        if isinstance(coll, LineCollection) and list(coll.get_linewidths()) == [1.0]:
            for (x0, y0), (x1, y1) in coll.get_segments():
                if y0 == y1:
                    segs.append((float(y0), float(x0), float(x1)))
    drawn = [(a, b) for _, a, b in sorted(segs, reverse=True)]
    return drawn if k is None else drawn[:k]
