"""Figures of the bias and sensitivity analyses (matplotlib, object-oriented API: each
function builds and returns its own :class:`~matplotlib.figure.Figure`, no global pyplot
state, so they are safe to call from threads and in headless runs).

* :func:`funnel_plot` -- funnel plot, contour-enhanced (shaded regions of significance
  around 0 at the 90/95/99% levels, Peters et al. 2008), with trim-and-fill studies drawn as
  open circles and the adjusted estimate.
* :func:`baujat_plot` -- contribution to heterogeneity against influence on the result.
* :func:`gosh_plot` -- estimate against I2 of every subset, with marginal densities, the
  subsets with and without a chosen study in two colours.
* :func:`cumulative_plot`, :func:`leave_one_out_plot` -- forest-style plots.
* :func:`influence_plot` -- the influence diagnostics per study, influential ones marked.
* :func:`permutation_plot` -- permutation distribution of a test statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from ..errors import InputError
from .results import PoolResult, require_pool_result

if TYPE_CHECKING:  # types only: this module never imports the analyses it draws
    import pandas as pd

    from .cumulative import CumulativeResult
    from .gosh import GoshResult
    from .influence import BaujatResult, InfluenceResult, LeaveOneOutResult
    from .permutation import PermutationResult
    from .trimfill import TrimFillResult

__all__ = [
    "funnel_plot",
    "baujat_plot",
    "gosh_plot",
    "cumulative_plot",
    "leave_one_out_plot",
    "influence_plot",
    "permutation_plot",
]

_POINT = "#1f3b73"
_FILLED = "#ffffff"
_HIGHLIGHT = "#c0392b"
_OTHER = "#2c7fb8"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def funnel_plot(
    res: PoolResult,
    contours: bool = True,
    filled: TrimFillResult | None = None,
    *,
    levels: Sequence[float] = (0.90, 0.95, 0.99),
    refline: float = 0.0,
    show_labels: bool = False,
    xlabel: str | None = None,
    title: str | None = None,
):
    """Funnel plot: effect sizes against their standard errors (axis reversed).

    Parameters
    ----------
    res : PoolResult
        Fitted model. With moderators the residuals are plotted (centred at 0).
    contours : bool, default True
        Shade the regions where a study's two-sided p-value against ``refline`` is above
        0.10, between 0.10 and 0.05, between 0.05 and 0.01 and below 0.01 (``levels``).
        Without contours, the pseudo confidence region around the pooled estimate is drawn.
    filled : TrimFillResult, optional
        Draw its filled-in studies as open circles and its adjusted estimate.
    levels : sequence of float, default (0.90, 0.95, 0.99)
    refline : float, default 0
        Centre of the significance contours.
    show_labels : bool, default False
        Write the study labels next to the points.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_pool_result(res, "funnel_plot")
    yi = np.asarray(res.yi, dtype=float)
    sei = np.sqrt(np.asarray(res.vi, dtype=float))
    X = np.asarray(res.X, dtype=float)
    mods = X.shape[1] > 1
    centre = 0.0 if mods else float(res.estimate)
    x = yi - X @ np.asarray(res.beta, dtype=float) if mods else yi
    extra_y = np.empty(0)
    extra_se = np.empty(0)
    if filled is not None and filled.k0 > 0:
        extra_y = np.asarray(filled.filled_yi, dtype=float)
        extra_se = np.sqrt(np.asarray(filled.filled_vi, dtype=float))
    se_max = float(np.max(np.concatenate([sei, extra_se]))) * 1.08
    se_grid = np.linspace(0.0, se_max, 200)
    fig = _figure(6.4, 5.2)
    ax = fig.add_subplot()
    all_x = np.concatenate([x, extra_y])
    span_lo, span_hi = float(all_x.min()), float(all_x.max())
    if contours and not mods:
        from matplotlib.patches import Patch

        lv = sorted(float(v) for v in levels)  # e.g. 0.90, 0.95, 0.99
        zmax = float(ndtri(0.5 + lv[-1] / 2))
        span_lo = min(span_lo, refline - zmax * se_max)
        span_hi = max(span_hi, refline + zmax * se_max)
        # metafor's shades: white inside the narrowest band, darker greys outwards
        greys = ["#ffffff", "#8c8c8c", "#bfbfbf", "#d9d9d9", "#e8e8e8"][: len(lv)]
        outside = "#e5e5e5"
        ax.set_facecolor(outside)
        for level, colour in sorted(zip(lv, greys, strict=True), reverse=True):
            z = float(ndtri(0.5 + level / 2))
            ax.fill_betweenx(
                se_grid, refline - z * se_grid, refline + z * se_grid, color=colour, lw=0, zorder=0
            )
        alphas = [1.0] + [1.0 - v for v in lv]
        patches = [
            Patch(facecolor=c, edgecolor="#777777", label=f"{lo:.2f} < p \u2264 {hi:.2f}")
            for c, hi, lo in zip(greys, alphas[:-1], alphas[1:], strict=True)
        ]
        patches.append(
            Patch(facecolor=outside, edgecolor="#777777", label=f"p \u2264 {alphas[-1]:.2f}")
        )
        ax.axvline(refline, color="#555555", lw=0.8, zorder=1)
    else:
        patches = []
        level = float(res.level)
        z = float(ndtri(0.5 + level / 2))
        ax.plot(centre - z * se_grid, se_grid, color="#555555", lw=0.8, ls="--", zorder=1)
        ax.plot(centre + z * se_grid, se_grid, color="#555555", lw=0.8, ls="--", zorder=1)
    ax.axvline(centre, color=_POINT, lw=1.0, zorder=2)
    ax.scatter(x, sei, s=28, color=_POINT, edgecolor="black", lw=0.5, zorder=3, label="studies")
    if extra_y.size:
        ax.scatter(
            extra_y,
            extra_se,
            s=28,
            facecolor=_FILLED,
            edgecolor="black",
            lw=0.8,
            zorder=3,
            label=f"filled ({filled.estimator}, k0 = {filled.k0})",
        )
        ax.axvline(filled.estimate, color=_POINT, lw=1.0, ls=":", zorder=2)
    if show_labels:
        for lab, xx, yy in zip(res.labels, x, sei, strict=False):
            ax.annotate(str(lab), (xx, yy), xytext=(3, 2), textcoords="offset points", fontsize=7)
    pad = 0.05 * (span_hi - span_lo or 1.0)
    ax.set_xlim(span_lo - pad, span_hi + pad)
    ax.set_ylim(se_max, 0.0)
    ax.set_xlabel(xlabel or ("Residual value" if mods else "Observed outcome"))
    ax.set_ylabel("Standard error")
    handles, _ = ax.get_legend_handles_labels()
    handles = handles + patches
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.9)
    if title:
        ax.set_title(title)
    return fig


