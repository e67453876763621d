"""Figures of a trial analysis and of a simulated design (matplotlib Figures, no pyplot
state): the baseline→last-visit alluvial per arm, score trajectories, observed against
expected conversions, and the power curve."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from sci_evidence.isncsci.levels import AIS_GRADES
from sci_evidence.trials.stats import poisson_binomial_pmf

if TYPE_CHECKING:
    from sci_evidence.trials.analysis import TrialAnalysis
    from sci_evidence.trials.design import PowerResult

_GRADE_COLOURS = {
    "A": "#b2182b",
    "B": "#ef8a62",
    "C": "#fddbc7",
    "D": "#67a9cf",
    "E": "#2166ac",
}
_AMBIGUOUS_COLOUR = "#bdbdbd"


def _order(categories) -> list[str]:
    """Grades A→E first, ambiguous sets (``"A,B"``) after their first grade."""

    def rank(c: str) -> tuple[int, int]:
        first = c.split(",")[0]
        return (AIS_GRADES.index(first) if first in AIS_GRADES else 9, c.count(","))

    return sorted(set(categories), key=rank)


def _colour(cat: str) -> str:
    return _GRADE_COLOURS.get(cat, _AMBIGUOUS_COLOUR)


def _alluvial(ax, transitions: dict[str, dict[str, int]], title: str) -> None:
    left = {b: sum(t.values()) for b, t in transitions.items()}
    right: dict[str, int] = {}
    for t in transitions.values():
        for f, c in t.items():
            right[f] = right.get(f, 0) + c
    total = sum(left.values())
    if total == 0:
        ax.set_axis_off()
        ax.set_title(f"{title}\n(no follow-up)")
        return
    gap = 0.02 * total
    width = 0.12

    def stack(counts: dict[str, int]) -> dict[str, float]:
        pos, y = {}, 0.0
        for cat in _order(counts):
            pos[cat] = y
            y += counts[cat] + gap
        return pos

    lpos, rpos = stack(left), stack(right)
    for side_x, counts, pos in ((0.0, left, lpos), (1.0 - width, right, rpos)):
        for cat, y0 in pos.items():
            ax.add_patch(
                Rectangle(
                    (side_x, y0),
                    width,
                    counts[cat],
                    facecolor=_colour(cat),
                    edgecolor="black",
                    linewidth=0.6,
                )
            )
            ax.text(
                side_x + width / 2,
                y0 + counts[cat] / 2,
                f"{cat}\n{counts[cat]}",
                ha="center",
                va="center",
                fontsize=8,
            )
    lcur = dict(lpos)
    rcur = dict(rpos)
    for b in _order(transitions):
        for f in _order(transitions[b]):
            c = transitions[b][f]
            y0l, y0r = lcur[b], rcur[f]
            lcur[b] += c
            rcur[f] += c
            x0, x1 = width, 1 - width
            xm = (x0 + x1) / 2
            verts = [
                (x0, y0l),
                (xm, y0l),
                (xm, y0r),
                (x1, y0r),
                (x1, y0r + c),
                (xm, y0r + c),
                (xm, y0l + c),
                (x0, y0l + c),
                (x0, y0l),
            ]
            codes = [
                MplPath.MOVETO,
                MplPath.CURVE4,
                MplPath.CURVE4,
                MplPath.CURVE4,
                MplPath.LINETO,
                MplPath.CURVE4,
                MplPath.CURVE4,
                MplPath.CURVE4,
                MplPath.CLOSEPOLY,
            ]
            ax.add_patch(
                PathPatch(MplPath(verts, codes), facecolor=_colour(b), alpha=0.45, edgecolor="none")
            )
    top = max(sum(left.values()), sum(right.values())) + gap * max(len(left), len(right))
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(top, -gap)  # grade A at the top
    ax.set_xticks([width / 2, 1 - width / 2], ["baseline", "last visit"])
    ax.set_yticks([])
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    ax.set_title(title)


def transition_plot(analysis: TrialAnalysis, *, arm: str | None = None) -> Figure:
    """Alluvial (Sankey) figure of AIS grade at baseline → last visit, one panel per arm.

    Ambiguous classifications (``A,B``) are their own grey blocks, never resolved.
    """
    arms = [a for a in analysis.arms if arm is None or a.arm == arm]
    fig = Figure(figsize=(4.2 * max(1, len(arms)), 4.5), constrained_layout=True)
    axes = fig.subplots(1, max(1, len(arms)), squeeze=False)[0]
    for ax, a in zip(axes, arms, strict=False):
        _alluvial(ax, a.transitions, f"{a.arm} (n={a.n})")
    fig.suptitle("AIS grade: baseline → last visit")
    return fig


def trajectory_plot(analysis: TrialAnalysis, *, score: str = "TMS") -> Figure:
    """Each patient's score over days since injury (thin lines) and the arm mean per visit."""
    ex = analysis.exams
    arms = [a.arm for a in analysis.arms]
    fig = Figure(figsize=(4.2 * max(1, len(arms)), 3.8), constrained_layout=True)
    axes = fig.subplots(1, max(1, len(arms)), squeeze=False, sharey=True)[0]
    for ax, arm in zip(axes, arms, strict=True):
        e = ex[ex["arm"] == arm]
        for _, g in e.groupby("patient_id"):
            g = g.sort_values("visit")
            ax.plot(g["visit"], g[score], color="0.6", linewidth=0.7, alpha=0.7)
        m = e.groupby("visit")[score].mean()
        ax.plot(m.index, m.to_numpy(), color="black", linewidth=2, marker="o", label="mean")
        ax.set_title(arm)
        ax.set_xlabel("days since injury")
    axes[0].set_ylabel(score)
    axes[0].legend(loc="best", fontsize=8)
    return fig


