"""Forest plot for the report: study label, n, effect with CI, weight, pooled diamond,
prediction interval and, optionally, subgroup blocks with a diamond each.

The review uses :func:`sci_evidence.meta.plots.forest_plot` when the meta-analysis core
provides it and this drawing otherwise (same inputs: a fitted result and the study rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from scipy import stats


def _diamond(ax, y, lo, est, hi, colour, h=0.32):
    ax.add_patch(
        Polygon(
            [[lo, y], [est, y + h], [hi, y], [est, y - h]],
            closed=True,
            facecolor=colour,
            edgecolor=colour,
        )
    )


def review_forest(
    res,
    *,
    labels: Sequence[str],
    n_text: Sequence[str],
    transf: Callable | None = None,
    xlabel: str = "",
    refline: float | None = None,
    blocks: list[tuple[str, np.ndarray, object]] | None = None,
    block_test: str = "",
    digits: int = 2,
    percent: bool = False,
    log_scale: bool = False,
) -> Figure:
    """Draw a forest plot.

    Parameters
    ----------
    res : PoolResult
        The overall fit (``yi``, ``vi``, ``weights``, estimate, CI, PI).
    labels, n_text : sequences of str
        Study labels and the "n" column text (e.g. "7/14").
    transf : callable, optional
        Back-transformation applied to every number drawn (e.g. expit).
    blocks : list of (name, index array, PoolResult), optional
        Subgroup blocks: studies of each block are drawn together, followed by the block's
        diamond.
    block_test : str
        Text of the test for subgroup differences (printed under the overall diamond).
    percent : bool
        Print effects as percentages.
    log_scale : bool
        Ratio measures: draw on the log scale (the analysis scale) with the axis labelled in
        ratios; the printed numbers are back-transformed by ``transf``.
    """
    ft = transf or (lambda x: np.asarray(x, dtype=float))  # numbers printed
    f = (lambda x: np.asarray(x, dtype=float)) if log_scale else ft  # positions drawn
    level = res.level
    z = stats.norm.ppf(0.5 + level / 2)
    yi = np.asarray(res.yi, float)
    sei = np.sqrt(np.asarray(res.vi, float))
    lo, hi = yi - z * sei, yi + z * sei
    w = np.asarray(res.weights, float)

    def fmt(e, a, b):
        e, a, b = (float(v) for v in ft(np.array([e, a, b])))
        if percent:
            return f"{100 * e:.1f} [{100 * a:.1f}, {100 * b:.1f}]"
        return f"{e:.{digits}f} [{a:.{digits}f}, {b:.{digits}f}]"

    layout: list[
        tuple[str, object]
    ] = []  # ("study", i) | ("header", name) | ("block", (name, fit))
    if blocks:
        for name, idx, fit in blocks:
            layout.append(("header", name))
            layout += [("study", int(i)) for i in idx]
            layout.append(("block", (name, fit)))
            layout.append(("gap", None))
    else:
        layout += [("study", i) for i in range(len(yi))]
        layout.append(("gap", None))
    layout.append(("overall", res))
    if res.pi_lb is not None and np.isfinite(res.pi_lb):
        layout.append(("pi", res))

    n_rows = len(layout)
    row_in, top_in, bottom_in = 0.25, 0.15, 0.95 if block_test else 0.75
    fig_h = top_in + bottom_in + row_in * (n_rows + 1)
    fig = plt.figure(figsize=(9.0, fig_h))
    ax = fig.add_axes([0.34, bottom_in / fig_h, 0.36, row_in * (n_rows + 1) / fig_h])
    ax.set_ylim(n_rows - 0.5, -1.5)
    xs_all = [lo, hi, [res.ci_lb, res.ci_ub]]
    if res.pi_lb is not None and np.isfinite(res.pi_lb):
        xs_all.append([res.pi_lb, res.pi_ub])
    xs = f(np.concatenate([np.ravel(x) for x in xs_all]))
    xmin, xmax = float(np.nanmin(xs)), float(np.nanmax(xs))
    pad = 0.05 * (xmax - xmin or 1.0)
    ax.set_xlim(xmin - pad, xmax + pad)
    trans = ax.get_yaxis_transform()
    head_y = -1.0
    for x, text, ha in (
        (-0.93, "Study", "left"),
        (-0.12, "n", "right"),
        (1.03, "Estimate [CI]", "left"),
        (1.62, "Weight", "right"),
    ):
        ax.text(x, head_y, text, transform=trans, ha=ha, va="center", fontsize=8.5, weight="bold")
    wmax = w.max() if len(w) else 1.0
    for row, (kind, item) in enumerate(layout):
        if kind == "study":
            i = item
            a, e, b = f(np.array([lo[i], yi[i], hi[i]]))
            ax.plot([a, b], [row, row], color="#333333", lw=1)
            ax.plot(e, row, "s", color="#1f4e79", ms=3 + 6 * np.sqrt(w[i] / wmax))
            ax.text(-0.93, row, labels[i], transform=trans, ha="left", va="center", fontsize=8)
            ax.text(-0.12, row, n_text[i], transform=trans, ha="right", va="center", fontsize=8)
            ax.text(
                1.03,
                row,
                fmt(yi[i], lo[i], hi[i]),
                transform=trans,
                ha="left",
                va="center",
                fontsize=8,
            )
            ax.text(1.62, row, f"{w[i]:.1f}%", transform=trans, ha="right", va="center", fontsize=8)
        elif kind == "header":
            ax.text(
                -0.93,
                row,
                str(item),
                transform=trans,
                ha="left",
                va="center",
                fontsize=8.5,
                weight="bold",
                style="italic",
            )
        elif kind == "block":
            name, fit = item
            e, a, b = f(np.array([fit.estimate, fit.ci_lb, fit.ci_ub]))
            _diamond(ax, row, a, e, b, "#7f8c8d")
            ax.text(
                -0.90,
                row,
                f"Subtotal ({name}; k = {fit.k}, I² = {fit.I2:.0f}%)",
                transform=trans,
                ha="left",
                va="center",
                fontsize=8,
            )
            ax.text(
                1.03,
                row,
                fmt(fit.estimate, fit.ci_lb, fit.ci_ub),
                transform=trans,
                ha="left",
                va="center",
                fontsize=8,
            )
        elif kind == "overall":
            e, a, b = f(np.array([res.estimate, res.ci_lb, res.ci_ub]))
            _diamond(ax, row, a, e, b, "#c0392b")
            text = (
                f"RE model (k = {res.k}; τ² = {res.tau2:.3f}; I² = {res.I2:.0f}%)"
                if res.method not in ("EE", "FE")
                else f"EE model (k = {res.k})"
            )
            ax.text(
                -0.93, row, text, transform=trans, ha="left", va="center", fontsize=8, weight="bold"
            )
            ax.text(
                1.03,
                row,
                fmt(res.estimate, res.ci_lb, res.ci_ub),
                transform=trans,
                ha="left",
                va="center",
                fontsize=8,
                weight="bold",
            )
            ax.axvline(e, color="#c0392b", lw=0.6, ls=":", zorder=0)
        elif kind == "pi":
            a, b = f(np.array([res.pi_lb, res.pi_ub]))
            ax.plot([a, b], [row, row], color="#c0392b", lw=2.2, alpha=0.6)
            a, b = ft(np.array([res.pi_lb, res.pi_ub]))
            ax.text(
                -0.93,
                row,
                "Prediction interval",
                transform=trans,
                ha="left",
                va="center",
                fontsize=8,
                style="italic",
            )
            lo_txt, hi_txt = (100 * a, 100 * b) if percent else (a, b)
            d = 1 if percent else digits
            ax.text(
                1.03,
                row,
                f"[{lo_txt:.{d}f}, {hi_txt:.{d}f}]",
                transform=trans,
                ha="left",
                va="center",
                fontsize=8,
            )
    if refline is not None:
        ax.axvline(np.log(refline) if log_scale else refline, color="black", lw=0.8)
    if log_scale:
        nice = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
        lo_x, hi_x = ax.get_xlim()
        ticks = nice[(np.log(nice) >= lo_x) & (np.log(nice) <= hi_x)]
        ax.set_xticks(np.log(ticks), [f"{t:g}" for t in ticks])
    ax.set_yticks([])
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    ax.set_xlabel(xlabel, fontsize=8.5)
    ax.tick_params(axis="x", labelsize=8)
    if percent:
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    if block_test:
        fig.text(0.01, 0.08 / fig_h, block_test, ha="left", va="bottom", fontsize=7.5)
    return fig
