"""Effect sizes and their sampling variances, as metafor's ``escalc`` computes them.

One front door, :func:`effect_sizes`, turns study-level summary data into ``yi`` (the effect
size on its analysis scale, e.g. a log risk ratio) and ``vi`` (its sampling **variance**).
Arguments carry metafor's names (``ai bi ci di n1i n2i m1i m2i sd1i sd2i ni xi mi sdi ti ri``)
so that an R user recognises them; ``sei`` is a standard error, ``vi`` a variance.

Measures
--------
=========  =====================================================  ============================
measure    what ``yi`` is                                         columns
=========  =====================================================  ============================
RR         log risk ratio                                         ai, bi|n1i, ci, di|n2i
OR         log odds ratio                                         ai, bi|n1i, ci, di|n2i
RD         risk difference                                        ai, bi|n1i, ci, di|n2i
AS         arcsine square-root risk difference                    ai, bi|n1i, ci, di|n2i
PETO       log odds ratio, Peto's one-step estimate               ai, bi|n1i, ci, di|n2i
MD         raw mean difference m1 - m2                            m1i m2i sd1i sd2i n1i n2i
SMD        Hedges' g (exact small-sample correction)              m1i m2i sd1i sd2i n1i n2i
ROM        log ratio of means (bias-corrected by default)         m1i m2i sd1i sd2i n1i n2i
MC         raw mean change m1 - m2 (one group, two time points)   m1i m2i sd1i sd2i ni ri
SMCC       standardised mean change, change-score SD              m1i m2i sd1i sd2i ni ri
SMCR       standardised mean change, raw-score SD (sd1i)          m1i m2i sd1i ni ri
PR         raw proportion                                         xi ni
PLN        log proportion                                         xi ni
PLO        logit proportion                                       xi ni
PAS        arcsine square-root proportion                         xi ni
PFT        Freeman-Tukey double arcsine proportion                xi ni
IR         incidence rate (events per person-time)                xi ti
IRLN       log incidence rate                                     xi ti
IRS        square-root incidence rate                             xi ti
IRFT       Freeman-Tukey incidence rate                           xi ti
IRR        log incidence rate ratio (two groups)                  x1i t1i x2i t2i
IRD        incidence rate difference (two groups)                 x1i t1i x2i t2i
MN         raw mean of one group                                  mi sdi ni
GEN        a precomputed estimate                                 yi with vi, sei or ci_lb+ci_ub
=========  =====================================================  ============================

Any measure also accepts a precomputed ``yi`` (with ``vi``, ``sei`` or ``ci_lb``/``ci_ub``),
taken to be on that measure's analysis scale (log scale for ratios unless
``ratio_scale=True``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta.transforms import log_scale_measures
from sci_evidence.meta.validation import check_level

__all__ = ["effect_sizes", "MEASURES", "hedges_correction"]

_TWO_GROUP_BINARY = ("RR", "OR", "RD", "AS", "PETO")
_TWO_GROUP_CONTINUOUS = ("MD", "SMD", "ROM")
_CHANGE = ("MC", "SMCC", "SMCR")
_PROPORTION = ("PR", "PLN", "PLO", "PAS", "PFT")
_RATE = ("IR", "IRLN", "IRS", "IRFT")
_TWO_GROUP_RATE = ("IRR", "IRD")
_ONE_MEAN = ("MN",)
_GENERIC = ("GEN",)

#: Every measure :func:`effect_sizes` knows, in the order of the module table.
MEASURES: tuple[str, ...] = (
    _TWO_GROUP_BINARY
    + _TWO_GROUP_CONTINUOUS
    + _CHANGE
    + _PROPORTION
    + _RATE
    + _TWO_GROUP_RATE
    + _ONE_MEAN
    + _GENERIC
)

# Measures whose analysis scale is a logarithm: precomputed ratios may be given unlogged.
_LOG_MEASURES = log_scale_measures()  # the measure table's ratios (meta/transforms.py)

# metafor's escalc defaults to add=0 for the variance-stabilising transformations.
_ADD_ZERO_BY_DEFAULT = ("AS", "PAS", "PFT", "IRS", "IRFT")

_TO_OPTIONS = ("only0", "all", "if0all", "none")

# vtype options per measure; the first is the default ("LS" everywhere, as metafor).
_VTYPES: dict[str, tuple[str, ...]] = {
    "RD": ("LS", "UB", "AV"),
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "UB", "LS2", "AV"),
    "ROM": ("LS", "HO"),
    "SMCC": ("LS", "LS2"),
    "SMCR": ("LS", "LS2"),
    "PR": ("LS", "UB", "AV"),
    "PLN": ("LS", "AV"),
    "PLO": ("LS", "AV"),
}

_KNOWN_COLUMNS = (
    "ai",
    "bi",
    "ci",
    "di",
    "n1i",
    "n2i",
    "m1i",
    "m2i",
    "sd1i",
    "sd2i",
    "ni",
    "xi",
    "mi",
    "sdi",
    "ti",
    "x1i",
    "t1i",
    "x2i",
    "t2i",
    "yi",
    "vi",
    "sei",
    "ci_lb",
    "ci_ub",
)

_MISSING_STRINGS = frozenset({"", "na", "nan", "n/a", "none", "null", "."})


def hedges_correction(m: np.ndarray) -> np.ndarray:
    r"""Exact small-sample correction factor of Hedges' g.

    .. math:: J(m) = \frac{\Gamma(m/2)}{\sqrt{m/2}\,\Gamma((m-1)/2)}

    computed as :math:`(a)_{1/2}/\sqrt{m/2}` with the Pochhammer symbol
    :math:`(a)_{1/2} = \Gamma(a + 1/2)/\Gamma(a)`, :math:`a = (m-1)/2`, which neither overflows
    nor loses digits to cancellation for large ``m`` (a difference of ``gammaln`` values, as
    metafor's ``.cmicalc`` computes it, is off by 3e-10 at m = 1e6). ``NaN`` for ``m <= 1``.
    ``m`` is the degrees of freedom (``n1 + n2 - 2`` for two groups, ``n - 1`` for one group).
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        j = special.poch((m - 1) / 2, 0.5) / np.sqrt(m / 2)
    return np.where(m > 1, j, np.nan)


class _Columns:
    """Fetch, convert and validate the input columns; remember how to name each in errors."""

    def __init__(
        self, data: pd.DataFrame | None, columns: Mapping[str, Any], first_row: int
    ) -> None:
        self.first_row = first_row
        self.arrays: dict[str, np.ndarray] = {}
        self.labels: dict[str, str] = {}
        k: int | None = None if data is None else len(data)
        for name, spec in columns.items():
            if spec is None:
                continue
            label = name
            if isinstance(spec, str):
                if data is None:
                    raise InputError(
                        f"'{name}' names a column ('{spec}') but no data= frame was given",
                        column=name,
                        value=spec,
                    )
                if spec not in data.columns:
                    raise InputError(
                        f"column '{spec}' (for '{name}') not found; "
                        f"available: {', '.join(map(str, data.columns))}",
                        column=spec,
                    )
                values = data[spec].to_numpy()
                label = spec
            elif np.ndim(spec) == 0:
                raise InputError(
                    f"'{name}' must be a column (a sequence or a column name), not a single value",
                    column=name,
                    value=spec,
                )
            else:
                values = spec.to_numpy() if isinstance(spec, pd.Series) else np.asarray(spec)
            if values.ndim != 1:
                raise InputError(f"'{name}' must be one-dimensional", column=label)
            if k is None:
                k = len(values)
            elif len(values) != k:
                raise InputError(
                    f"'{name}' has {len(values)} values but the other columns have {k}",
                    column=label,
                )
            self.labels[name] = label
            self.arrays[name] = self._to_float(values, label)
        self.k = 0 if k is None else k

    def _to_float(self, values: np.ndarray, label: str) -> np.ndarray:
        if values.dtype.kind in "fiub":
            return values.astype(float)
        out = np.empty(len(values), dtype=float)
        for i, v in enumerate(values):
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                out[i] = np.nan
                continue
            if isinstance(v, str) and v.strip().lower() in _MISSING_STRINGS:
                out[i] = np.nan
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise InputError("not a number", row=self.row(i), column=label, value=v) from None
        return out

    def row(self, i: int) -> int:
        return self.first_row + int(i)

    def has(self, name: str) -> bool:
        return name in self.arrays

    def get(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def require(self, measure: str, *names: str) -> None:
        missing = [n for n in names if n not in self.arrays]
        if missing:
            raise InputError(
                f"measure {measure} needs {', '.join(names)}; missing: {', '.join(missing)}",
                column=missing[0],
            )

    def check(self, name: str, bad: np.ndarray, reason: str) -> None:
        """Raise for the first row where ``bad`` holds (NaN rows never count as bad)."""
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = self.raw_value(name, i)
            raise InputError(reason, row=self.row(i), column=self.labels[name], value=value)

    def raw_value(self, name: str, i: int) -> Any:
        v = self.arrays[name][i]
        return int(v) if float(v).is_integer() else float(v)


def _rows_text(rows: Sequence[int]) -> str:
    """``"row 3"`` or ``"rows 3, 5"`` (the first 20, then a count)."""
    shown = ", ".join(str(r) for r in rows[:20])
    more = f" and {len(rows) - 20} more" if len(rows) > 20 else ""
    return f"{'row' if len(rows) == 1 else 'rows'} {shown}{more}"


def effect_sizes(
    measure: str,
    data: pd.DataFrame | None = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    ri: Any = None,
    ri_default: float | None = None,
    bias_correct: bool = True,
    vtype: str = "LS",
    level: float = 0.95,
    ratio_scale: bool = False,
    first_row: int = 1,
    **columns: Any,
) -> pd.DataFrame:
    r"""Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor's ``escalc``).

    Parameters
    ----------
    measure : str
        One of :data:`MEASURES` (see the module docstring), case-insensitive.
    data : pandas.DataFrame, optional
        When given, column arguments may be column names (strings) of ``data``, and the
        result is a copy of ``data`` with ``yi`` and ``vi`` appended (as ``escalc(...,
        data=)``). Without it, column arguments are sequences and the result holds them.
    add : float, optional
        Value added to cells for zero-cell studies. Default ``None`` means metafor's
        default: 0.5, except 0 for ``AS``, ``PAS``, ``PFT``, ``IRS`` and ``IRFT``.
    to : {"only0", "all", "if0all", "none"}, default "only0"
        Where ``add`` goes: to every cell of the tables (2x2; or xi and ni - xi; or xi for
        rates) that have a zero cell (``"only0"``); to all tables (``"all"``); to all tables
        if any has a zero cell (``"if0all"``); nowhere (``"none"``).
    drop00 : bool, default False
        2x2 measures: set ``yi``/``vi`` to NaN for studies with no events (or no non-events)
        in both groups, so that the caller drops them.
    ri : float or column, optional
        Correlation between the two time points (MC, SMCC, SMCR). A single number is an
        **assumption** applied to every study; it is written to a column ``ri``, flagged in
        a column ``ri_assumed`` and described in ``result.attrs["assumptions"]``.
    ri_default : float, optional
        Assumed correlation for the studies whose ``ri`` column is missing (same
        bookkeeping as a scalar ``ri``).
    bias_correct : bool, default True
        ROM: apply the small-sample bias correction of Lajeunesse (2015, eq. 8), as metafor
        >= 5 does by default: :math:`y = \log(m_1/m_2) + s_1^2/(2n_1m_1^2) - s_2^2/(2n_2m_2^2)`.
        ``False`` gives the classic :math:`\log(m_1/m_2)` (metafor < 5). ``vi`` is the same
        large-sample variance either way, as in metafor 5 (its printed REML fit of
        dat.normand1999, Q = 149.1398, is reproduced only with it).
    vtype : str, default "LS"
        Variance estimator, as metafor's ``vtype``: "LS" (large sample) everywhere; also
        "UB" (RD, MD, SMD, PR), "AV" (RD, SMD, PR, PLN, PLO), "HO" (MD, ROM: pooled SD),
        "LS2" (SMD, SMCC, SMCR).
    level : float, default 0.95
        Confidence level (95 is read as 95 %) of ``ci_lb``/``ci_ub`` when a precomputed
        estimate is given by its confidence interval:
        :math:`v = ((ub - lb) / (2 z_{(1+level)/2}))^2`.
    ratio_scale : bool, default False
        Precomputed ratios (RR, OR, ROM, HR, ...): ``yi``, ``ci_lb``, ``ci_ub`` are given as
        ratios and are log-transformed. ``sei`` is always on the log scale.
    first_row : int, default 1
        Row number reported in errors for the first study (2 for a CSV with a header line).
    **columns
        The data columns, named as metafor names them: ``ai bi ci di n1i n2i m1i m2i sd1i
        sd2i ni xi mi sdi ti x1i t1i x2i t2i`` and, for precomputed estimates, ``yi`` with ``vi`` (a
        variance) or ``sei`` (a standard error) or ``ci_lb`` and ``ci_ub``.

    Returns
    -------
    pandas.DataFrame
        The columns given (or ``data``) plus ``yi`` and ``vi``. ``attrs`` holds
        ``measure``, ``settings`` (add, to, drop00, vtype, bias_correct), ``assumptions``
        (list of str) and, for proportions and rates, ``ni`` (the unadjusted sample sizes,
        used by the PFT back-transformation).

    Raises
    ------
    InputError
        Unknown measure or option, a missing column, a non-numeric value, a negative count,
        events above the group size, a negative SD, variance or standard error, a correlation
        outside [-1, 1], or a non-positive group size, person-time or (ROM) mean. The message
        names the row (``first_row``-based), the column and the value.

    Warns
    -----
    DataWarning
        Rows with missing inputs, rows dropped by ``drop00`` and rows whose effect size cannot
        be computed get ``yi = vi = NaN``; the warning names them. An assumed correlation is
        also announced.

    Notes
    -----
    Formulas (``p1 = ai/n1i``, ``p2 = ci/n2i`` after the zero-cell addition):

    * RR: :math:`y = \log p_1 - \log p_2`, :math:`v = 1/a - 1/n_1 + 1/c - 1/n_2`.
    * OR: :math:`y = \log(ad/bc)`, :math:`v = 1/a + 1/b + 1/c + 1/d`.
    * RD: :math:`y = p_1 - p_2`, :math:`v = p_1(1-p_1)/n_1 + p_2(1-p_2)/n_2`.
    * MD: :math:`v = s_1^2/n_1 + s_2^2/n_2`.
    * SMD: :math:`g = J(n_1+n_2-2)\,(m_1-m_2)/s_p`, :math:`v = 1/n_1 + 1/n_2 + g^2/(2(n_1+n_2))`.
    * MC: :math:`y = m_1 - m_2`, :math:`v = (s_1^2 + s_2^2 - 2 r s_1 s_2)/n`.
    * SMCC: :math:`y = J(n-1)(m_1-m_2)/s_d` with
      :math:`s_d = \sqrt{s_1^2 + s_2^2 - 2 r s_1 s_2}`, :math:`v = 1/n + y^2/(2n)`.
    * SMCR: :math:`y = J(n-1)(m_1-m_2)/s_1`, :math:`v = 2(1-r)/n + y^2/(2n)`.
    * PR: :math:`v = p(1-p)/n`; PLO: :math:`y = \mathrm{logit}\,p`, :math:`v = 1/x + 1/(n-x)`;
      PAS: :math:`y = \arcsin\sqrt p`, :math:`v = 1/(4n)`;
      PFT: :math:`y = \tfrac12[\arcsin\sqrt{x/(n+1)} + \arcsin\sqrt{(x+1)/(n+1)}]`,
      :math:`v = 1/(4n+2)`.
    * AS: :math:`y = \arcsin\sqrt{p_1} - \arcsin\sqrt{p_2}`, :math:`v = 1/(4n_1) + 1/(4n_2)`.
    * PETO: :math:`y = (a - E)/V`, :math:`v = 1/V` with :math:`E = n_1 m_1/N` and
      :math:`V = n_1 n_2 m_1 m_2/(N^2(N-1))` (:math:`m_1 = a + c`, :math:`m_2 = N - m_1`).
    * IRR: :math:`y = \log(x_1/t_1) - \log(x_2/t_2)`, :math:`v = 1/x_1 + 1/x_2`; IRD:
      :math:`y = x_1/t_1 - x_2/t_2`, :math:`v = x_1/t_1^2 + x_2/t_2^2` (``add`` to both counts
      of a study with a zero count, as metafor).
    * IR: :math:`y = x/t`, :math:`v = x/t^2`; IRLN: :math:`y = \log(x/t)`, :math:`v = 1/x`;
      IRS: :math:`y = \sqrt{x/t}`, :math:`v = 1/(4t)`; IRFT:
      :math:`y = \tfrac12(\sqrt{x/t} + \sqrt{(x+1)/t})`, :math:`v = 1/(4t)`.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
    Softw 36(3). https://doi.org/10.18637/jss.v036.i03
    Lajeunesse MJ (2015). Bias and correction for the log response ratio in ecological
    meta-analysis. Ecology 96(8):2056-63. https://doi.org/10.1890/14-2402.1

    Examples
    --------
    >>> df = effect_sizes("RR", ai=[4, 6], bi=[119, 300], ci=[11, 29], di=[128, 274])
    >>> df["yi"].round(4).tolist()
    [-0.8893, -1.5854]
    """
    if not isinstance(measure, str):
        raise InputError("measure must be a string", column="measure", value=measure)
    measure = measure.strip().upper()
    unknown = sorted(set(columns) - set(_KNOWN_COLUMNS))
    if unknown:
        raise TypeError(
            f"effect_sizes() got unexpected column argument(s): {', '.join(unknown)}; "
            f"known: {', '.join(_KNOWN_COLUMNS)}"
        )
    precomputed = columns.get("yi") is not None
    if measure not in MEASURES and not (precomputed and measure in _LOG_MEASURES):
        raise InputError(
            f"unknown measure; choose one of {', '.join(MEASURES)}",
            column="measure",
            value=measure,
        )
    if to not in _TO_OPTIONS:
        raise InputError(f"'to' must be one of {', '.join(_TO_OPTIONS)}", column="to", value=to)
    level = check_level(level)
    if add is None:
        add = 0.0 if measure in _ADD_ZERO_BY_DEFAULT else 0.5
    add = float(add)
    if not math.isfinite(add) or add < 0:
        raise InputError("'add' must be a non-negative number", column="add", value=add)
    if not precomputed and measure in _VTYPES:
        if vtype not in _VTYPES[measure]:
            raise InputError(
                f"vtype for {measure} must be one of {', '.join(_VTYPES[measure])}",
                column="vtype",
                value=vtype,
            )
    elif vtype != "LS":
        raise InputError(f"vtype for {measure} can only be 'LS'", column="vtype", value=vtype)
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)

    assumptions: list[str] = []
    ri_scalar = ri is not None and np.ndim(ri) == 0 and not isinstance(ri, str)
    if ri is not None and not ri_scalar:
        columns["ri"] = ri
    cols = _Columns(data, columns, first_row)
    notes: dict[str, Any] = {}

    if precomputed:
        yi, vi = _precomputed(cols, measure, level, ratio_scale)
        bad_rows: list[int] = []
    else:
        if ratio_scale:
            raise InputError(
                "ratio_scale=True applies to precomputed estimates (yi=...) only",
                column="ratio_scale",
            )
        if measure in _CHANGE:
            _resolve_ri(cols, ri, ri_scalar, ri_default, assumptions, notes)
        elif ri is not None or ri_default is not None:
            raise InputError(f"'ri' is not used by measure {measure}", column="ri")
        yi, vi, bad_rows, ni_u = _compute(cols, measure, add, to, drop00, vtype, bias_correct)
        if ni_u is not None:
            notes["ni"] = ni_u

    missing_rows = _missing_input_rows(cols)
    _finish(yi, vi, missing_rows, bad_rows, cols)

    # One frame construction (not column-by-column inserts): pandas inserts dominate the cost.
    added: dict[str, np.ndarray] = {}
    if "ri_values" in notes:
        added["ri"] = notes["ri_values"]
        added["ri_assumed"] = notes["ri_assumed"]
    added["yi"] = yi
    added["vi"] = vi
    if data is not None:
        out = data.assign(**added)
    elif "ri_assumed" in added:
        out = pd.DataFrame({**{name: cols.get(name) for name in cols.arrays}, **added})
    else:
        # all float: one 2-D block is ~3x faster to build than a dict of columns
        merged = {**cols.arrays, **added}  # a precomputed yi/vi is replaced, as with data=
        block = np.column_stack(list(merged.values()))
        out = pd.DataFrame(block, columns=pd.Index(list(merged), dtype=object))
    out.attrs["measure"] = measure
    out.attrs["settings"] = {
        "add": add,
        "to": to,
        "drop00": bool(drop00),
        "vtype": vtype,
        "bias_correct": bool(bias_correct),
    }
    out.attrs["assumptions"] = assumptions
    if "ni" in notes:
        out.attrs["ni"] = [float(x) for x in notes["ni"]]
    for text in assumptions:
        warnings.warn(text, DataWarning, stacklevel=2)
    return out


def _resolve_ri(
    cols: _Columns,
    ri: Any,
    ri_scalar: bool,
    ri_default: float | None,
    assumptions: list[str],
    notes: dict[str, Any],
) -> None:
    """Fill ``ri`` from a scalar assumption or ``ri_default`` and record what was assumed."""
    k = cols.k
    for name, value in (("ri", ri if ri_scalar else None), ("ri_default", ri_default)):
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError("must be a number", column=name, value=value) from None
        if not -1 <= value <= 1:
            raise InputError("a correlation must lie in [-1, 1]", column=name, value=value)
    if ri_scalar:
        values = np.full(k, float(ri))
        assumed = np.ones(k, dtype=bool)
        assumptions.append(
            f"assumed correlation ri = {float(ri):g} between the two time points "
            f"for all {k} studies (not reported)"
        )
    elif cols.has("ri"):
        values = cols.get("ri").copy()
        assumed = np.isnan(values)
        if ri_default is not None and assumed.any():
            values[assumed] = float(ri_default)
            rows = [cols.row(i) for i in np.flatnonzero(assumed)]
            assumptions.append(
                f"assumed correlation ri = {float(ri_default):g} for the {len(rows)} "
                f"studies that do not report it ({_rows_text(rows)})"
            )
        else:
            assumed = np.zeros(k, dtype=bool)
    elif ri_default is not None:
        values = np.full(k, float(ri_default))
        assumed = np.ones(k, dtype=bool)
        assumptions.append(
            f"assumed correlation ri = {float(ri_default):g} between the two time points "
            f"for all {k} studies (not reported)"
        )
    else:
        raise InputError(
            "measures MC, SMCC and SMCR need the correlation between the two time points: "
            "give an ri column, or an assumed value (ri=0.5) and then check the result with "
            "correlation_sensitivity()",
            column="ri",
        )
    cols.arrays["ri"] = values
    cols.labels.setdefault("ri", "ri")
    cols.check("ri", np.abs(np.nan_to_num(values)) > 1, "a correlation must lie in [-1, 1]")
    notes["ri_values"] = values
    notes["ri_assumed"] = assumed


def _apply_add(cells: list[np.ndarray], zero: np.ndarray, add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to every cell of the tables chosen by ``to`` (metafor's rule)."""
    if add == 0 or to == "none":
        return cells
    if to == "all":
        which = np.ones_like(zero)
    elif to == "only0":
        which = zero
    else:  # if0all
        which = np.full_like(zero, zero.any())
    return [c + np.where(which, add, 0.0) for c in cells]


def _compute(
    cols: _Columns,
    measure: str,
    add: float,
    to: str,
    drop00: bool,
    vtype: str,
    bias_correct: bool,
) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray | None]:
    k = cols.k
    bad: list[int] = []  # rows deliberately set to NaN (drop00)
    ni_u: np.ndarray | None = None
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure in _TWO_GROUP_BINARY:
            ai, bi, ci, di = _two_by_two(cols, measure)
            if drop00:
                id00 = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
                if id00.any():
                    rows = [cols.row(i) for i in np.flatnonzero(id00)]
                    bad.extend(rows)
                    warnings.warn(
                        f"{_rows_text(rows)}: no events (or no non-events) in either group; "
                        "dropped (drop00=True)",
                        DataWarning,
                        stacklevel=3,
                    )
                    for arr in (ai, bi, ci, di):
                        arr[id00] = np.nan
            yi, vi = binary_effects(measure, ai, bi, ci, di, add=add, to=to, vtype=vtype)
        elif measure in _TWO_GROUP_CONTINUOUS:
            yi, vi = _two_group_means(cols, measure, vtype, bias_correct)
        elif measure in _CHANGE:
            yi, vi = _mean_change(cols, measure, vtype)
        elif measure in _PROPORTION:
            yi, vi, ni_u = _proportion(cols, measure, add, to, vtype)
        elif measure in _RATE:
            yi, vi, ni_u = _rate(cols, measure, add, to)
        elif measure in _TWO_GROUP_RATE:
            yi, vi = _two_group_rate(cols, measure, add, to)
        elif measure in _ONE_MEAN:
            cols.require(measure, "mi", "sdi", "ni")
            m, sd, n = cols.get("mi"), cols.get("sdi"), cols.get("ni")
            cols.check("sdi", sd < 0, "standard deviation must not be negative")
            cols.check("ni", n <= 0, "sample size must be positive")
            yi, vi = m.copy(), sd**2 / n
        else:  # GEN without yi
            raise InputError(
                "measure GEN needs a precomputed estimate: yi with vi, sei or ci_lb/ci_ub",
                column="yi",
            )
    assert len(yi) == k
    return np.asarray(yi, float), np.asarray(vi, float), bad, ni_u


def binary_effects(
    measure: str,
    ai: np.ndarray,
    bi: np.ndarray,
    ci: np.ndarray,
    di: np.ndarray,
    *,
    add: float = 0.5,
    to: str = "only0",
    vtype: str = "LS",
) -> tuple[np.ndarray, np.ndarray]:
    """``yi``, ``vi`` of RR, OR, RD or AS from validated float count arrays (no checks, no
    frame): the numeric core of :func:`effect_sizes`, also used by the MH/Peto fits."""
    zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
    ai, bi, ci, di = _apply_add([ai, bi, ci, di], zero, add, to)
    n1, n2 = ai + bi, ci + di
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = ai / n1, ci / n2
        if measure == "RR":
            return np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        if measure == "OR":
            return np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)), 1 / ai + 1 / bi + 1 / ci + 1 / di
        if measure == "AS":
            return np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2)), 1 / (4 * n1) + 1 / (4 * n2)
        if measure == "PETO":
            n = n1 + n2
            m1 = ai + ci
            v = n1 * n2 * m1 * (n - m1) / (n * n * (n - 1))
            return (ai - n1 * m1 / n) / v, 1 / v
        if vtype == "LS":
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        elif vtype == "UB":
            vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
        else:
            q1, q2 = _weighted_mean(p1, n1), _weighted_mean(p2, n2)
            vi = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
        return p1 - p2, vi


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(w))
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