def natural_history_plot(analysis: TrialAnalysis) -> Figure:
    """Observed conversions of each arm against the spontaneous expectation.

    Left: observed (with ambiguous patients counted as converted as a hollow marker) and
    expected counts with the range over published benchmarks. Right: the Poisson–binomial
    distribution of spontaneous conversions per arm with the observed count marked.
    """
    nh = analysis.natural_history
    fig = Figure(figsize=(9, 3.8), constrained_layout=True)
    ax, ax2 = fig.subplots(1, 2)
    if not nh:
        ax.text(0.5, 0.5, "no natural-history benchmarks", ha="center", va="center")
        ax.set_axis_off()
        ax2.set_axis_off()
        return fig
    x = np.arange(len(nh))
    exp = np.array([r.expected for r in nh])
    lo = np.array([r.expected_low for r in nh])
    hi = np.array([r.expected_high for r in nh])
    ax.bar(x - 0.18, exp, width=0.36, color="#bdbdbd", label="expected (spontaneous)")
    ax.errorbar(
        x - 0.18,
        exp,
        yerr=[exp - lo, hi - exp],
        fmt="none",
        ecolor="black",
        capsize=4,
        label="range over benchmarks",
    )
    ax.bar(x + 0.18, [r.observed for r in nh], width=0.36, color="#2166ac", label="observed")
    ax.scatter(
        x + 0.18,
        [r.observed_upper for r in nh],
        facecolors="none",
        edgecolors="black",
        zorder=3,
        label="ambiguous counted as converted",
    )
    ax.set_xticks(x, [f"{r.arm}\n(n={r.n})" for r in nh])
    ax.set_ylabel("patients converting (≥ 1 AIS grade)")
    ax.set_ylim(0, 1.45 * max(float(hi.max()), max(r.observed_upper for r in nh), 1))
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    patients = analysis.patients
    for r in nh:
        p = patients[(patients["arm"] == r.arm) & (patients["n_exams"] >= 2)]["nh_p"]
        p = p.to_numpy(float)
        p = p[np.isfinite(p)]
        pmf = poisson_binomial_pmf(p)
        line = ax2.step(np.arange(pmf.size), pmf, where="mid", label=f"{r.arm}: P = {r.pval:.3g}")
        ax2.axvline(r.observed, color=line[0].get_color(), linestyle="--")
    ax2.set_xlabel("conversions")
    ax2.set_ylabel("probability without treatment")
    ax2.legend(fontsize=7)
    return fig


def power_curve_plot(result: PowerResult) -> Figure:
    """Simulated power against patients per arm, with ±2 Monte-Carlo standard errors."""
    fig = Figure(figsize=(5.5, 3.8), constrained_layout=True)
    ax = fig.subplots()
    n = np.array([p.n_per_arm for p in result.points])
    pw = np.array([p.power for p in result.points])
    se = np.array([p.mc_se for p in result.points])
    ax.errorbar(n, pw, yerr=2 * se, marker="o", capsize=3)
    ax.axhline(0.8, color="0.5", linestyle=":", label="80%")
    ax.axhline(result.design.alpha, color="0.7", linestyle="--", label="alpha")
    ax.set_ylim(0, 1)
    d = result.design
    effect = (
        f"odds ratio {d.odds_ratio:g}"
        if d.endpoint == "conversion"
        else f"{d.score} +{d.motor_gain:g} points"
    )
    ax.set_title(
        f"{d.endpoint}: {effect}, {d.planned_analysis}, dropout {d.dropout:.0%}", fontsize=10
    )
    ax.set_xlabel("patients per arm")
    ax.set_ylabel("power")
    ax.legend(fontsize=8)
    return fig
