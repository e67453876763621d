"""Cumulative meta-analysis (metafor 3.8-1's ``cumul``): the model refitted as studies are
added one at a time in a given order (by default publication year, when known).

The order is a stable sort of ``order`` (ties keep the input order, as R's ``order``); step
j holds the first j studies in that order. Each step uses the model's estimator, test,
level and settings; a step whose fit is impossible (e.g. a t test with one study) gives NaN.

References
----------
Lau J, Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of therapeutic
trials for myocardial infarction. N Engl J Med 327:248-254. doi:10.1056/NEJM199207233270406
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, SciEvidenceError
from .influence import _check, _frame_dict, _labels, refit_without
from .results import PoolResult

__all__ = ["CumulativeResult", "cumulative"]

_COLUMNS = (
    "k",
    "estimate",
    "se",
    "stat",
    "pval",
    "ci_lb",
    "ci_ub",
    "Q",
    "Q_pval",
    "tau2",
    "I2",
    "H2",
)


@dataclass(frozen=True)
class CumulativeResult:
    """Cumulative estimates; ``frame`` has one row per step, indexed by the study added."""

    frame: pd.DataFrame = field(repr=False)
    order: np.ndarray = field(repr=False)
    order_by: str
    method: str
    test: str
    level: float
    measure: str | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def to_dict(self) -> dict[str, Any]:
        return _frame_dict(self.frame) | {
            "order": [int(i) for i in self.order],
            "order_by": self.order_by,
            "method": self.method,
            "test": self.test,
            "level": self.level,
        }

    def summary(self) -> str:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            body = self.frame.to_string(float_format=lambda x: f"{x:.4f}")
        return f"Cumulative meta-analysis (ordered by {self.order_by}; row = study added)\n{body}"

    def plot(self, **kw: Any):
        """Cumulative forest plot: estimate and CI after each added study."""
        from .bias_plots import cumulative_plot

        return cumulative_plot(self, **kw)


def cumulative(
    res: PoolResult,
    order: Sequence[Any] | np.ndarray | None = None,
    *,
    decreasing: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CumulativeResult:
    """Cumulative meta-analysis in any order.

    Parameters
    ----------
    res : PoolResult
        A fitted model without moderators.
    order : array_like of length k, optional
        Sort key per study (e.g. publication year); studies are added in increasing order
        of it (stable for ties). Default: the order of the studies in ``res`` (in which a
        caller usually passed them sorted by year; the CLI passes the year when known).
    decreasing : bool, default False
        Add studies in decreasing order of ``order``.
    progress : callable(done, total), optional

    Returns
    -------
    CumulativeResult
        ``to_frame()`` columns ``k, estimate, se, stat, pval, ci_lb, ci_ub, Q, Q_pval, tau2,
        I2, H2``, index the label of the study added at each step.
    """
    _check(res, "cumulative")
    if np.asarray(res.X).shape[1] != 1:
        raise InputError("cumulative meta-analysis applies to models without moderators")
    k = res.k
    if order is None:
        idx = np.arange(k)
        order_by = "input order"
    else:
        key = np.asarray(order)
        if key.shape != (k,):
            raise InputError(
                f"order must give one value per study ({k}), got {key.size}", column="order"
            )
        if key.dtype.kind in "fc" and not np.all(np.isfinite(key)):
            bad = int(np.flatnonzero(~np.isfinite(key))[0])
            raise InputError(
                "order has a missing value", row=bad + 1, column="order", value=key[bad]
            )
        idx = np.argsort(key, kind="stable")
        if decreasing:
            # stable for ties in decreasing order too, as R's order(decreasing=TRUE)
            idx = np.lexsort((np.arange(k), -_rank_key(key)))
        order_by = getattr(order, "name", None) or "order"
    rows = []
    for j in range(1, k + 1):
        keep = np.zeros(k, dtype=bool)
        keep[idx[:j]] = True
        try:
            # fit the first j studies in the chosen order (the fit is order-invariant)
            f = refit_without(res, keep=keep)
            rows.append([j] + [getattr(f, c) for c in _COLUMNS[1:]])
        except SciEvidenceError:
            rows.append([j] + [np.nan] * (len(_COLUMNS) - 1))
        if progress is not None:
            progress(j, k)
    labels = _labels(res)
    frame = pd.DataFrame(
        rows, columns=list(_COLUMNS), index=pd.Index([labels[i] for i in idx], name="study_added")
    )
    frame = frame.astype({c: float for c in _COLUMNS[1:]})
    return CumulativeResult(
        frame=frame,
        order=idx,
        order_by=str(order_by),
        method=res.method,
        test=res.test,
        level=res.level,
        measure=res.measure,
    )


def _rank_key(key: np.ndarray) -> np.ndarray:
    """Numeric ranks of any sortable key (strings included)."""
    _, inv = np.unique(key, return_inverse=True)
    return inv.astype(float)