def _two_by_two(
    cols: _Columns, measure: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cols.require(measure, "ai", "ci")
    ai, ci = cols.get("ai").copy(), cols.get("ci").copy()
    out = []
    for ev, non, n, ev_name in ((ai, "bi", "n1i", "ai"), (ci, "di", "n2i", "ci")):
        cols.check(ev_name, ev < 0, "event count must not be negative")
        if cols.has(non):
            b = cols.get(non).copy()
            cols.check(non, b < 0, "count must not be negative")
            if cols.has(n):
                cols.check(
                    n,
                    ~np.isnan(b) & ~np.isnan(ev) & ~np.isnan(cols.get(n)) & (cols.get(n) != ev + b),
                    f"group size is not equal to {cols.labels[ev_name]} + {cols.labels[non]}",
                )
        elif cols.has(n):
            nn = cols.get(n)
            cols.check(n, nn < 0, "group size must not be negative")
            cols.check(
                ev_name,
                ev > nn,
                f"events exceed the group size ({cols.labels[n]})",
            )
            b = nn - ev
        else:
            raise InputError(
                f"measure {measure} needs {non} or {n} (non-events or group size)",
                column=non,
            )
        out.append(b)
    return ai, out[0], ci, out[1]


def _two_group_means(
    cols: _Columns, measure: str, vtype: str, bias_correct: bool
) -> tuple[np.ndarray, np.ndarray]:
    cols.require(measure, "m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")
    m1, m2 = cols.get("m1i"), cols.get("m2i")
    s1, s2 = cols.get("sd1i"), cols.get("sd2i")
    n1, n2 = cols.get("n1i"), cols.get("n2i")
    for name in ("sd1i", "sd2i"):
        cols.check(name, cols.get(name) < 0, "standard deviation must not be negative")
    for name in ("n1i", "n2i"):
        cols.check(name, cols.get(name) <= 0, "group size must be positive")
    n = n1 + n2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n - 2))
    if measure == "MD":
        yi = m1 - m2
        vi = sp**2 * (1 / n1 + 1 / n2) if vtype == "HO" else s1**2 / n1 + s2**2 / n2
        return yi, vi
    if measure == "SMD":
        m = n - 2
        j = hedges_correction(m)
        d = (m1 - m2) / sp
        yi = j * d
        if vtype == "LS":
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * n)
        elif vtype == "UB":
            vi = 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * j**2)) * yi**2
        elif vtype == "LS2":
            vi = j**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))
        else:  # AV
            vi = 1 / n1 + 1 / n2 + _weighted_mean(yi, n) ** 2 / (2 * n)
        return yi, vi
    # ROM
    for name in ("m1i", "m2i"):
        cols.check(name, cols.get(name) <= 0, "ratio of means needs positive means")
    yi = np.log(m1 / m2)
    if bias_correct:
        yi = yi + s1**2 / (2 * n1 * m1**2) - s2**2 / (2 * n2 * m2**2)
    if vtype == "HO":
        vi = sp**2 / (n1 * m1**2) + sp**2 / (n2 * m2**2)
    else:
        vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
    return yi, vi


