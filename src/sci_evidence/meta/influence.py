r"""Leave-one-out analysis and case-deletion influence diagnostics (metafor 3.8-1's
``leave1out`` and ``influence.rma.uni``).

Each study i is left out in turn and the model refitted (same estimator, test, level and
settings; a fixed tau2 stays fixed). From the fit without study i (subscript (-i)), with
:math:`W = \mathrm{diag}(1/(v_j + \hat\tau^2))` of the full model and :math:`s^2_w` the
Knapp-Hartung factor (1 under z):

* externally studentized residual
  :math:`t_i = (y_i - x_i^\top b_{(-i)})/\sqrt{s^2_{w(-i)} (v_i + \tau^2_{(-i)}) +
  x_i^\top V_{(-i)} x_i}`;
* hat value :math:`h_i = [X (X^\top W X)^{-1} X^\top W]_{ii}`, weight :math:`100 w_i/\sum w_j`;
* DFFITS :math:`(x_i^\top b - x_i^\top b_{(-i)})/\sqrt{s^2_{w(-i)} h_i (\tau^2_{(-i)} + v_i)}`;
* Cook's distance :math:`(b - b_{(-i)})^\top V^{-1} (b - b_{(-i)})` (all p coefficients);
* covariance ratio :math:`\det V_{(-i)} / \det V`;
* DFBETAS :math:`(b - b_{(-i)})/\sqrt{s^2_{w(-i)}\,\mathrm{diag}((X^\top W_{(-i)} X)^{-1})}`
  with :math:`W_{(-i)}` built from :math:`\tau^2_{(-i)}` over all k studies;
* :math:`\tau^2_{(-i)}` and :math:`Q_{E(-i)}`.

A study is flagged influential (metafor's rule, after Viechtbauer and Cheung 2010) when
:math:`|\mathrm{DFFITS}| > 3\sqrt{p/(k-p)}`, or :math:`P(\chi^2_p \le D_i) > 0.5`, or
:math:`h_i > 3p/k`, or any :math:`|\mathrm{DFBETAS}| > 1`.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
Res Synth Methods 1:112-125. doi:10.1002/jrsm.11
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ..errors import InputError, SciEvidenceError
from .models import fit_design
from .results import PoolResult, require_pool_result

__all__ = [
    "BaujatResult",
    "InfluenceResult",
    "LeaveOneOutResult",
    "baujat",
    "influence",
    "influence_result",
    "leave_one_out",
    "leave_one_out_result",
]


_LOO_COLUMNS = (
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


def _check(res: PoolResult, what: str) -> None:
    require_pool_result(res, what, inverse_variance=True)
    if res.k < 2:
        raise InputError(f"{what} needs at least 2 studies", value=res.k)


def _labels(res: PoolResult) -> list[str]:
    return list(res.labels) if res.labels else [f"Study {i + 1}" for i in range(res.k)]


def refit_without(
    res: PoolResult, drop: np.ndarray | int | None = None, *, keep: np.ndarray | None = None
) -> PoolResult:
    """The model of ``res`` refitted to a subset of its studies (same settings)."""
    k = res.k
    if keep is None:
        keep = np.ones(k, dtype=bool)
        if drop is not None:
            keep[drop] = False
    X = np.asarray(res.X, dtype=float)[keep]
    # metafor switches to a z test when a single study is left (no t/F reference df)
    test = "z" if int(np.sum(keep)) == 1 else res.test
    return fit_design(
        np.asarray(res.yi)[keep],
        np.asarray(res.vi)[keep],
        X,
        method=res.method,
        test=test,
        level=res.level,
        coef_names=res.coef_names,
        tau2=res.tau2 if res.tau2_fixed else None,
        control=res.control or None,
    )


@dataclass(frozen=True)
class LeaveOneOutResult:
    """Leave-one-out estimates: one row per left-out study (``frame``)."""

    frame: pd.DataFrame = field(repr=False)
    method: str
    test: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def to_dict(self) -> dict[str, Any]:
        return _frame_dict(self.frame) | {
            "method": self.method,
            "test": self.test,
            "level": self.level,
        }

    def summary(self) -> str:
        return "Leave-one-out analysis (row = study left out)\n" + _format(self.frame)

    def plot(self, **kw: Any):
        """Forest-style plot of the leave-one-out estimates and intervals."""
        from .bias_plots import leave_one_out_plot

        return leave_one_out_plot(self, **kw)


def _frame_dict(frame: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {"study": [str(s) for s in frame.index]}
    for col in frame.columns:
        vals = frame[col].to_numpy()
        if vals.dtype == bool:
            out[col] = [bool(x) for x in vals]
        else:
            out[col] = [None if not np.isfinite(x) else float(x) for x in vals.astype(float)]
    return out


def _format(frame: pd.DataFrame) -> str:
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        return frame.to_string(float_format=lambda x: f"{x:.4f}")


def leave_one_out(
    res: PoolResult, *, progress: Callable[[int, int], None] | None = None
) -> LeaveOneOutResult:
    """Refit the model with each study left out in turn (metafor ``leave1out``).

    Parameters
    ----------
    res : PoolResult
        Fitted model without moderators.
    progress : callable(done, total), optional

    Returns
    -------
    LeaveOneOutResult
        ``to_frame()``: one row per study (index: the study left out) with ``estimate, se,
        stat, pval, ci_lb, ci_ub, Q, Q_pval, tau2, I2, H2`` of the model without it; ``stat``
        is z or t as the model's test. A refit that fails gives a row of NaN. Also
        ``summary()``, ``to_dict()``, ``plot()``, and the model's ``method``, ``test``,
        ``level``.
    """
    _check(res, "leave_one_out")
    if np.asarray(res.X).shape[1] != 1:
        raise InputError("leave_one_out applies to models without moderators")
    rows = []
    for i in range(res.k):
        try:
            f = refit_without(res, i)
            rows.append([getattr(f, c) for c in _LOO_COLUMNS])
        except SciEvidenceError:
            rows.append([np.nan] * len(_LOO_COLUMNS))
        if progress is not None:
            progress(i + 1, res.k)
    frame = pd.DataFrame(
        rows, columns=list(_LOO_COLUMNS), index=pd.Index(_labels(res), name="study")
    ).astype(float)
    return LeaveOneOutResult(frame=frame, method=res.method, test=res.test, level=res.level)


#: The former name of :func:`leave_one_out`, kept so that existing callers keep working.
leave_one_out_result = leave_one_out


@dataclass(frozen=True)
class InfluenceResult:
    """Case-deletion diagnostics (``frame``: one row per study) and DFBETAS."""

    frame: pd.DataFrame = field(repr=False)
    dfbetas: pd.DataFrame = field(repr=False)
    tau2: float
    Q: float
    k: int
    p: int

    @property
    def influential(self) -> list[str]:
        return [str(s) for s in self.frame.index[self.frame["influential"]]]

    def to_frame(self) -> pd.DataFrame:
        # by position: study labels may repeat (e.g. two trials by the same authors)
        out = self.frame.copy()
        for col in self.dfbetas.columns:
            out[f"dfbetas_{col}"] = self.dfbetas[col].to_numpy()
        return out

    def to_dict(self) -> dict[str, Any]:
        return _frame_dict(self.to_frame()) | {
            "tau2": self.tau2,
            "Q": self.Q,
            "k": self.k,
            "p": self.p,
        }

    def summary(self) -> str:
        flagged = ", ".join(self.influential) or "none"
        return (
            "Influence diagnostics (Viechtbauer & Cheung 2010)\n"
            + _format(self.frame)
            + f"\nInfluential studies: {flagged}"
        )

    def plot(self, **kw: Any):
        """Panels of the diagnostics against study, influential studies in red."""
        from .bias_plots import influence_plot

        return influence_plot(self, **kw)


def _influence_result(
    res: PoolResult, progress: Callable[[int, int], None] | None = None
) -> InfluenceResult:
    _check(res, "influence")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    k, p = X.shape
    beta = np.asarray(res.beta, dtype=float)
    vb = np.asarray(res.vcov, dtype=float)
    tau2 = float(res.tau2)
    w = 1.0 / (vi + tau2)
    XtWX_inv = np.linalg.inv((X.T * w) @ X)
    hat = np.einsum("ij,jk,ik->i", X, XtWX_inv, X) * w
    hat = np.where(hat > 1 - 10 * np.finfo(float).eps, 1.0, hat)
    weight = 100.0 * w / w.sum()
    pred_full = X @ beta
    svb = np.linalg.inv(vb)

    cols = {
        n: np.full(k, np.nan)
        for n in ("rstudent", "dffits", "cooks_distance", "cov_ratio", "tau2_deleted", "Q_deleted")
    }
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        try:
            f = refit_without(res, i)
        except (SciEvidenceError, np.linalg.LinAlgError):
            continue
        b_i = np.asarray(f.beta, dtype=float)
        vb_i = np.asarray(f.vcov, dtype=float)
        t2_i = float(f.tau2)
        s2w_i = float(getattr(f, "s2w", 1.0))
        xi = X[i]
        delpred = float(xi @ b_i)
        vdelpred = float(xi @ vb_i @ xi)
        resid = yi[i] - delpred
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        cols["rstudent"][i] = resid / np.sqrt(vi[i] * s2w_i + vdelpred + t2_i * s2w_i)
        cols["dffits"][i] = (pred_full[i] - delpred) / np.sqrt(s2w_i * hat[i] * (t2_i + vi[i]))
        vb_del = np.linalg.inv((X.T / (vi + t2_i)) @ X)
        dfb = beta - b_i
        dfbs[i] = dfb / np.sqrt(s2w_i * np.diag(vb_del))
        cols["cooks_distance"][i] = float(dfb @ svb @ dfb)
        cols["cov_ratio"][i] = float(np.linalg.det(vb_i) / np.linalg.det(vb))
        cols["tau2_deleted"][i] = t2_i
        cols["Q_deleted"][i] = float(f.Q)
        if progress is not None:
            progress(i + 1, k)
    labels = _labels(res)
    frame = pd.DataFrame(cols, index=pd.Index(labels, name="study"))
    frame["hat"] = hat
    frame["weight"] = weight
    with np.errstate(invalid="ignore"):
        infl = (
            (np.abs(frame["dffits"].to_numpy()) > 3.0 * np.sqrt(p / (k - p)) if k > p else False)
            | (chi2.cdf(frame["cooks_distance"].to_numpy(), df=p) > 0.5)
            | (hat > 3.0 * p / k)
            | np.any(np.abs(dfbs) > 1.0, axis=1)
        )
    frame["influential"] = np.asarray(infl, dtype=bool) & ~np.isnan(frame["dffits"].to_numpy())
    names = list(res.coef_names or [f"b{j}" for j in range(p)])
    dfbetas = pd.DataFrame(dfbs, columns=names, index=frame.index)
    return InfluenceResult(frame=frame, dfbetas=dfbetas, tau2=tau2, Q=float(res.Q), k=k, p=p)


def influence(
    res: PoolResult, *, progress: Callable[[int, int], None] | None = None
) -> InfluenceResult:
    """Case-deletion influence diagnostics, as metafor's ``influence(rma.uni)``.

    Parameters
    ----------
    res : PoolResult
        Fitted model (moderators allowed).
    progress : callable(done, total), optional

    Returns
    -------
    InfluenceResult
        ``to_frame()``: one row per study with ``rstudent, dffits, cooks_distance,
        cov_ratio, tau2_deleted, Q_deleted, hat, weight`` (percent), ``influential`` (bool,
        metafor's rule; see the module docstring) and ``dfbetas_<coefficient>``; also
        ``influential`` (the flagged studies), ``summary()``, ``to_dict()``, ``plot()``.
    """
    return _influence_result(res, progress)


#: The former name of :func:`influence`, kept so that existing callers keep working.
influence_result = influence


@dataclass(frozen=True)
class BaujatResult:
    """Coordinates of the Baujat plot (``frame``: one row per study, columns ``x``, ``y``)
    and what the axes mean for this model."""

    frame: pd.DataFrame = field(repr=False)
    equal_effects: bool
    intercept_only: bool

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def to_dict(self) -> dict[str, Any]:
        return _frame_dict(self.frame) | {
            "equal_effects": self.equal_effects,
            "intercept_only": self.intercept_only,
        }

    def summary(self) -> str:
        return (
            "Baujat: contribution to heterogeneity (x) and influence on the result (y)\n"
            + _format(self.frame)
        )

    def plot(self, **kw: Any):
        """The Baujat plot; see :func:`sci_evidence.meta.bias_plots.baujat_plot`."""
        from .bias_plots import baujat_plot

        return baujat_plot(self, **kw)


def baujat(res: PoolResult) -> BaujatResult:
    r"""Coordinates of the Baujat plot (metafor ``baujat``), one row per study
    (:class:`BaujatResult`; ``plot()`` draws it).

    ``x``: the study's contribution to the (residual) heterogeneity, the squared Pearson
    residual :math:`(y_i - x_i^\top b)^2/(\tau^2 + v_i)` (for EE models its share of Q).
    ``y``: its influence on the fitted value,
    :math:`(x_i^\top b_{(-i)} - x_i^\top b)^2 / x_i^\top V_{(-i)} x_i`, with the model refitted
    without study i.

    References
    ----------
    Baujat B, Mahe C, Pignon J-P, Hill C (2002). A graphical method for exploring
    heterogeneity in meta-analyses. Stat Med 21:2641-2652. doi:10.1002/sim.1221
    """
    _check(res, "baujat")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    pred = X @ np.asarray(res.beta, dtype=float)
    x = (yi - pred) ** 2 / (float(res.tau2) + vi)
    y = np.full(res.k, np.nan)
    for i in range(res.k):
        try:
            f = refit_without(res, i)
        except (SciEvidenceError, np.linalg.LinAlgError):
            continue
        xi = X[i]
        y[i] = (float(xi @ f.beta) - pred[i]) ** 2 / float(xi @ f.vcov @ xi)
    return BaujatResult(
        frame=pd.DataFrame({"x": x, "y": y}, index=pd.Index(_labels(res), name="study")),
        equal_effects=res.method == "EE",
        intercept_only=X.shape[1] == 1,
    )
