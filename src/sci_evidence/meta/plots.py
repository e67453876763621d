"""Publication-quality forest plot of a fitted meta-analysis (matplotlib).

Layout (left to right): study labels and any extra text columns, the plot of each study's
effect with its confidence interval (a square whose area is proportional to the study's
weight), the text column "estimate [lower, upper]", and the weights in percent. Below the
studies: the pooled estimate as a diamond, the prediction interval as a bar, and a line of
heterogeneity statistics. With a :class:`SubgroupResult` the studies are grouped in blocks,
each closed by its own diamond, and the test for subgroup differences is printed at the end.

Confidence intervals of single studies are Wald intervals ``yi ± z·sqrt(vi)`` at the model's
level, as metafor's ``forest()`` draws them. For proportions with ``counts=(xi, ni)`` each
study is drawn instead as its raw proportion xi/ni with an exact Clopper–Pearson (or Wilson)
interval, whatever scale the model was fitted on — as R meta's ``metaprop`` does — so that a
0/1 case report is drawn at 0 with interval [0, 0.975], not at a back-transformed 8.9%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.special import ndtri

from sci_evidence.errors import InputError

__all__ = ["forest_plot"]

_ROW = 0.30  # inches per row
_LOG_TRANSFORMS = {np.exp, math.exp}
# each proportion measure's value at p = 1/2 (PFT: 1/2·(asin√(x/(n+1)) + asin√((x+1)/(n+1)))
# with x = n/2 is π/4 for every n): transf of it tells whether transf shows proportions or %
_HALF_ON_MODEL_SCALE = {
    "PR": 0.5,
    "PLN": math.log(0.5),
    "PLO": 0.0,
    "PAS": math.pi / 4,
    "PFT": math.pi / 4,
}


def _raw_proportions(res, counts, transf, method: str):
    """Study proportions and their intervals on the display scale of ``transf``."""
    from sci_evidence.meta.proportion_ci import proportion_ci

    measure = (res.measure or "").upper()
    if measure not in _HALF_ON_MODEL_SCALE:
        raise InputError(
            f"counts= draws raw proportions, but the model's measure is {res.measure!r}; "
            f"use it with one of {', '.join(_HALF_ON_MODEL_SCALE)}"
        )
    try:
        xi, ni = counts
    except (TypeError, ValueError):
        raise InputError("counts must be a pair (xi, ni) of event counts and sizes") from None
    lo, hi = proportion_ci(np.atleast_1d(xi), np.atleast_1d(ni), method=method, level=res.level)
    if len(lo) != res.k:
        raise InputError(f"counts has {len(lo)} studies but the model has {res.k}")
    half = _HALF_ON_MODEL_SCALE[measure]
    shown = float(np.asarray(transf(np.array([half])), dtype=float)[0]) if transf else half
    scale = next((s for s in (1.0, 100.0) if abs(shown - 0.5 * s) < 1e-6 * s), None)
    if scale is None:
        raise InputError(
            "counts= needs transf to show the model on the proportion scale (or in percent); "
            f"transf maps a proportion of 0.5 to {shown:g}"
        )
    p = np.asarray(xi, dtype=float) / np.asarray(ni, dtype=float)
    return scale * p, scale * lo, scale * hi


def _study_marks(ax, est, lb, ub, y, weights, wmax: float) -> None:  # noqa: ANN001
    """Each study's interval (a 1-pt whisker) and estimate (a square, side 4 + 8·sqrt(w/wmax)
    points) as two collections: one artist per mark costs ~10 kB, and a forest plot of
    thousands of studies drew hundreds of MB for its lines alone."""
    from matplotlib.collections import LineCollection

    segs = np.stack([np.c_[lb, y], np.c_[ub, y]], axis=1)
    ax.add_collection(
        LineCollection(segs, colors="black", linewidths=1.0, capstyle="butt", zorder=2),
        autolim=False,
    )
    w = np.asarray(weights, dtype=float)
    side = 4.0 + 8.0 * np.sqrt(w / wmax) if wmax > 0 else np.full(len(y), 6.0)
    ax.scatter(
        est, y, marker="s", s=side**2, c="0.25", edgecolors="black", linewidths=0.5, zorder=2
    )


def _fmt_ci(est: float, lb: float, ub: float, digits: int) -> str:
    return f"{est:.{digits}f} [{lb:.{digits}f}, {ub:.{digits}f}]"


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def forest_plot(
    res,
    *,
    labels: Sequence[str] | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
    transf: Callable | None = None,
    xlabel: str | None = None,
    subgroups=None,
    show_weights: bool = True,
    show_pi: bool = True,
    refline: float | None = None,
    digits: int = 2,
    title: str | None = None,
    show_refline: bool = True,
    counts: tuple[Sequence[float], Sequence[float]] | None = None,
    proportion_ci_method: str = "clopper-pearson",
):
    """Draw a forest plot of ``res`` and return the matplotlib Figure.

    Parameters
    ----------
    res : PoolResult
        A model without moderators (the pooled effect is the intercept).
    labels : sequence of str, optional
        Study labels (default ``res.labels``).
    columns : mapping of str to sequence of str, optional
        Extra text columns shown after the labels, e.g. ``{"n": ["120", "85", ...]}``.
    transf : callable, optional
        Back-transformation applied to every effect and bound before plotting (e.g.
        ``numpy.exp`` for log risk ratios, which also puts the axis on a log scale).
    xlabel : str, optional
        Axis label; default names the measure.
    subgroups : SubgroupResult, optional
        Group the studies in blocks, each with its own diamond.
    show_weights : bool, default True
        Print the weights (percent) in the last column.
    show_pi : bool, default True
        Draw the prediction interval of random-effects models.
    refline : float, optional
        Position of the vertical reference line (default: no effect, i.e. 0, or
        ``transf(0)``).
    digits : int, default 2
        Decimals of the text columns.
    title : str, optional
        Figure title.
    show_refline : bool, default True
        Draw the reference line. False for outcomes without a null value (e.g. a single-arm
        proportion, where ``transf(0)`` would put a meaningless line at 50%).
    counts : (xi, ni), optional
        Events and sizes of a proportion model (PR, PLN, PLO, PAS, PFT). Each study is then
        drawn as its raw proportion ``xi/ni`` with the interval of
        :func:`~sci_evidence.meta.proportion_ci` at the model's level, on the scale ``transf``
        shows (proportions, or percent when ``transf`` multiplies by 100); the diamond and
        prediction interval stay the model's, back-transformed.
    proportion_ci_method : {"clopper-pearson", "wilson"}, default "clopper-pearson"
        The study interval used with ``counts`` (Clopper–Pearson, as R meta's ``metaprop``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    if res.p != 1:
        raise InputError(
            "a forest plot needs a model without moderators (got "
            f"{res.p} coefficients); fit pool() without mods, or use subgroups()"
        )
    k = res.k
    labels = list(res.labels if labels is None else labels)
    if len(labels) != k:
        raise InputError(f"labels has {len(labels)} entries but the model has {k} studies")
    columns = dict(columns or {})
    for name, vals in columns.items():
        if len(vals) != k:
            raise InputError(f"column {name!r} has {len(vals)} entries but there are {k} studies")
    tf = transf if transf is not None else (lambda x: x)
    log_axis = transf in _LOG_TRANSFORMS
    if counts is not None:
        est, lb, ub = _raw_proportions(res, counts, transf, proportion_ci_method)
    else:
        crit = float(ndtri(0.5 + res.level / 2))
        sei = np.sqrt(res.vi)
        est = np.asarray(tf(res.yi), dtype=float)
        lb = np.asarray(tf(res.yi - crit * sei), dtype=float)
        ub = np.asarray(tf(res.yi + crit * sei), dtype=float)

    # ---- rows, top to bottom (y decreasing) ------------------------------------------------
    rows: list[dict] = []  # each: kind, y, payload
    if subgroups is not None:
        group_of = list(subgroups.group_of)
        if len(group_of) != k:
            raise InputError("subgroups does not belong to this result (different k)")
        for g in subgroups.groups:
            rows.append({"kind": "header", "text": str(g)})
            for i in (i for i in range(k) if group_of[i] == g):
                rows.append({"kind": "study", "i": i})
            rows.append(
                {
                    "kind": "pooled",
                    "res": subgroups.results[g],
                    "text": f"Subtotal ({g})",
                    "group": g,
                }
            )
            rows.append({"kind": "blank"})
    else:
        rows += [{"kind": "study", "i": i} for i in range(k)]
        rows.append({"kind": "blank"})
    model_name = {"EE": "Common-effect model", "MH": "Mantel-Haenszel model", "PETO": "Peto model"}
    rows.append(
        {
            "kind": "pooled",
            "res": res,
            "text": model_name.get(res.method, f"Random-effects model ({res.method})"),
            "overall": True,
        }
    )
    has_pi = show_pi and res.pi_lb is not None and res.method not in ("EE", "MH", "PETO")
    if has_pi:
        rows.append({"kind": "pi", "res": res})
    n_rows = len(rows)
    for j, r in enumerate(rows):
        r["y"] = n_rows - j

    # ---- figure: widths follow the longest text of each column -------------------------
    char_w = 0.075  # inches per character at the default font size
    text_cols = ["Study"] + list(columns)
    first_w = (
        char_w * max([len(x) for x in labels] + [len(r.get("text", "")) for r in rows] + [22]) + 0.2
    )
    col_ws = [
        char_w * max([len(str(v)) for v in vals] + [len(n)]) + 0.25 for n, vals in columns.items()
    ]
    left_w = first_w + sum(col_ws)
    right_w = 0.09 * (3 * (digits + 3) + 6) + (0.8 if show_weights else 0.0) + 0.3
    plot_w = 4.0
    n_foot = 1 + (subgroups is not None) + (res.test != "z")
    bottom_in = 0.75 + 0.2 * n_foot
    fig_h = _ROW * (n_rows + 1.5) + 0.3 + bottom_in
    total_w = left_w + plot_w + right_w
    fig = plt.figure(figsize=(total_w, fig_h))
    gs = fig.add_gridspec(
        1,
        3,
        width_ratios=[left_w, plot_w, right_w],
        wspace=0.0,
        left=0.1 / total_w,
        right=1 - 0.1 / total_w,
        top=1 - 0.3 / fig_h,
        bottom=bottom_in / fig_h,
    )
    ax_l = fig.add_subplot(gs[0])
    ax = fig.add_subplot(gs[1], sharey=ax_l)
    ax_r = fig.add_subplot(gs[2], sharey=ax_l)
    for a in (ax_l, ax_r):
        a.set_xlim(0, 1)
        a.axis("off")
    ax.patch.set_visible(False)
    ax.set_ylim(0.4, n_rows + 1.3)
    ax.spines[["left", "right", "top"]].set_visible(False)
    ax.tick_params(axis="y", left=False, labelleft=False)

    # column positions (axes fractions) and headers
    lx = [0.0] + [(first_w + sum(col_ws[:j])) / left_w for j in range(len(columns))]
    head_y = n_rows + 0.9
    for x, name in zip(lx, text_cols, strict=True):
        ax_l.text(x, head_y, name, fontweight="bold", va="center", ha="left")
    est_head = (
        "Estimate [95% CI]" if abs(res.level - 0.95) < 1e-12 else (f"Estimate [{res.level:.0%} CI]")
    )
    rx_ci = 0.2 / right_w
    rx_w = 1.0
    ax_r.text(rx_ci, head_y, est_head, fontweight="bold", va="center", ha="left")
    if show_weights:
        ax_r.text(rx_w, head_y, "Weight", fontweight="bold", va="center", ha="right")

    wmax = float(np.max(res.weights)) if k else 1.0
    xs_all = [lb.min(), ub.max()]
    study_y = np.zeros(k)  # each study's row, for its whisker and square (drawn below)
    for r in rows:
        y = r["y"]
        if r["kind"] == "header":
            ax_l.text(0.0, y, r["text"], fontweight="bold", fontstyle="italic", va="center")
        elif r["kind"] == "study":
            i = r["i"]
            ax_l.text(0.0, y, labels[i], va="center", ha="left")
            for x, name in zip(lx[1:], columns, strict=True):
                ax_l.text(x, y, str(columns[name][i]), va="center", ha="left")
            study_y[i] = y
            ax_r.text(
                rx_ci,
                y,
                _fmt_ci(est[i], lb[i], ub[i], digits),
                va="center",
                ha="left",
                family="monospace",
            )
            if show_weights:
                ax_r.text(
                    rx_w, y, f"{res.weights[i]:.1f}%", va="center", ha="right", family="monospace"
                )
        elif r["kind"] == "pooled":
            pr = r["res"]
            e, lo, hi = (float(v) for v in tf(np.array([pr.estimate, pr.ci_lb, pr.ci_ub])))
            xs_all += [lo, hi]
            h = 0.32
            color = "0.15" if r.get("overall") else "0.45"
            ax.add_patch(
                Polygon(
                    [[lo, y], [e, y + h], [hi, y], [e, y - h]],
                    closed=True,
                    facecolor=color,
                    edgecolor="black",
                    lw=0.6,
                )
            )
            ax_l.text(0.0, y, r["text"], fontweight="bold", va="center", ha="left")
            ax_r.text(
                rx_ci,
                y,
                _fmt_ci(e, lo, hi, digits),
                va="center",
                ha="left",
                fontweight="bold",
                family="monospace",
            )
            if show_weights:
                wsum = 100.0
                if "group" in r:  # the subgroup's share of the overall weights
                    members = [j for j in range(k) if subgroups.group_of[j] == r["group"]]
                    wsum = float(np.sum(res.weights[members]))
                ax_r.text(
                    rx_w,
                    y,
                    f"{wsum:.1f}%",
                    va="center",
                    ha="right",
                    fontweight="bold",
                    family="monospace",
                )
            if not r.get("overall") and pr.method not in ("EE",):
                ax_l.text(
                    0.0,
                    y - 0.42,
                    f"  tau² = {pr.tau2:.{max(digits, 2)}f}, I² = {pr.I2:.0f}%",
                    va="center",
                    ha="left",
                    fontsize="small",
                    color="0.3",
                )
        elif r["kind"] == "pi":
            pr = r["res"]
            plo, phi = (float(v) for v in tf(np.array([pr.pi_lb, pr.pi_ub])))
            e = float(tf(np.array([pr.estimate]))[0])
            xs_all += [plo, phi]
            ax.plot([plo, phi], [y, y], color="0.15", lw=2.2, solid_capstyle="butt")
            ax.plot([plo, plo], [y - 0.15, y + 0.15], color="0.15", lw=1.0)
            ax.plot([phi, phi], [y - 0.15, y + 0.15], color="0.15", lw=1.0)
            ax.plot(e, y, marker="|", ms=8, color="white", ls="")
            ax_l.text(0.0, y, "Prediction interval", va="center", ha="left", fontstyle="italic")
            pi_text = " " * (len(f"{e:.{digits}f}") + 1) + f"[{plo:.{digits}f}, {phi:.{digits}f}]"
            ax_r.text(rx_ci, y, pi_text, va="center", ha="left", family="monospace")

    _study_marks(ax, est, lb, ub, study_y, res.weights, wmax)

    # heterogeneity line and subgroup test
    foot = []
    if res.Q_df > 0:
        het = (
            f"Heterogeneity: Q({res.Q_df}) = {res.Q:.2f}, {_fmt_p(res.Q_pval)}; I² = {res.I2:.1f}%"
        )
        if res.method not in ("EE", "MH", "PETO"):
            het += f", tau² = {res.tau2:.{max(digits, 2) + 1}f}"
        foot.append(het)
    if res.method not in ("EE", "MH", "PETO") and res.test != "z":
        foot.append(f"Test: {res.test} (t with {res.dof} df)")
    if subgroups is not None:
        foot.append(
            f"Test for subgroup differences ({subgroups.tau2_mode} tau²): "
            f"Q = {subgroups.Q_between:.2f}, df = {subgroups.Q_between_df}, "
            f"{_fmt_p(subgroups.Q_between_pval)}"
        )
    for j, line in enumerate(foot):
        fig.text(
            0.1 / total_w,
            (0.12 + 0.2 * (len(foot) - 1 - j)) / fig_h,
            line,
            va="bottom",
            ha="left",
            fontsize="small",
        )

    # axis
    if log_axis:
        from matplotlib.ticker import FuncFormatter, LogLocator

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ref = refline if refline is not None else float(tf(np.array([0.0]))[0])
    if show_refline:
        ax.axvline(ref, color="0.5", lw=0.8, ls="--", zorder=0)
    else:  # the axis then spans the data only
        ref = float("nan")
    finite = [v for v in xs_all + [ref] if np.isfinite(v) and (not log_axis or v > 0)]
    lo, hi = min(finite), max(finite)
    if log_axis:
        pad = (math.log(hi) - math.log(lo)) * 0.05 or 0.1
        ax.set_xlim(math.exp(math.log(lo) - pad), math.exp(math.log(hi) + pad))
    else:
        pad = (hi - lo) * 0.05 or 0.1
        ax.set_xlim(lo - pad, hi + pad)
    if xlabel is None:
        xlabel = res.measure or "Effect size"
        if transf is not None and res.measure:
            xlabel = f"{res.measure} (back-transformed)"
    ax.set_xlabel(xlabel)
    if title:
        fig.suptitle(title, fontweight="bold")
    return fig
