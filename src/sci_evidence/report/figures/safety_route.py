"""Adverse events by route of administration: a forest-style figure of
:class:`~sci_evidence.review.safety.SafetyByRoute`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from sci_evidence import meta
from sci_evidence.report.figures._layout import tight_layout
from sci_evidence.text import escape_mathtext


def safety_route_figure(result) -> Figure:
    """Per route group: its studies (the proportion of patients with an event and the exact
    Clopper–Pearson interval; a hollow square marks a derived lower bound) and the group's
    proportion with its interval (a diamond), on the percentage scale. Routes without a
    study are left out; the figure's title gives the route-moderator test."""
    level = result.level
    lines: list[tuple[str, str, float, float, float]] = []  # kind, label, p, lo, hi
    for g in result.groups.to_dict(orient="records"):
        if not g["k"]:
            continue
        rows = result.rows[result.rows["route_group"] == g["route_group"]]
        for r in rows.to_dict(orient="records"):
            lo, hi = meta.proportion_ci(int(r["xi"]), int(r["ni"]), level=level)
            kind = "derived" if r["count"] != "reported" else "study"
            label = f"{r['label']}  {int(r['xi'])}/{int(r['ni'])}"
            lines.append((kind, label, r["xi"] / r["ni"], lo, hi))
        lines.append(
            (
                "group",
                f"{g['route_group']} (k = {g['k']}, {g['events']}/{g['patients']})",
                g["proportion"],
                g["ci_lb"],
                g["ci_ub"],
            )
        )
    n = len(lines)
    fig, ax = plt.subplots(figsize=(7.6, 1.4 + 0.28 * max(n, 1)))
    kinds = np.array([kind for kind, *_ in lines], dtype=str)
    p, lo, hi = (100 * np.array([r[j] for r in lines], dtype=float) for j in (2, 3, 4))
    y = n - 1 - np.arange(n)
    for i in np.flatnonzero(kinds == "group"):
        ax.fill([lo[i], p[i], hi[i], p[i]], [y[i], y[i] + 0.3, y[i], y[i] - 0.3], color="#2c3e50")
    # the studies as two collections (whiskers, squares), not two artists per study: a
    # thousand-study figure then costs tens, not hundreds, of MB to draw
    study = kinds != "group"
    ax.add_collection(
        LineCollection(
            np.stack([np.c_[lo, y], np.c_[hi, y]], axis=1)[study],
            colors="#555555",
            linewidths=1,
            capstyle="projecting",  # as Line2D draws a line's ends
            zorder=2,
        ),
        autolim=False,
    )
    ax.scatter(
        p[study],
        y[study],
        marker="s",
        s=5**2,
        facecolors=np.where(kinds[study] == "derived", "white", "#555555"),
        edgecolors="#555555",
        linewidths=1,
        zorder=2,
    )
    ax.set_yticks(np.arange(n)[::-1])
    ax.set_yticklabels(
        [escape_mathtext(lab) for _, lab, *_ in lines],
        fontsize=7,
        fontweight=None,
    )
    for tick, (kind, *_) in zip(ax.get_yticklabels(), lines, strict=True):
        if kind == "group":
            tick.set_fontweight("bold")
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.8, n - 0.2)
    pct = int(round(level * 100))
    ax.set_xlabel(f"Patients with an adverse event (%), {pct}% CI")
    t = result.test
    title = f"Adverse events by route ({escape_mathtext(result.analysis_id)})"
    if t.get("QM") is not None:
        title += f": GLMM route test χ² = {t['QM']:.2f}, df = {t['df']}, p = {t['pval']:.3f}"
    ax.set_title(title, fontsize=8)
    ax.grid(axis="x", color="#dddddd", lw=0.5)
    ax.text(
        0.99,
        0.01,
        "□ derived (lower bound)  ■ reported  ◆ route",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6,
        color="#555555",
    )
    tight_layout(fig)
    return fig
