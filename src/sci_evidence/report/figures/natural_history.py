"""Single-arm results beside spontaneous recovery: AIS conversion and score change."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sci_evidence.report.figures._layout import tight_layout
from sci_evidence.text import escape_mathtext

_PHASE_COLOUR = {"acute": "#c0392b", "subacute": "#e67e22", "chronic": "#2c3e50"}


def _phase_colour(phase: str) -> str:
    return _PHASE_COLOUR.get(phase, "#7f8c8d")


def conversion_figure(table: pd.DataFrame, *, pooled: dict | None = None) -> Figure:
    """Observed AIS conversion per study (with its Wilson interval) beside the expected
    spontaneous conversion for the same baseline grade, level and phase.

    Parameters
    ----------
    table : DataFrame
        Columns ``label, injury_phase, observed, ci_lb, ci_ub, expected`` (fractions);
        ``expected`` may be NaN (no comparator). Rows are grouped by phase: chronic at the
        top, then subacute, acute and unknown.
    pooled : dict, optional
        ``{"observed", "ci_lb", "ci_ub", "expected"}`` for a pooled row.
    """
    order = {"chronic": 0, "subacute": 1, "acute": 2}
    t = table.assign(_o=table["injury_phase"].map(order).fillna(3)).sort_values(
        ["_o", "label"], kind="stable"
    )
    rows = len(t) + (2 if pooled else 0)
    fig, ax = plt.subplots(figsize=(7.2, 1.9 + 0.3 * rows))
    y = np.arange(len(t))
    c = [_phase_colour(p) for p in t["injury_phase"]]
    cols = ("ci_lb", "ci_ub", "observed", "expected")
    pct = {k: 100 * t[k].to_numpy(float, na_value=np.nan) for k in cols}
    _whiskers(ax, pct["ci_lb"], pct["ci_ub"], y, colors=c, lw=1.4)
    ax.scatter(pct["observed"], y, marker="o", s=6**2, c=c, linewidths=1, zorder=2)
    has = np.isfinite(pct["expected"])
    ax.scatter(pct["expected"][has], y[has], marker="|", s=12**2, c="black", linewidths=2, zorder=2)
    labels = [_row_label(r) for r in t.to_dict(orient="records")]
    if pooled:
        yp = len(t) + 1
        ax.plot([100 * pooled["ci_lb"], 100 * pooled["ci_ub"]], [yp, yp], color="#1f4e79", lw=2.5)
        ax.plot(100 * pooled["observed"], yp, "D", color="#1f4e79", ms=8)
        if pooled.get("expected") is not None:
            ax.plot(100 * pooled["expected"], yp, marker="|", color="black", ms=14, mew=2.5)
        labels += ["", "Pooled (random effects)"]
    ax.set_yticks(range(rows), labels, fontsize=8)
    ax.set_ylim(rows - 0.5, -0.7)
    ax.set_xlim(-2, 102)
    ax.set_xlabel("Patients improving by ≥ 1 AIS grade (%)", fontsize=9)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    handles = [
        Line2D([], [], marker="o", color=_PHASE_COLOUR["acute"], label="observed, acute"),
        Line2D([], [], marker="o", color=_PHASE_COLOUR["subacute"], label="observed, subacute"),
        Line2D([], [], marker="o", color=_PHASE_COLOUR["chronic"], label="observed, chronic"),
        Line2D(
            [],
            [],
            marker="|",
            ls="",
            color="black",
            ms=10,
            mew=2,
            label="expected without treatment",
        ),
    ]
    ax.legend(
        handles=handles,
        fontsize=7.5,
        loc="upper center",
        bbox_to_anchor=(0.4, -0.14),
        ncol=2,
        frameon=False,
    )
    ax.tick_params(axis="x", labelsize=8)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    tight_layout(fig)
    return fig


def score_change_figure(table: pd.DataFrame, *, xlabel: str) -> Figure:
    """Observed mean change per study (with CI) beside the spontaneous change expected over
    the same weeks for the same baseline grade and level.

    ``table`` columns: ``label, injury_phase, observed, ci_lb, ci_ub, expected,
    expected_lb, expected_ub`` (points).
    """
    order = {"chronic": 0, "subacute": 1, "acute": 2}
    t = table.assign(_o=table["injury_phase"].map(order).fillna(3)).sort_values(
        ["_o", "label"], kind="stable"
    )
    fig, ax = plt.subplots(figsize=(7.2, 1.9 + 0.32 * max(len(t), 2)))
    y = np.arange(len(t))
    cols = ("ci_lb", "ci_ub", "observed", "expected", "expected_lb", "expected_ub")
    v = {k: t[k].to_numpy(float, na_value=np.nan) for k in cols}
    c = [_phase_colour(p) for p in t["injury_phase"]]
    _whiskers(ax, v["ci_lb"], v["ci_ub"], y, colors=c, lw=1.4)
    ax.scatter(v["observed"], y, marker="o", s=6**2, c=c, linewidths=1, zorder=2)
    has = np.isfinite(v["expected"])
    ye = y[has] + 0.22
    _whiskers(
        ax, v["expected_lb"][has], v["expected_ub"][has], ye, colors="#888888", lw=3, alpha=0.6
    )
    ax.scatter(v["expected"][has], ye, marker="s", s=5**2, c="#555555", linewidths=1, zorder=2)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [_row_label(r) for r in t.to_dict(orient="records")], fontsize=8)
    ax.set_ylim(len(t) - 0.4, -0.6)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    handles = [
        Line2D([], [], marker="o", color=_PHASE_COLOUR["subacute"], label="observed change"),
        Line2D([], [], marker="s", color="#555555", label="expected spontaneous change"),
    ]
    ax.legend(
        handles=handles,
        fontsize=7.5,
        loc="upper center",
        bbox_to_anchor=(0.4, -0.16),
        ncol=2,
        frameon=False,
    )
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    tight_layout(fig)
    return fig


def _whiskers(ax, lo, hi, y, *, colors, lw: float, alpha: float | None = None) -> None:  # noqa: ANN001
    """Horizontal intervals ``[lo, hi]`` at heights ``y`` as one collection (one artist per
    study costs ~10 kB each: a thousand-study figure took ~200 MB to draw)."""
    segs = np.stack([np.c_[lo, y], np.c_[hi, y]], axis=1)
    ax.add_collection(
        LineCollection(
            segs, colors=colors, linewidths=lw, alpha=alpha, capstyle="projecting", zorder=2
        ),
        autolim=False,
    )


def _row_label(r) -> str:
    """A study's axis label; user text never reaches mathtext unescaped."""
    return escape_mathtext(f"{r['label']}  ({r['injury_phase'] or 'unknown'})")
