"""``tight_layout`` for figures that grow with the number of studies.

``Figure.tight_layout`` measures the text with the canvas' renderer, and the Agg canvas makes
that renderer the size of the whole figure, its pixel buffer cleared (so resident): a figure
of 1,600 rows (450 inches tall) allocated 130 MB only to measure its tick labels. Text is
measured the same by an Agg renderer of any size at the same dpi, so the layout is done with
a one-pixel one: the result is exactly ``Figure.tight_layout``'s.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure


class _MeasuringCanvas(FigureCanvasAgg):
    """An Agg canvas whose renderer only measures (1 × 1 pixels, the figure's dpi)."""

    def get_renderer(self) -> RendererAgg:
        return RendererAgg(1, 1, self.figure.dpi)


def tight_layout(fig: Figure) -> None:
    """``fig.tight_layout()`` without a figure-sized pixel buffer (see the module)."""
    canvas = fig.canvas
    _MeasuringCanvas(fig)  # becomes fig.canvas
    try:
        fig.tight_layout()
    finally:
        fig.set_canvas(canvas)