def baujat_plot(baujat_result: BaujatResult, *, show_labels: bool = True, title: str | None = None):
    """Baujat plot: each study's contribution to heterogeneity (x) against its influence
    on the pooled result (y), drawn from the coordinates that
    :func:`sci_evidence.meta.influence.baujat` computed (``baujat(res).plot()``)."""
    if not hasattr(baujat_result, "intercept_only"):
        raise InputError("baujat_plot draws the result of baujat(res); call baujat(res).plot()")
    b = baujat_result.frame
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot()
    ax.scatter(b["x"], b["y"], s=24, color=_POINT)
    if show_labels:
        for lab, xx, yy in zip(b.index, b["x"], b["y"], strict=True):
            ax.annotate(str(lab), (xx, yy), xytext=(3, 3), textcoords="offset points", fontsize=7)
    int_only = baujat_result.intercept_only
    ax.set_xlabel(
        (
            "Contribution to Overall Heterogeneity"
            if int_only
            else "Contribution to Residual Heterogeneity"
        )
        if baujat_result.equal_effects
        else "Squared Pearson Residual"
    )
    ax.set_ylabel("Influence on Overall Result" if int_only else "Influence on Fitted Value")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def gosh_plot(
    gosh_result: GoshResult,
    *,
    study: int | str | None = None,
    max_points: int = 50_000,
    bins: int = 200,
    title: str | None = None,
):
    """GOSH plot: the estimate (x) against I2 (y) of every subset, with marginal densities.

    Parameters
    ----------
    gosh_result : GoshResult
    study : int or str, optional
        Colour the subsets that hold this study differently from those that do not.
    max_points : int, default 50,000
        Up to this many subsets are drawn as points; more are drawn as a 2-D density
        (log-scaled counts), which keeps millions of subsets fast and readable.
    bins : int, default 200
        Bins of the densities.
    """
    g = gosh_result
    est = np.asarray(g.estimate)
    i2 = np.asarray(g.I2)
    ok = np.isfinite(est) & np.isfinite(i2)
    groups: list[tuple[str, np.ndarray, str]]
    if study is None:
        groups = [("all subsets", ok, _POINT)]
    else:
        has = g.contains(study) & ok
        name = g.labels[g._study_index(study)]
        groups = [
            (f"without {name}", ~has & ok, _OTHER),
            (f"with {name}", has, _HIGHLIGHT),
        ]
    fig, ax, ax_top, ax_right = _gosh_axes()
    x_edges = np.linspace(est[ok].min(), est[ok].max() + 1e-12, bins + 1)
    y_edges = np.linspace(0.0, 100.0, bins + 1)
    for label, sel, colour in groups:
        n = int(sel.sum())
        if n == 0:
            continue
        if ok.sum() <= max_points:
            ax.scatter(est[sel], i2[sel], s=4, alpha=0.4, color=colour, lw=0, label=label)
        else:
            h, _, _ = np.histogram2d(est[sel], i2[sel], bins=(x_edges, y_edges))
            from matplotlib.colors import LinearSegmentedColormap

            cmap = LinearSegmentedColormap.from_list(label, ["#ffffff00", colour])
            with np.errstate(divide="ignore"):
                ax.pcolormesh(x_edges, y_edges, np.log1p(h).T, cmap=cmap, shading="flat")
            ax.plot([], [], "s", color=colour, label=label)
        # histograms as filled step lines: one artist each instead of one bar per bin
        hx, _ = np.histogram(est[sel], bins=x_edges, density=True)
        hy, _ = np.histogram(i2[sel], bins=y_edges, density=True)
        ax_top.stairs(hx, x_edges, fill=True, color=colour, alpha=0.5)
        ax_right.stairs(hy, y_edges, fill=True, color=colour, alpha=0.5, orientation="horizontal")
    kind = "all" if g.exhaustive else "random"
    _finish_gosh_axes(
        ax, ax_top, ax_right, title or f"GOSH plot ({g.n_subsets:,} {kind} subsets, {g.method})"
    )
    return fig


