r"""Trim-and-fill (Duval and Tweedie 2000), as metafor 3.8-1's ``trimfill``.

Algorithm (for a model without moderators):

1. The side on which studies are missing is estimated from the sign of the slope of the
   regression of :math:`y_i` on :math:`\sqrt{v_i}` (a meta-regression with the model's
   estimator): a negative slope means studies are missing on the right, otherwise on the
   left. The outcomes are then sign-flipped so that the missing side is always the left.
2. Sort by :math:`y_i`. Iterate: fit the model to the :math:`k - k_0` smallest outcomes,
   rank :math:`|y_i - \hat\mu|` over all k studies (ties by position), and estimate
   :math:`k_0`:

   * L0: :math:`k_0 = (4 S_r - k(k+1))/(2k-1)`, :math:`S_r` the sum of the ranks of the
     positive deviations;
   * R0: :math:`k_0 = k - r^* - 1`, :math:`r^*` the largest rank among negative deviations;

   rounded (half to even) and truncated at 0, until :math:`k_0` no longer changes.
3. Fill in the mirror images :math:`2\hat\mu - y_i` of the :math:`k_0` most extreme studies
   (the :math:`\hat\mu` of the trimmed data at convergence), copy their :math:`v_i`, and fit
   the model to the k + k0 studies.

The final fit keeps the model's estimator, test and level by default (metafor refits with its
default z test and 95% level; the two agree for z-test models, and ``test="z"`` reproduces
metafor for the others).

References
----------
Duval S, Tweedie R (2000). Trim and fill. Biometrics 56:455-463.
doi:10.1111/j.0006-341X.2000.00455.x
Duval S, Tweedie R (2000). JASA 95:89-98. doi:10.1080/01621459.2000.10473905
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..errors import ConvergenceError, InputError
from .models import fit_design
from .results import PoolResult, require_pool_result
from .validation import check_option

__all__ = ["TrimFillResult", "trim_and_fill"]

TRIMFILL_ESTIMATORS = ("L0", "R0")


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill result: the model refitted with the filled-in studies.

    Attributes
    ----------
    k0, se_k0 : int, float
        Estimated number of missing studies and its standard error.
    side : {"left", "right"}
        Side of the funnel on which studies were estimated to be missing.
    estimator : {"L0", "R0"}
    p_k0 : float or None
        R0 only: p-value of the test that no studies are missing.
    pooled : PoolResult
        The model fitted to the observed plus the filled studies (``estimate``, ``se``,
        ``ci_lb`` ... are shortcuts to it); the original model when ``k0 == 0``.
    filled_yi, filled_vi : ndarray
        The filled-in studies.
    filled_labels : tuple of str
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    pooled: Any = field(repr=False)
    filled_yi: np.ndarray = field(repr=False)
    filled_vi: np.ndarray = field(repr=False)
    filled_labels: tuple[str, ...] = ()
    original: Any = field(default=None, repr=False)
    n_iter: int = 0

    # shortcuts to the refitted model
    @property
    def estimate(self) -> float:
        return self.pooled.estimate

    @property
    def se(self) -> float:
        return self.pooled.se

    @property
    def ci_lb(self) -> float:
        return self.pooled.ci_lb

    @property
    def ci_ub(self) -> float:
        return self.pooled.ci_ub

    @property
    def pval(self) -> float:
        return self.pooled.pval

    @property
    def stat(self) -> float:
        return self.pooled.stat

    @property
    def tau2(self) -> float:
        return self.pooled.tau2

    @property
    def I2(self) -> float:
        return self.pooled.I2

    @property
    def Q(self) -> float:
        return self.pooled.Q

    @property
    def k(self) -> int:
        return self.pooled.k

    @property
    def filled(self) -> pd.DataFrame:
        """The filled-in studies: ``label, yi, vi``."""
        return pd.DataFrame(
            {"yi": self.filled_yi, "vi": self.filled_vi},
            index=pd.Index(list(self.filled_labels), name="study"),
        )

    def summary(self) -> str:
        p = self.pooled
        lines = [
            f"Trim-and-fill ({self.estimator}): estimated number of missing studies on the "
            f"{self.side} side: {self.k0} (SE = {self.se_k0:.4f})"
        ]
        if self.p_k0 is not None:
            lines.append(f"  test of H0 no missing studies: p = {self.p_k0:.4f}")
        lines.append(
            f"  adjusted estimate ({p.method}, k = {p.k}): {p.estimate:.4f} "
            f"(SE {p.se:.4f}, {100 * p.level:g}% CI {p.ci_lb:.4f} to {p.ci_ub:.4f}), "
            f"tau2 = {p.tau2:.4f}, I2 = {p.I2:.2f}%"
        )
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """All studies, observed and filled: ``yi, vi, filled``."""
        p = self.pooled
        labels = list(p.labels)
        return pd.DataFrame(
            {
                "yi": np.asarray(p.yi),
                "vi": np.asarray(p.vi),
                "filled": [False] * (p.k - self.k0) + [True] * self.k0,
            },
            index=pd.Index(labels, name="study"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "k0": int(self.k0),
            "se_k0": _jf(self.se_k0),
            "side": self.side,
            "estimator": self.estimator,
            "p_k0": _jf(self.p_k0),
            "estimate": _jf(self.estimate),
            "se": _jf(self.se),
            "ci_lb": _jf(self.ci_lb),
            "ci_ub": _jf(self.ci_ub),
            "pval": _jf(self.pval),
            "tau2": _jf(self.tau2),
            "I2": _jf(self.I2),
            "k": int(self.k),
            "filled_yi": [_jf(x) for x in self.filled_yi],
            "filled_vi": [_jf(x) for x in self.filled_vi],
            "filled_labels": list(self.filled_labels),
            "pooled": self.pooled.to_dict() if hasattr(self.pooled, "to_dict") else None,
        }

    def plot(self, **kw: Any):
        """Funnel plot with the filled studies drawn as open circles."""
        from .bias_plots import funnel_plot

        return funnel_plot(
            self.original if self.original is not None else self.pooled, filled=self, **kw
        )


def _jf(x: Any) -> Any:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _refit(res: PoolResult, yi: np.ndarray, vi: np.ndarray, **kw: Any) -> PoolResult:
    return fit_design(
        yi,
        vi,
        np.ones((yi.size, 1)),
        method=res.method,
        tau2=res.tau2 if res.tau2_fixed else None,
        control=res.control or None,
        **kw,
    )


def trim_and_fill(
    res: PoolResult,
    estimator: str = "L0",
    side: str | None = None,
    *,
    test: str | None = None,
    maxiter: int = 100,
) -> TrimFillResult:
    """Duval and Tweedie's trim-and-fill method (metafor ``trimfill``).

    Parameters
    ----------
    res : PoolResult
        A model without moderators (``yi``, ``vi``, ``method`` are used).
    estimator : {"L0", "R0"}, default "L0"
    side : {"left", "right"}, optional
        Side on which studies are missing; default estimated from the sign of the Egger
        slope (regression on the standard errors with the model's estimator).
    test : {"z", "knha", "adhoc", "t"}, optional
        Test of the final fit to the filled data. Default: the model's test (metafor always
        refits with its default z test; pass ``test="z"`` to reproduce it for Knapp-Hartung
        models).
    maxiter : int, default 100

    Returns
    -------
    TrimFillResult

    Raises
    ------
    InputError
        For models with moderators, k < 3, or an unknown estimator/side.
    ConvergenceError
        When k0 has not settled after ``maxiter`` iterations.
    """
    require_pool_result(res, "trim_and_fill")
    if np.asarray(res.X).shape[1] != 1:
        raise InputError("trim-and-fill only applies to models without moderators")
    require_pool_result(res, "trim-and-fill", inverse_variance=True)
    estimator = check_option("estimator", estimator, TRIMFILL_ESTIMATORS)
    yi0 = np.asarray(res.yi, dtype=float)
    vi0 = np.asarray(res.vi, dtype=float)
    k = yi0.size
    if k < 3:
        raise InputError("trim-and-fill needs at least 3 studies", value=k)
    if side is None and np.ptp(vi0) == 0:
        # metafor picks the side from the slope of yi on sqrt(vi), which equal variances
        # leave undefined (its rma drops the redundant column and the slope is NA)
        raise InputError(
            "trim-and-fill cannot choose the side from the data when every study has the "
            "same standard error; give side='left' or 'right'"
        )
    if side is None:
        slope_fit = fit_design(
            yi0,
            vi0,
            np.column_stack([np.ones(k), np.sqrt(vi0)]),
            method=res.method,
            tau2=res.tau2 if res.tau2_fixed else None,
            control=res.control or None,
        )
        side = "right" if slope_fit.beta[1] < 0 else "left"
    else:
        side = check_option("side", side, ("left", "right"))
    sign = -1.0 if side == "right" else 1.0
    yi = sign * yi0
    order = np.argsort(yi, kind="stable")
    yi, vi = yi[order], vi0[order]

    k0, k0_prev, n_iter = 0, -1, 0
    beta = math.nan
    se_k0 = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        n_iter += 1
        if n_iter > maxiter:
            raise ConvergenceError("trim-and-fill did not converge (k0 keeps changing)")
        beta = _refit(res, yi[: k - k0], vi[: k - k0]).estimate
        dev = yi - beta
        ranks = rankdata(np.abs(dev), method="ordinal")  # ties by position, as R "first"
        signed = np.sign(dev) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            k0_raw = k - (neg.max() if neg.size else 0.0) - 1.0
            se_raw = math.sqrt(2.0 * max(0.0, k0_raw) + 2.0)
        else:
            sr = float(signed[signed > 0].sum())
            k0_raw = (4.0 * sr - k * (k + 1)) / (2.0 * k - 1.0)
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0_raw**3
                + 27 * k0_raw**2
                + 17 * k0_raw
                - 18 * k * k0_raw**2
                - 18 * k * k0_raw
                + 6 * k**2 * k0_raw
            ) / 24.0
            se_raw = 4.0 * math.sqrt(var_sr) / (2.0 * k - 1.0) if var_sr >= 0 else math.nan
        k0 = int(max(0, round(k0_raw)))
        k0 = min(k0, k - 1)
        se_k0 = max(0.0, se_raw) if math.isfinite(se_raw) else math.nan

    labels0 = tuple(res.labels or [f"Study {i + 1}" for i in range(k)])
    if k0 > 0:
        # mirror the k0 most extreme studies around the trimmed estimate (original scale)
        mu = sign * beta
        extreme = order[k - k0 :]
        filled_yi = 2.0 * mu - yi0[extreme]
        filled_vi = vi0[extreme]
        filled_labels = tuple(f"Filled {i + 1}" for i in range(k0))
        pooled = _refit(
            res,
            np.concatenate([yi0, filled_yi]),
            np.concatenate([vi0, filled_vi]),
            test=res.test if test is None else test,
            level=res.level,
            labels=labels0 + filled_labels,
            measure=res.measure,
        )
    else:
        filled_yi = np.empty(0)
        filled_vi = np.empty(0)
        filled_labels = ()
        pooled = res
    p_k0 = None
    if estimator == "R0":
        m = np.arange(-1, k0)
        p_k0 = float(1.0 - np.sum([math.comb(int(j) + 1, int(j) + 1) * 0.5 ** (j + 2) for j in m]))
    return TrimFillResult(
        k0=k0,
        se_k0=se_k0,
        side=side,
        estimator=estimator,
        p_k0=p_k0,
        pooled=pooled,
        filled_yi=filled_yi,
        filled_vi=filled_vi,
        filled_labels=filled_labels,
        original=res,
        n_iter=n_iter,
    )
