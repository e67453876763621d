"""How much a pooled mean change depends on the assumed pre-post correlation.

Most trials report ASIA motor and sensory scores before and after treatment, but not the
correlation between the two time points, which the variance of a mean change needs
(measures MC, SMCC, SMCR). The usual fix is to assume a value; :func:`correlation_sensitivity`
shows what that assumption does to the pooled result by rerunning the analysis over a range
of assumed correlations.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta.effects import _CHANGE, effect_sizes

__all__ = ["correlation_sensitivity", "plot_correlation_sensitivity"]

_COLUMNS = [
    "ri",
    "k",
    "n_assumed",
    "estimate",
    "se",
    "ci_lb",
    "ci_ub",
    "pval",
    "pi_lb",
    "pi_ub",
    "tau2",
    "I2",
]


def correlation_sensitivity(
    measure: str,
    *,
    ri_values: Iterable[float] = (0.2, 0.5, 0.8),
    pool_kwargs: dict[str, Any] | None = None,
    data: pd.DataFrame | None = None,
    **columns: Any,
) -> pd.DataFrame:
    """Rerun effect sizes and pooling for each assumed pre-post correlation.

    Parameters
    ----------
    measure : {"MC", "SMCC", "SMCR"}
        A mean-change measure (the only ones whose variance depends on ``ri``).
    ri_values : iterable of float, default (0.2, 0.5, 0.8)
        Assumed correlations, each in [-1, 1].
    pool_kwargs : dict, optional
        Passed to :func:`sci_evidence.meta.models.pool` (e.g. ``{"method": "REML", "test":
        "knha"}``); its defaults otherwise (REML, z test, level 0.95).
    data : pandas.DataFrame, optional
        Frame the column names refer to (as in :func:`effect_sizes`).
    **columns
        The columns of :func:`effect_sizes` for ``measure`` (``m1i m2i sd1i sd2i ni``).
        If an ``ri`` column is given, the studies that report a correlation keep it and
        only the missing ones take each assumed value (column ``n_assumed`` counts them).

    Returns
    -------
    pandas.DataFrame
        One row per assumed ``ri``: ``ri, k, n_assumed, estimate, se, ci_lb, ci_ub, pval,
        pi_lb, pi_ub, tau2, I2`` (I² in percent). ``attrs`` holds ``measure`` and the
        ``pool`` settings used.

    Raises
    ------
    InputError
        Not a mean-change measure, no ``ri_values``, or a value outside [-1, 1]; plus
        every error of :func:`effect_sizes` and ``pool``.

    Examples
    --------
    >>> sens = correlation_sensitivity(
    ...     "MC", ri_values=[0.3, 0.7], m1i=[40, 52, 30], m2i=[24, 38, 23],
    ...     sd1i=[22, 14, 20], sd2i=[18, 13, 17], ni=[26, 38, 35],
    ...     pool_kwargs={"method": "DL"})
    >>> sens[["ri", "k"]].values.tolist()
    [[0.3, 3.0], [0.7, 3.0]]
    """
    # pool lives in the models module of the same package; imported here so that the effect
    # size module never depends on the model code.
    from sci_evidence.meta.models import pool

    code = str(measure).strip().upper()
    if code not in _CHANGE:
        raise InputError(
            f"the correlation only matters for {', '.join(_CHANGE)}",
            column="measure",
            value=measure,
        )
    values = [float(r) for r in ri_values]
    if not values:
        raise InputError("ri_values is empty: give at least one assumed correlation")
    for r in values:
        if not (math.isfinite(r) and -1 <= r <= 1):
            raise InputError("a correlation must lie in [-1, 1]", column="ri_values", value=r)
    kwargs = dict(pool_kwargs or {})
    for reserved in ("yi", "vi", "sei", "measure"):
        if reserved in kwargs:
            raise InputError(
                f"pool_kwargs must not set '{reserved}' (it comes from the effect sizes)",
                column="pool_kwargs",
            )
    reported = columns.pop("ri", None)
    rows = []
    for r in values:
        with warnings.catch_warnings():
            # The assumption is this function's subject, so it is reported in the table,
            # not as a warning per value; missing-data warnings still go through.
            warnings.filterwarnings("ignore", message="assumed correlation", category=DataWarning)
            if reported is None:
                es = effect_sizes(code, data, ri=r, **columns)
            else:
                es = effect_sizes(code, data, ri=reported, ri_default=r, **columns)
            usable = es["yi"].notna() & es["vi"].notna()
            res = pool(
                es["yi"].to_numpy()[usable.to_numpy()],
                es["vi"].to_numpy()[usable.to_numpy()],
                measure=code,
                **kwargs,
            )
        rows.append(
            {
                "ri": r,
                "k": res.k,
                "n_assumed": int(np.sum(es["ri_assumed"].to_numpy()[usable.to_numpy()])),
                "estimate": res.estimate,
                "se": res.se,
                "ci_lb": res.ci_lb,
                "ci_ub": res.ci_ub,
                "pval": res.pval,
                "pi_lb": np.nan if res.pi_lb is None else res.pi_lb,
                "pi_ub": np.nan if res.pi_ub is None else res.pi_ub,
                "tau2": res.tau2,
                "I2": res.I2,
            }
        )
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out.attrs["measure"] = code
    out.attrs["pool_kwargs"] = kwargs
    return out


def plot_correlation_sensitivity(
    table: pd.DataFrame,
    *,
    ax: Any = None,
    ylabel: str | None = None,
    show_pi: bool = True,
):
    """Pooled estimate with its confidence (and prediction) interval against the assumed ri.

    Parameters
    ----------
    table : pandas.DataFrame
        The result of :func:`correlation_sensitivity`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    ylabel : str, optional
        Default: the measure's label (e.g. "Mean change").
    show_pi : bool, default True
        Draw the prediction interval as a lighter band where it exists.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from sci_evidence.meta.transforms import measure_scale

    missing = [c for c in ("ri", "estimate", "ci_lb", "ci_ub") if c not in table.columns]
    if missing:
        raise InputError(
            f"not a correlation_sensitivity() table: missing {', '.join(missing)}",
            column=missing[0],
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    else:
        fig = ax.figure
    r = table["ri"].to_numpy(float)
    if show_pi and "pi_lb" in table and table["pi_lb"].notna().any():
        ax.fill_between(r, table["pi_lb"], table["pi_ub"], color="0.9", label="prediction interval")
    ax.fill_between(r, table["ci_lb"], table["ci_ub"], color="0.7", label="confidence interval")
    ax.plot(r, table["estimate"], "o-", color="black", label="pooled estimate")
    ax.axhline(0, color="0.4", lw=0.8, ls=":")
    code = table.attrs.get("measure")
    ax.set_xlabel("assumed pre-post correlation ri")
    ax.set_ylabel(ylabel or (measure_scale(code).label if code else "estimate"))
    ax.legend(frameon=False, fontsize="small")
    return fig