def _gosh_axes():
    """The GOSH plot's figure: the (estimate, I2) panel with marginal panels above and right."""
    fig = _figure(6.4, 6.0)
    gs = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
    ax = fig.add_subplot(gs[1, 0])
    ax_top = fig.add_subplot(gs[0, 0], sharex=ax)
    ax_right = fig.add_subplot(gs[1, 1], sharey=ax)
    return fig, ax, ax_top, ax_right


def _finish_gosh_axes(ax, ax_top, ax_right, title: str) -> None:
    """Labels, limits and bare marginal panels of a GOSH plot (points or bins alike)."""
    ax.set_xlabel("Estimate")
    ax.set_ylabel("I\u00b2 (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="upper right")
    ax_top.tick_params(labelbottom=False)
    ax_right.tick_params(labelleft=False)
    ax_top.set_yticks([])
    ax_right.set_xticks([])
    ax_top.set_title(title, fontsize=9)


def _forest_rows(ax, labels, est, lb, ub, *, transf, xlabel, refline, colour=_POINT):
    n = len(labels)
    ypos = np.arange(n)[::-1]
    f = transf if transf is not None else (lambda v: v)
    e, lo, hi = f(np.asarray(est)), f(np.asarray(lb)), f(np.asarray(ub))
    ax.hlines(ypos, lo, hi, color=colour, lw=1.2)
    ax.plot(e, ypos, "s", color=colour, ms=5)
    ax.set_yticks(ypos)
    ax.set_yticklabels([str(s) for s in labels], fontsize=8)
    if refline is not None:
        ax.axvline(f(refline), color="#555555", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylim(-1, n)
    ax.grid(axis="x", alpha=0.3)


def cumulative_plot(
    cumulative_result: CumulativeResult,
    *,
    transf: Callable[[np.ndarray], np.ndarray] | None = None,
    xlabel: str | None = None,
    refline: float | None = 0.0,
    title: str | None = None,
):
    """Cumulative forest plot: the estimate and CI after each study is added (top to
    bottom), labelled ``+ study``."""
    fr = cumulative_result.frame
    fig = _figure(6.4, 1.2 + 0.28 * len(fr))
    ax = fig.add_subplot()
    _forest_rows(
        ax,
        [f"+ {s}" for s in fr.index],
        fr["estimate"],
        fr["ci_lb"],
        fr["ci_ub"],
        transf=transf,
        xlabel=xlabel or "Cumulative estimate",
        refline=refline,
    )
    ax.set_title(
        title or f"Cumulative meta-analysis (ordered by {cumulative_result.order_by})", fontsize=9
    )
    return fig


def leave_one_out_plot(
    loo: LeaveOneOutResult | pd.DataFrame,
    *,
    transf: Callable[[np.ndarray], np.ndarray] | None = None,
    xlabel: str | None = None,
    refline: float | None = 0.0,
    title: str | None = None,
):
    """Forest-style plot of the leave-one-out estimates (``loo``: the
    :class:`~sci_evidence.meta.influence.LeaveOneOutResult` of :func:`leave_one_out`, or its
    ``to_frame()``)."""
    fr = getattr(loo, "frame", loo)
    fig = _figure(6.4, 1.2 + 0.28 * len(fr))
    ax = fig.add_subplot()
    _forest_rows(
        ax,
        [f"\u2212 {s}" for s in fr.index],
        fr["estimate"],
        fr["ci_lb"],
        fr["ci_ub"],
        transf=transf,
        xlabel=xlabel or "Estimate with the study left out",
        refline=refline,
    )
    ax.set_title(title or "Leave-one-out analysis", fontsize=9)
    return fig


def influence_plot(influence_result: InfluenceResult, *, title: str | None = None):
    """The eight diagnostics of :func:`influence` against study, influential studies red."""
    fr = getattr(influence_result, "frame", influence_result)
    cols = [
        ("rstudent", "rstudent"),
        ("dffits", "dffits"),
        ("cooks_distance", "Cook's distance"),
        ("cov_ratio", "covariance ratio"),
        ("tau2_deleted", "tau\u00b2 (left out)"),
        ("Q_deleted", "Q (left out)"),
        ("hat", "hat"),
        ("weight", "weight (%)"),
    ]
    fig = _figure(8.0, 7.5)
    axes = fig.subplots(4, 2, sharex=True)
    x = np.arange(1, len(fr) + 1)
    infl = (
        fr["influential"].to_numpy(dtype=bool) if "influential" in fr else np.zeros(len(fr), bool)
    )
    for ax, (col, name) in zip(axes.ravel(), cols, strict=True):
        y = fr[col].to_numpy(dtype=float)
        ax.plot(x, y, "-", color="#999999", lw=0.8)
        ax.plot(x[~infl], y[~infl], "o", color=_POINT, ms=4)
        ax.plot(x[infl], y[infl], "o", color=_HIGHLIGHT, ms=5)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xticks(x)
        ax.set_xticklabels([str(s) for s in fr.index], rotation=90, fontsize=7)
    fig.suptitle(title or "Influence diagnostics", fontsize=10)
    return fig


def permutation_plot(perm: PermutationResult, *, coef: int | str | None = None, bins: int = 60):
    """Histogram of the permutation distribution of one coefficient's test statistic."""
    names = list(perm.coef_names)
    if coef is None:
        j = 1 if perm.p > 1 else 0
    elif isinstance(coef, str):
        if coef not in names:
            raise InputError("no coefficient with this name", column="coef", value=coef)
        j = names.index(coef)
    else:
        j = int(coef)
        if not 0 <= j < perm.p:
            raise InputError("coefficient index out of range", column="coef", value=coef)
    stats_perm = np.asarray(perm.stat_perm)[:, j]
    stats_perm = stats_perm[np.isfinite(stats_perm)]
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.hist(stats_perm, bins=bins, color=_OTHER, alpha=0.7, density=True)
    obs = float(perm.stat[j])
    ax.axvline(obs, color=_HIGHLIGHT, lw=1.5, label=f"observed ({obs:.3f})")
    ax.axvline(-obs, color=_HIGHLIGHT, lw=1.0, ls="--")
    name = "z" if perm.test == "z" else "t"
    ax.set_xlabel(f"{name} value of {names[j]} under permutation")
    ax.set_ylabel("Density")
    kind = "exact" if perm.exact else "approximate"
    ax.set_title(
        f"Permutation test ({perm.iterations:,}, {kind}): p = {perm.pval_perm[j]:.4f}", fontsize=9
    )
    ax.legend(fontsize=8)
    return fig
