"""Funnel plot (effect against standard error) with pseudo-confidence limits and, when
given, the studies filled in by trim-and-fill (open circles)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy import stats


def review_funnel(res, *, filled_yi=None, filled_vi=None, xlabel: str = "") -> Figure:
    """Funnel plot of a fitted model: 90/95/99% pseudo-confidence regions around the
    pooled estimate (contour-enhanced, as metafor's ``funnel(level=c(90, 95, 99))``)."""
    yi = np.asarray(res.yi, float)
    sei = np.sqrt(np.asarray(res.vi, float))
    smax = (
        float(
            max(
                sei.max(),
                np.sqrt(np.max(filled_vi)) if filled_vi is not None and len(filled_vi) else 0,
            )
        )
        * 1.08
    )
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    se_grid = np.linspace(0, smax, 50)
    for lvl, shade in ((0.99, "#eeeeee"), (0.95, "#d9d9d9"), (0.90, "#bdbdbd")):
        z = stats.norm.ppf(0.5 + lvl / 2)
        ax.fill_betweenx(
            se_grid,
            res.estimate - z * se_grid,
            res.estimate + z * se_grid,
            color=shade,
            zorder=0,
            label=f"{int(lvl * 100)}% region",
        )
    ax.axvline(res.estimate, color="#c0392b", lw=1)
    ax.plot(yi, sei, "o", color="#1f4e79", ms=5, label="studies")
    if filled_yi is not None and len(filled_yi):
        ax.plot(
            filled_yi,
            np.sqrt(filled_vi),
            "o",
            mfc="white",
            mec="#1f4e79",
            ms=5,
            label="filled (trim-and-fill)",
        )
    ax.set_ylim(smax, 0)
    ax.set_ylabel("Standard error", fontsize=9)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="lower right")
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    fig.tight_layout()
    return fig