def _mean_change(cols: _Columns, measure: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    needed = (
        ("m1i", "m2i", "sd1i", "ni")
        if measure == "SMCR"
        else (
            "m1i",
            "m2i",
            "sd1i",
            "sd2i",
            "ni",
        )
    )
    cols.require(measure, *needed)
    m1, m2, s1, n = cols.get("m1i"), cols.get("m2i"), cols.get("sd1i"), cols.get("ni")
    r = cols.get("ri")
    for name in needed:
        if name.startswith("sd"):
            cols.check(name, cols.get(name) < 0, "standard deviation must not be negative")
    cols.check("ni", n <= 0, "sample size must be positive")
    j = hedges_correction(n - 1)
    if measure == "SMCR":
        d = (m1 - m2) / s1
        yi = j * d
        if vtype == "LS":
            vi = 2 * (1 - r) / n + yi**2 / (2 * n)
        else:
            vi = j**2 * (2 * (1 - r) / n + d**2 / (2 * n))
        return yi, vi
    s2 = cols.get("sd2i")
    var_diff = s1**2 + s2**2 - 2 * r * s1 * s2
    if measure == "MC":
        return m1 - m2, var_diff / n
    d = (m1 - m2) / np.sqrt(var_diff)
    yi = j * d
    if vtype == "LS":
        vi = 1 / n + yi**2 / (2 * n)
    else:
        vi = j**2 * (1 / n + d**2 / (2 * n))
    return yi, vi


def _proportion(
    cols: _Columns, measure: str, add: float, to: str, vtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols.require(measure, "xi", "ni")
    x, n = cols.get("xi"), cols.get("ni")
    cols.check("xi", x < 0, "event count must not be negative")
    cols.check("ni", n <= 0, "sample size must be positive")
    cols.check("xi", x > n, f"events exceed the sample size ({cols.labels['ni']})")
    ni_u = n.copy()
    nonevents = n - x
    x, nonevents = _apply_add([x, nonevents], (x == 0) | (nonevents == 0), add, to)
    n = x + nonevents
    p = x / n
    if measure == "PR":
        yi = p
        if vtype == "LS":
            vi = p * (1 - p) / n
        elif vtype == "UB":
            vi = p * (1 - p) / (n - 1)
        else:
            q = _weighted_mean(p, n)
            vi = q * (1 - q) / n
    elif measure == "PLN":
        yi = np.log(p)
        if vtype == "LS":
            vi = 1 / x - 1 / n
        else:
            q = _weighted_mean(p, n)
            vi = 1 / (q * n) - 1 / n
    elif measure == "PLO":
        yi = np.log(p / (1 - p))
        if vtype == "LS":
            vi = 1 / x + 1 / nonevents
        else:
            q = _weighted_mean(p, n)
            vi = 1 / (q * n) + 1 / ((1 - q) * n)
    elif measure == "PAS":
        yi = np.arcsin(np.sqrt(p))
        vi = 1 / (4 * n)
    else:  # PFT
        yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
        vi = 1 / (4 * n + 2)
    return yi, vi, ni_u


def _rate(
    cols: _Columns, measure: str, add: float, to: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols.require(measure, "xi", "ti")
    x, t = cols.get("xi"), cols.get("ti")
    cols.check("xi", x < 0, "event count must not be negative")
    cols.check("ti", t <= 0, "person-time must be positive")
    (x,) = _apply_add([x], x == 0, add, to)
    rate = x / t
    if measure == "IR":
        return rate, rate / t, t.copy()
    if measure == "IRLN":
        return np.log(rate), 1 / x, t.copy()
    if measure == "IRS":
        return np.sqrt(rate), 1 / (4 * t), t.copy()
    return 0.5 * (np.sqrt(rate) + np.sqrt(rate + 1 / t)), 1 / (4 * t), t.copy()


def _two_group_rate(
    cols: _Columns, measure: str, add: float, to: str
) -> tuple[np.ndarray, np.ndarray]:
    cols.require(measure, "x1i", "t1i", "x2i", "t2i")
    x1, t1, x2, t2 = (cols.get(c) for c in ("x1i", "t1i", "x2i", "t2i"))
    cols.check("x1i", x1 < 0, "event count must not be negative")
    cols.check("x2i", x2 < 0, "event count must not be negative")
    cols.check("t1i", t1 <= 0, "person-time must be positive")
    cols.check("t2i", t2 <= 0, "person-time must be positive")
    x1, x2 = _apply_add([x1, x2], (x1 == 0) | (x2 == 0), add, to)
    r1, r2 = x1 / t1, x2 / t2
    if measure == "IRR":
        return np.log(r1) - np.log(r2), 1 / x1 + 1 / x2
    return r1 - r2, x1 / t1**2 + x2 / t2**2


def _precomputed(
    cols: _Columns, measure: str, level: float, ratio_scale: bool
) -> tuple[np.ndarray, np.ndarray]:
    yi = cols.get("yi").copy()
    given = [n for n in ("vi", "sei", "ci_lb") if cols.has(n)]
    if cols.has("ci_ub") and not cols.has("ci_lb"):
        raise InputError("ci_ub given without ci_lb", column=cols.labels["ci_ub"])
    if not given:
        raise InputError(
            "a precomputed estimate (yi) needs its sampling variance (vi), standard error "
            "(sei) or confidence interval (ci_lb and ci_ub)",
            column=cols.labels["yi"],
        )
    if len(given) > 1:
        raise InputError(
            f"give only one of vi, sei or ci_lb/ci_ub with yi (got {', '.join(given)})",
            column=cols.labels[given[1]],
        )
    if ratio_scale:
        if measure not in _LOG_MEASURES:
            raise InputError(
                f"ratio_scale=True needs a ratio measure ({', '.join(_LOG_MEASURES)})",
                column="measure",
                value=measure,
            )
        for name in ("yi", "ci_lb", "ci_ub"):
            if cols.has(name):
                cols.check(name, cols.get(name) <= 0, "a ratio must be positive")
        yi = np.log(yi)
    source = given[0]
    if source == "vi":
        vi = cols.get("vi").copy()
        cols.check("vi", vi < 0, "variance must not be negative")
    elif source == "sei":
        sei = cols.get("sei")
        cols.check("sei", sei < 0, "standard error must not be negative")
        vi = sei**2
    else:
        if not cols.has("ci_ub"):
            raise InputError("ci_lb given without ci_ub", column=cols.labels["ci_lb"])
        lb, ub = cols.get("ci_lb"), cols.get("ci_ub")
        if ratio_scale:
            lb, ub = np.log(lb), np.log(ub)
        cols.check("ci_ub", ub < lb, "upper confidence limit is below the lower one")
        y = cols.get("yi")
        if ratio_scale:
            y = np.log(y)
        cols.check("yi", (y < lb) | (y > ub), "estimate lies outside its confidence interval")
        z = special.ndtri(0.5 + level / 2)
        vi = ((ub - lb) / (2 * z)) ** 2
    return yi, vi


def _missing_input_rows(cols: _Columns) -> dict[int, list[str]]:
    """Rows with a missing input value, mapped to the (user-facing) names of those columns."""
    rows: dict[int, list[str]] = {}
    for name, arr in cols.arrays.items():
        for i in np.flatnonzero(np.isnan(arr)):
            rows.setdefault(int(i), []).append(cols.labels[name])
    return rows


def _finish(
    yi: np.ndarray,
    vi: np.ndarray,
    missing: dict[int, list[str]],
    dropped_rows: list[int],
    cols: _Columns,
) -> None:
    """Set NaN consistently, and warn about every row whose yi/vi is missing."""
    # metafor recodes +-Inf and negative variances to NA: the estimate cannot be used.
    invalid = ~np.isfinite(yi) | ~np.isfinite(vi) | (vi < 0)
    yi[invalid] = np.nan
    vi[invalid] = np.nan
    dropped = {r - cols.first_row for r in dropped_rows}
    missing_idx = sorted(i for i in missing if invalid[i] and i not in dropped)
    if missing_idx:
        parts = [f"row {cols.row(i)} ({', '.join(missing[i])})" for i in missing_idx[:20]]
        more = f" and {len(missing_idx) - 20} more rows" if len(missing_idx) > 20 else ""
        warnings.warn(
            f"missing values, yi and vi set to NaN: {', '.join(parts)}{more}",
            DataWarning,
            stacklevel=3,
        )
    other = [
        cols.row(i)
        for i in np.flatnonzero(invalid)
        if int(i) not in missing and int(i) not in dropped
    ]
    if other:
        warnings.warn(
            f"{_rows_text(other)}: effect size cannot be computed from these values "
            "(e.g. a zero cell with add=0, or a zero SD); yi and vi set to NaN",
            DataWarning,
            stacklevel=3,
        )
