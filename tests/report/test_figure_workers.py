"""A figure worker frees each figure before the next (issue 16): a matplotlib figure is a web
of reference cycles that plt.close does not free, so a worker drawing one figure after
another kept every drawn figure until the collector happened to run."""

from __future__ import annotations

import gc
import re

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from sci_evidence.report.writer import FigureRenderer, _render_in_worker, render_spec  # noqa: E402
from sci_evidence.review.results import PrismaCounts  # noqa: E402

COUNTS = PrismaCounts(
    identified=120,
    duplicates_removed=20,
    screened=100,
    screened_excluded=60,
    assessed=40,
    excluded_reasons={"not MSC": 10},
    included=25,
    analysis_excluded={},
    in_meta_analysis=18,
)


def _figures() -> int:
    return sum(isinstance(o, Figure) for o in gc.get_objects())


def test_worker_draws_as_render_spec_and_leaves_no_figure_behind(tmp_path):
    spec = ("prisma", "prisma_flow", (COUNTS, {}), str(tmp_path), ("svg",))
    gc.collect()
    before = _figures()
    gc.disable()  # only the worker's own collection may free the figure
    try:
        name = _render_in_worker(*spec)  # the name only: the page reads the file
        assert _figures() == before
    finally:
        gc.enable()
    svg = (tmp_path / "prisma_flow.svg").read_text("utf-8")
    # the same figure as drawn in-process (but for the time stamp)
    undated = re.compile(r"<dc:date>[^<]*</dc:date>")
    assert render_spec(*spec) == name == "prisma_flow"
    assert undated.sub("", svg) == undated.sub("", (tmp_path / "prisma_flow.svg").read_text())
    assert "(n = 120)" in svg


def test_pool_workers_draw_the_figures(tmp_path):
    renderer = FigureRenderer(tmp_path / "figures", workers=2)
    try:
        assert renderer._pool is not None  # forked workers, as the review uses them
        renderer.submit("prisma", "prisma_flow", COUNTS, {})
        drawn = renderer.collect()
    finally:
        renderer.close(cancel=True)
    assert drawn == ["prisma_flow"]
    assert "(n = 120)" in (tmp_path / "figures" / "prisma_flow.svg").read_text(encoding="utf-8")
    assert (
        (tmp_path / "figures" / "prisma_flow.svg").read_text(encoding="utf-8").startswith("<?xml")
    )


def test_pool_workers_keep_the_inherited_objects_out_of_the_collector(tmp_path):
    """The collection after each figure must scan that figure's objects, not every module
    inherited at the fork (a full collection per figure cost ~1 s of a 1x review)."""
    renderer = FigureRenderer(tmp_path / "figures", workers=2)
    try:
        frozen = renderer._pool.apply(gc.get_freeze_count)
    finally:
        renderer.close(cancel=True)
    assert frozen > 10_000  # numpy, matplotlib, pandas … are imported before the fork
