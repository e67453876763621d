"""The GOSH plot of a :class:`~sci_evidence.meta.gosh_summary.GoshSummary`: the binned
counts of (estimate, I2) as a log-scaled density, with the marginal histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .bias_plots import _POINT, _finish_gosh_axes, _gosh_axes

if TYPE_CHECKING:
    from .gosh_summary import GoshSummary


def gosh_summary_plot(s: GoshSummary, *, title: str | None = None):
    """Estimate (x) against I2 (y) of all subsets, drawn from the bins of ``s``."""
    from matplotlib.colors import LinearSegmentedColormap

    fig, ax, ax_top, ax_right = _gosh_axes()
    cmap = LinearSegmentedColormap.from_list("gosh", ["#ffffff00", _POINT])
    ax.pcolormesh(s.est_edges, s.I2_edges, np.log1p(s.counts).T, cmap=cmap, shading="flat")
    ax.plot([], [], "s", color=_POINT, label=f"all subsets (log counts of {s.counts.size:,} bins)")
    n = max(s.n_finite, 1)
    widths_e = np.diff(s.est_edges)
    widths_i = np.diff(s.I2_edges)
    ax_top.stairs(s.counts.sum(axis=1) / (n * widths_e), s.est_edges, fill=True, color=_POINT,
                  alpha=0.5)  # fmt: skip
    ax_right.stairs(s.counts.sum(axis=0) / (n * widths_i), s.I2_edges, fill=True, color=_POINT,
                    alpha=0.5, orientation="horizontal")  # fmt: skip
    default = f"GOSH plot ({s.n_subsets:,} subsets, all, binned; {s.method})"
    _finish_gosh_axes(ax, ax_top, ax_right, title or default)
    return fig
