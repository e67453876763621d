"""Mantel-Haenszel and Peto pooling of 2x2 tables (metafor's ``rma.mh`` and ``rma.peto``).

Both are equal-effect methods that work on the counts directly, so they stay usable for sparse
binary outcomes (adverse events) where the inverse-variance method needs zero-cell
corrections. The per-study ``yi``/``vi`` (with metafor's zero-cell rule) are only used for the
heterogeneity statistics and the forest plot; the pooled estimate uses the raw counts.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta.effects import _apply_add, _Columns, _rows_text, _two_by_two, binary_effects
from sci_evidence.meta.results import PoolResult, _fmt_p, _json_safe
from sci_evidence.meta.validation import check_level

__all__ = ["pool_mh", "pool_peto", "MantelHaenszelResult"]

_MH_MEASURES = ("OR", "RR", "RD")


@dataclass(frozen=True, eq=False, repr=False)
class MantelHaenszelResult(PoolResult):
    """A :class:`PoolResult` of :func:`pool_mh` or :func:`pool_peto`, with the tests that
    only the stratified-table methods have.

    Extra attributes
    ----------------
    k_tables : int
        Number of tables in the pooled estimate (metafor's ``k``). ``k`` itself counts the
        studies with a usable ``yi`` (metafor's ``k.yi``: those enter Q, I² and the forest
        plot), so that ``k == len(yi)`` as for every PoolResult; the two differ when a table
        without events in both groups is dropped from ``yi`` (``drop00=True``) but still
        enters the estimate (it does for RD). ``weights`` are percent of the total MH (or
        Peto) weight of all tables, as metafor's ``weights()``: OR :math:`b_ic_i/N_i`, RR
        :math:`c_in_{1i}/N_i`, RD :math:`n_{1i}n_{2i}/N_i`, Peto :math:`V_i`; the studies
        shown may then sum to less than 100.
    cmh, cmh_pval : float or None
        Cochran-Mantel-Haenszel test of no association, Mantel-Haenszel form (hypergeometric
        variance n1·n2·m1·m2/(N²(N − 1)) per table), with continuity correction unless
        ``correct=False`` (OR only; R ``mantelhaen.test``, metafor ``rma.mh``).
    cochran, cochran_pval : float or None
        The same test in Cochran's (1954) form: binomial variance n1·n2·m1·m2/N³ per table and
        no continuity correction, ``(Σ(a_i − n1_i·m1_i/N_i))² / Σ n1_i·n2_i·m1_i·m2_i/N_i³``
        (OR only). It exceeds the MH form slightly; the two agree for large tables.
    breslow_day, breslow_day_pval : float or None
        Breslow-Day test of homogeneous odds ratios (OR only), df = tables with a defined
        expected count minus 1.
    tarone, tarone_pval : float or None
        Breslow-Day with Tarone's correction (OR only).
    """

    k_tables: int = 0
    cmh: float | None = None
    cmh_pval: float | None = None
    cochran: float | None = None
    cochran_pval: float | None = None
    breslow_day: float | None = None
    breslow_day_pval: float | None = None
    tarone: float | None = None
    tarone_pval: float | None = None
    bd_df: int | None = None

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(
            _json_safe(
                {
                    "k_tables": self.k_tables,
                    "cmh": self.cmh,
                    "cmh_pval": self.cmh_pval,
                    "cochran": self.cochran,
                    "cochran_pval": self.cochran_pval,
                    "breslow_day": self.breslow_day,
                    "breslow_day_pval": self.breslow_day_pval,
                    "tarone": self.tarone,
                    "tarone_pval": self.tarone_pval,
                    "bd_df": self.bd_df,
                }
            )
        )
        return out

    def summary(self, digits: int = 4) -> str:
        text = super().summary(digits)
        extra = []
        if self.k_tables != self.k:
            extra.append(
                f"Tables: {self.k_tables} in the pooled estimate, {self.k} with a usable yi "
                "(Q, I^2 and the plot use these)"
            )
        if self.cmh is not None:
            extra.append(
                f"Cochran-Mantel-Haenszel test: CMH = {self.cmh:.{digits}f}, df = 1, "
                f"p-val = {_p(self.cmh_pval, digits)}"
            )
        if self.cochran is not None:
            extra.append(
                f"Cochran's test (binomial variance, no correction): X^2 = "
                f"{self.cochran:.{digits}f}, df = 1, p-val = {_p(self.cochran_pval, digits)}"
            )
        if self.breslow_day is not None:
            extra.append(
                f"Breslow-Day test: X^2 = {self.breslow_day:.{digits}f}, df = {self.bd_df}, "
                f"p-val = {_p(self.breslow_day_pval, digits)}"
            )
            extra.append(
                f"Tarone's test: X^2 = {self.tarone:.{digits}f}, df = {self.bd_df}, "
                f"p-val = {_p(self.tarone_pval, digits)}"
            )
        return text + ("\n\n" + "\n".join(extra) if extra else "")


def _p(p: float | None, digits: int) -> str:
    return "NA" if p is None else _fmt_p(p, digits)


def _read_tables(
    ai: Any,
    bi: Any,
    ci: Any,
    di: Any,
    n1i: Any,
    n2i: Any,
    data: pd.DataFrame | None,
    labels: Any,
    first_row: int,
    who: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, Any]]:
    """Validated counts of the complete tables, their labels, and the raw column specs."""
    specs = {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i}
    specs = {k: v for k, v in specs.items() if v is not None}
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    cols = _Columns(data, specs, first_row)
    a, b, c, d = _two_by_two(cols, who)
    k_all = cols.k
    if labels is None:
        labs = [f"Study {i}" for i in range(1, k_all + 1)]
    else:
        if isinstance(labels, str) and data is not None:
            labels = data[labels]
        labs = [str(x) for x in labels]
        if len(labs) != k_all:
            raise InputError(
                f"labels has {len(labs)} entries but there are {k_all} studies", column="labels"
            )
    complete = ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
    if not complete.all():
        rows = [cols.row(i) for i in np.flatnonzero(~complete)]
        warnings.warn(
            f"{_rows_text(rows)}: tables with missing counts omitted from {who}",
            DataWarning,
            stacklevel=3,
        )
    if not complete.any():
        raise InputError(f"{who}: no complete 2x2 table to pool")
    keep = np.flatnonzero(complete)
    return (
        a[keep],
        b[keep],
        c[keep],
        d[keep],
        [labs[i] for i in keep],
        {"keep": keep, "specs": specs, "data": data, "first_row": first_row},
    )


def _study_effects(
    measure: str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    add: float,
    to: str,
    drop00: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-study yi/vi as escalc computes them (zero-cell rule, drop00); NaN where unusable."""
    a, b, c, d = (x.astype(float) for x in (a, b, c, d))
    double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    if measure != "PETO":
        yi, vi = binary_effects(measure, a, b, c, d, add=add, to=to)
    else:
        # Peto's per-study log odds ratio (O - E)/V with variance 1/V, after the zero-cell rule.
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        a, b, c, d = _apply_add([a, b, c, d], zero, add, to)
        n1, n2 = a + b, c + d
        n = n1 + n2
        with np.errstate(divide="ignore", invalid="ignore"):
            e = (a + c) * n1 / n
            v = (a + c) * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
            yi, vi = (a - e) / v, 1 / v
    bad = ~np.isfinite(yi) | ~np.isfinite(vi)
    if drop00:
        bad |= double_zero
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    return yi, vi


def _heterogeneity(
    q: float, k_yi: int, testable: bool = True
) -> tuple[float, int, float, float, float]:
    """Q, its df and p-value, I² (percent) and H² as metafor reports them for rma.mh/peto."""
    if k_yi > 1 and testable:
        df = k_yi - 1
        q = max(0.0, q)
        q_pval = float(special.chdtrc(df, q))
        i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
        h2 = q / df
        return q, df, q_pval, i2, h2
    return max(0.0, q) if testable else 0.0, max(k_yi - 1, 0), 1.0, 0.0, 1.0


def _build(
    *,
    cls_measure: str,
    model: str,
    estimate: float,
    se: float,
    level: float,
    yi: np.ndarray,
    vi: np.ndarray,
    labels: list[str],
    weights_all: np.ndarray,
    q: float,
    k: int,
    measure: str,
    extra: dict[str, Any],
) -> MantelHaenszelResult:
    ok = ~(np.isnan(yi) | np.isnan(vi))
    k_yi = int(ok.sum())
    q_val, q_df, q_pval, i2, h2 = _heterogeneity(q, k_yi, extra.pop("testable", True))
    crit = float(special.ndtri(0.5 + level / 2))
    z = estimate / se if se > 0 else math.nan
    pval = float(2 * special.ndtr(-abs(z))) if math.isfinite(z) else math.nan
    ci_lb, ci_ub = estimate - crit * se, estimate + crit * se
    total = float(np.sum(weights_all))
    w_pct = 100.0 * weights_all / total if total > 0 else np.full(len(weights_all), np.nan)
    arr = lambda x: np.array([x], dtype=float)  # noqa: E731
    return MantelHaenszelResult(
        k=k_yi,
        p=1,
        estimate=float(estimate),
        se=float(se),
        stat=float(z),
        pval=pval,
        ci_lb=float(ci_lb),
        ci_ub=float(ci_ub),
        # No prediction interval for equal-effect models (as pool(method="EE")).
        pi_lb=None,
        pi_ub=None,
        tau2=0.0,
        se_tau2=None,
        I2=float(i2),
        H2=float(h2),
        Q=float(q_val),
        Q_df=int(q_df),
        Q_pval=float(q_pval),
        method=model,
        test="z",
        level=float(level),
        converged=True,
        n_iter=0,
        yi=yi[ok],
        vi=vi[ok],
        X=np.ones((k_yi, 1)),
        coef_names=("intrcpt",),
        beta=arr(estimate),
        beta_se=arr(se),
        beta_stat=arr(z),
        beta_pval=arr(pval),
        beta_ci_lb=arr(ci_lb),
        beta_ci_ub=arr(ci_ub),
        vcov=np.array([[se**2]]),
        QM=None,
        QM_df=None,
        QM_pval=None,
        weights=w_pct[ok],
        labels=tuple(lab for lab, o in zip(labels, ok, strict=True) if o),
        measure=cls_measure,
        model=model,
        algorithm="",
        control={"measure": measure, **extra.pop("settings")},
        k_tables=k,
        **extra,
    )


def _check_common(level: float, to: str, add: float) -> float:
    level = check_level(level)
    if to not in ("only0", "all", "if0all", "none"):
        raise InputError("'to' must be one of only0, all, if0all, none", column="to", value=to)
    if not math.isfinite(add) or add < 0:
        raise InputError("'add' must be a non-negative number", column="add", value=add)
    return level


def pool_mh(
    ai: Any,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    *,
    n1i: Any = None,
    n2i: Any = None,
    measure: str = "OR",
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = True,
    correct: bool = True,
    level: float = 0.95,
    labels: Any = None,
    data: pd.DataFrame | None = None,
    first_row: int = 1,
) -> MantelHaenszelResult:
    r"""Mantel-Haenszel equal-effect pooling of 2x2 tables (metafor's ``rma.mh``).

    Parameters
    ----------
    ai, bi, ci, di : array_like or str
        Events and non-events in group 1 (``ai``, ``bi``) and group 2 (``ci``, ``di``).
        Instead of ``bi``/``di`` the group sizes ``n1i``/``n2i`` may be given. With
        ``data=``, column names.
    measure : {"OR", "RR", "RD"}, default "OR"
        Odds ratio and risk ratio are pooled on the log scale.
    add, to, drop00 : default 0.5, "only0", True
        Zero-cell rule for the per-study ``yi``/``vi`` (heterogeneity and plot only), as in
        :func:`~sci_evidence.meta.effects.effect_sizes`. The pooled estimate always uses the
        raw counts, and tables without events in both groups still enter it (as metafor's
        defaults ``add = c(1/2, 0)``, ``to = c("only0", "none")``, ``drop00 = c(TRUE,
        FALSE)``).
    correct : bool, default True
        Continuity correction of the Cochran-Mantel-Haenszel test (OR only).
    level : float, default 0.95
        Confidence level (95 is read as 95 %).
    labels : sequence of str or column name, optional
        Study labels (default "Study 1", "Study 2", ...).
    data : pandas.DataFrame, optional
        Frame the column names refer to.
    first_row : int, default 1
        Row number reported in errors for the first study.

    Returns
    -------
    MantelHaenszelResult
        A :class:`~sci_evidence.meta.results.PoolResult` with ``method = model = "MH"``,
        ``tau2 = 0``, percent MH weights, and (OR) the CMH, Breslow-Day and Tarone tests.

    Raises
    ------
    InputError
        Invalid counts (see :func:`effect_sizes`), or an estimate that does not exist: OR
        when :math:`\sum a_i d_i/N_i` or :math:`\sum b_i c_i/N_i` is 0, RR when one group has
        no events in any study.

    Notes
    -----
    With :math:`N_i = a_i+b_i+c_i+d_i`:

    * OR: :math:`\hat\psi = R/S`, :math:`R = \sum a_i d_i/N_i`, :math:`S = \sum b_i c_i/N_i`;
      the variance of :math:`\log\hat\psi` is Robins, Breslow & Greenland (1986):
      :math:`\tfrac12[\sum P_iR_i/R^2 + \sum(P_iS_i + Q_iR_i)/(RS) + \sum Q_iS_i/S^2]` with
      :math:`P_i = (a_i+d_i)/N_i`, :math:`Q_i = (b_i+c_i)/N_i`.
    * RR: :math:`R = \sum a_i n_{2i}/N_i`, :math:`S = \sum c_i n_{1i}/N_i`; variance of the log
      (Greenland & Robins 1985): :math:`\sum(n_{1i}n_{2i}(a_i+c_i)/N_i^2 - a_ic_i/N_i)/(RS)`.
    * RD: :math:`\sum(a_in_{2i} - c_in_{1i})/N_i \big/ \sum n_{1i}n_{2i}/N_i`, with the
      variance of Sato, Greenland & Robins (1989), as metafor (Stata's ``metan`` uses
      Greenland-Robins, hence slightly different z values).

    Q is the inverse-variance Q of the per-study ``yi`` around the MH estimate,
    :math:`I^2 = \max(0, 100(Q-(k-1))/Q)`, :math:`H^2 = Q/(k-1)`.

    References
    ----------
    Mantel N, Haenszel W (1959). J Natl Cancer Inst 22:719-48.
    https://doi.org/10.1093/jnci/22.4.719
    Robins J, Breslow N, Greenland S (1986). Biometrics 42:311-23.
    https://doi.org/10.2307/2531052
    Sato T, Greenland S, Robins JM (1989). Biometrics 45:1323-4.
    """
    measure = str(measure).strip().upper()
    if measure not in _MH_MEASURES:
        raise InputError(
            f"Mantel-Haenszel pooling supports {', '.join(_MH_MEASURES)}",
            column="measure",
            value=measure,
        )
    add = float(add)
    level = _check_common(level, to, add)
    a, b, c, d, labs, _ = _read_tables(
        ai, bi, ci, di, n1i, n2i, data, labels, first_row, "Mantel-Haenszel pooling"
    )
    n1, n2 = a + b, c + d
    n = n1 + n2
    if np.any(n <= 0):
        i = int(np.flatnonzero(n <= 0)[0])
        raise InputError(f"table {labs[i]} has no participants")
    yi, vi = _study_effects(measure, a, b, c, d, add, to, drop00)
    extra: dict[str, Any] = {}
    if measure == "OR":
        r_i, s_i = a * d / n, b * c / n
        big_r, big_s = r_i.sum(), s_i.sum()
        if big_r == 0 or big_s == 0:
            raise InputError(
                "the Mantel-Haenszel odds ratio does not exist for these tables "
                f"(sum of a*d/N = {big_r:g}, sum of b*c/N = {big_s:g}); "
                "use measure='RD' or pool_peto()"
            )
        p_i, q_i = (a + d) / n, (b + c) / n
        psi = big_r / big_s
        est = math.log(psi)
        var = 0.5 * (
            np.sum(p_i * r_i) / big_r**2
            + np.sum(p_i * s_i + q_i * r_i) / (big_r * big_s)
            + np.sum(q_i * s_i) / big_s**2
        )
        w = s_i
        extra.update(_cmh_and_breslow_day(a, c, n1, n2, n, psi, correct))
    elif measure == "RR":
        if a.sum() == 0 or c.sum() == 0:
            raise InputError(
                "the Mantel-Haenszel risk ratio does not exist: one group has no events in "
                "any study; use measure='RD'"
            )
        big_r, big_s = np.sum(a * n2 / n), np.sum(c * n1 / n)
        est = math.log(big_r / big_s)
        var = np.sum(n1 * n2 * (a + c) / n**2 - a * c / n) / (big_r * big_s)
        w = c * n1 / n
    else:
        denom = np.sum(n1 * n2 / n)
        est = float(np.sum(a * n2 / n - c * n1 / n) / denom)
        var = (
            est
            * np.sum(c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2)
            + np.sum(a * (n2 - c) / n + c * (n1 - a) / n) / 2
        ) / denom**2
        w = n1 * n2 / n
    ok = ~(np.isnan(yi) | np.isnan(vi))
    # metafor: Q = 0 unless at least two studies have a yi
    q = float(np.sum((yi[ok] - est) ** 2 / vi[ok])) if ok.sum() > 1 else 0.0
    extra["settings"] = {"add": add, "to": to, "drop00": bool(drop00), "correct": bool(correct)}
    return _build(
        cls_measure=measure,
        model="MH",
        estimate=est,
        se=math.sqrt(var),
        level=level,
        yi=yi,
        vi=vi,
        labels=labs,
        weights_all=w,
        q=q,
        k=len(a),
        measure=measure,
        extra=extra,
    )


def _cmh_and_breslow_day(
    a: np.ndarray,
    c: np.ndarray,
    n1: np.ndarray,
    n2: np.ndarray,
    n: np.ndarray,
    psi: float,
    correct: bool,
) -> dict[str, Any]:
    """Cochran-Mantel-Haenszel (MH and Cochran forms), Breslow-Day and Tarone statistics."""
    xt = a + c
    yt = n - xt
    out: dict[str, Any] = {}
    if xt.sum() > 0 and yt.sum() > 0:
        dev = abs(np.sum(a - n1 / n * xt)) - (0.5 if correct else 0.0)
        # Tables of one participant have no hypergeometric variance (N - 1 = 0): they add 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(n > 1, (n1 / n) * (n2 / n) * xt * yt / (n - 1), 0.0)
        cmh = dev**2 / np.sum(v)
        out["cmh"] = float(cmh)
        out["cmh_pval"] = float(special.chdtrc(1, cmh))
        # Cochran (1954): unconditional binomial variance, no continuity correction
        coch = np.sum(a - n1 / n * xt) ** 2 / np.sum(n1 * n2 * xt * yt / n**3)
        out["cochran"] = float(coch)
        out["cochran_pval"] = float(special.chdtrc(1, coch))
    # Expected a_i under the common odds ratio: the root in range of the quadratic.
    with np.errstate(divide="ignore", invalid="ignore"):
        if psi == 1:
            n11 = n1 * xt / n
        else:
            big_a = psi * (n1 + xt) + (n2 - xt)
            big_b = np.sqrt(big_a**2 - 4 * n1 * xt * psi * (psi - 1))
            n11 = (big_a - big_b) / (2 * (psi - 1))
    pos = (n11 > 0) & (xt > 0) & (yt > 0)
    k_pos = int(pos.sum())
    if k_pos == 0:
        return out
    e11 = n11[pos]
    e12 = n1[pos] - e11
    e21 = xt[pos] - e11
    e22 = e11 - n1[pos] - xt[pos] + n[pos]
    inv_var = 1 / e11 + 1 / e12 + 1 / e21 + 1 / e22
    diff = a[pos] - e11
    bd = max(0.0, float(np.sum(diff**2 * inv_var)))
    ta = max(0.0, bd - float(np.sum(diff) ** 2 / np.sum(1 / inv_var)))
    out["breslow_day"] = bd
    out["tarone"] = ta
    out["bd_df"] = k_pos - 1
    if k_pos > 1:
        out["breslow_day_pval"] = float(special.chdtrc(k_pos - 1, bd))
        out["tarone_pval"] = float(special.chdtrc(k_pos - 1, ta))
    return out


def pool_peto(
    ai: Any,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    *,
    n1i: Any = None,
    n2i: Any = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = True,
    level: float = 0.95,
    labels: Any = None,
    data: pd.DataFrame | None = None,
    first_row: int = 1,
) -> MantelHaenszelResult:
    r"""Peto's one-step log odds ratio (metafor's ``rma.peto``).

    Parameters are those of :func:`pool_mh` (without ``measure``, which is the Peto OR).

    Notes
    -----
    With :math:`E_i = (a_i+c_i)n_{1i}/N_i` and the hypergeometric variance
    :math:`V_i = (a_i+c_i)(b_i+d_i)n_{1i}n_{2i}/(N_i^2(N_i-1))`:
    :math:`\log\hat\psi = \sum(a_i - E_i)/\sum V_i`, :math:`SE = 1/\sqrt{\sum V_i}`, and
    :math:`Q = \sum (a_i-E_i)^2/V_i - (\sum(a_i - E_i))^2/\sum V_i` over tables with
    :math:`V_i > 0`; df = (studies with a usable ``yi``) - 1. Weights are :math:`V_i`.

    Raises
    ------
    InputError
        Invalid counts, or no table with both outcomes (:math:`\sum V_i = 0`).

    References
    ----------
    Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Prog Cardiovasc Dis 27:335-71.
    https://doi.org/10.1016/S0033-0620(85)80003-7
    """
    add = float(add)
    level = _check_common(level, to, add)
    a, b, c, d, labs, _ = _read_tables(
        ai, bi, ci, di, n1i, n2i, data, labels, first_row, "Peto pooling"
    )
    n1, n2 = a + b, c + d
    n = n1 + n2
    if np.any(n <= 1):
        i = int(np.flatnonzero(n <= 1)[0])
        raise InputError(f"table {labs[i]} has fewer than 2 participants")
    yi, vi = _study_effects("PETO", a, b, c, d, add, to, drop00)
    xt, yt = a + c, b + d
    e = xt * n1 / n
    v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
    sum_v = float(v.sum())
    if sum_v == 0:
        raise InputError(
            "one of the two outcomes never occurs in any table: Peto's method cannot be used"
        )
    est = float(np.sum(a - e) / sum_v)
    pos = v > 0
    q = float(np.sum((a[pos] - e[pos]) ** 2 / v[pos]) - np.sum(a - e) ** 2 / sum_v)
    extra: dict[str, Any] = {
        "settings": {"add": add, "to": to, "drop00": bool(drop00)},
        # metafor tests heterogeneity only when at least two tables carry information.
        "testable": bool(pos.sum() > 1),
    }
    return _build(
        cls_measure="PETO",
        model="PETO",
        estimate=est,
        se=1 / math.sqrt(sum_v),
        level=level,
        yi=yi,
        vi=vi,
        labels=labs,
        weights_all=v,
        q=q,
        k=len(a),
        measure="PETO",
        extra=extra,
    )
