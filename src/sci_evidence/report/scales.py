"""Numbers on the scale a reader reads: ratios as ratios (RR 5.79, never log RR 1.7566),
proportions and risk differences in percent, mean differences in points.

A model works on the scale of ``yi`` (log RR, logit or Freeman–Tukey proportion); the report's
tables show every estimate and interval back on the reader's scale
(:func:`sci_evidence.review.results.back`, PFT inverted at the harmonic mean of the studies
in that fit) and name that scale. Heterogeneity (τ²) stays on the model scale, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sci_evidence.meta.transforms import back_transform, measure_scale
from sci_evidence.review.results import back

__all__ = [
    "COUNT_COLUMNS",
    "ReaderScale",
    "integer_counts",
    "reader_scale",
    "reader_values",
    "robustness_frame",
]


@dataclass(frozen=True)
class ReaderScale:
    """How one measure is shown.

    Attributes
    ----------
    name : str
        The scale in a column header, e.g. ``"RR"``, ``"%"``, ``"percentage points"``.
    factor : float
        Multiplier after back-transformation (100 for proportions and risk differences).
    model : str
        The scale the model works on, e.g. ``"log risk ratio"`` (for τ²).
    """

    name: str
    factor: float
    model: str


def reader_scale(measure: str) -> ReaderScale:
    """The reader's scale of ``measure`` (see :class:`ReaderScale`)."""
    s = measure_scale(measure)
    model = s.analysis_label.lower()
    m = s.measure.upper()
    if s.scale == "ratio":
        return ReaderScale("OR" if m == "PETO" else m, 1.0, model)
    if s.scale == "proportion":
        return ReaderScale("%", 100.0, model)
    if m == "RD":
        return ReaderScale("percentage points", 100.0, model)
    if m in ("MD", "MC", "MN"):
        return ReaderScale("points", 1.0, model)
    return ReaderScale(s.label.lower(), 1.0, model)


def reader_values(measure: str, values, rows: pd.DataFrame | None = None) -> np.ndarray:
    """``values`` (model scale) on the reader's scale of ``measure``."""
    return reader_scale(measure).factor * back(measure, values, rows)


#: Counts that must print as integers wherever they appear in a table.
COUNT_COLUMNS = (
    "k",
    "n",
    "n_treated",
    "n_control",
    "patients",
    "studies",
    "measured",
    "events",
    "xi",
    "ni",
    "ai",
    "bi",
    "ci",
    "di",
    "n1i",
    "n2i",
    "k_ours",
    "k_theirs",
    "benefit",
    "harm",
    "no_change",
    "no_clear_effect",
    "unclear",
    "n_iter",
)


def integer_counts(df: pd.DataFrame, columns=COUNT_COLUMNS) -> pd.DataFrame:
    """``df`` with its count columns as nullable integers ("14", not "14.000"); a column
    holding a non-integral value is left as it is."""
    out = df.copy()
    for c in out.columns:
        if c not in columns:
            continue
        v = pd.to_numeric(out[c], errors="coerce")
        ok = v.notna()
        # an empty cell stays empty; text that is not a number leaves the column alone
        if (out[c].notna() & ~ok).any() or not np.allclose(v[ok], np.round(v[ok])):
            continue
        out[c] = pd.array(np.round(v).astype("Float64"), dtype="Int64")
    return out


def robustness_frame(kind: str, block: dict, measure: str, rows: pd.DataFrame) -> pd.DataFrame:
    """A leave-one-out or cumulative block of ``results.json`` (column-wise, model scale)
    as a table on the reader's scale.

    Columns: ``study`` (left out, or added), ``k`` (studies in the fit), ``scale``,
    ``estimate``, ``ci_lb``, ``ci_ub`` (reader's scale), ``pval``, ``I2``, ``tau2``
    (model scale) and ``model_scale``. PFT is inverted at the harmonic mean of the studies of
    each fit (all but the one left out; the first ``k`` added).
    """
    rs = reader_scale(measure)
    studies = list(block["study"])
    n = len(studies)
    out = {"study": studies}
    out["k"] = [int(k) for k in block["k"]] if kind == "cumulative" else [n - 1] * n
    model = np.array(
        [[np.nan if v is None else v for v in block[c]] for c in ("estimate", "ci_lb", "ci_ub")],
        dtype=float,
    )
    if measure_scale(measure).needs_ni:
        # each fit inverted at the harmonic mean of its own studies (numpy masks: a pandas
        # subset per fit would cost more than the whole table)
        labels = np.asarray(rows["label"], dtype=object)
        ni = rows["ni"].to_numpy(float)
        shown = np.empty_like(model)
        for i, study in enumerate(studies):
            if kind == "cumulative":
                keep = np.isin(labels, studies[: i + 1])
            else:
                keep = labels != study
            shown[:, i] = rs.factor * back_transform(measure, model[:, i], ni=ni[keep])
    else:
        shown = rs.factor * back(measure, model.ravel()).reshape(model.shape)
    cols = dict(zip(("estimate", "ci_lb", "ci_ub"), shown.tolist(), strict=True))
    frame = pd.DataFrame(out)
    frame["scale"] = rs.name
    for c, v in cols.items():
        frame[c] = v
    for c in ("pval", "I2", "tau2"):
        frame[c] = [np.nan if v is None else v for v in block[c]]
    frame["model_scale"] = rs.model
    frame["k"] = frame["k"].astype("Int64")
    return frame
