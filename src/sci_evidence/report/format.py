"""How the report prints a number: fixed decimals, counts as integers, percentages; "–"
where a value is missing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["DIGITS", "count", "num", "pct"]

DIGITS = 4


def _missing(v) -> bool:
    """None, pandas' NA/NaT or NaN (an array-like is not "missing")."""
    if v is None or v is pd.NA:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def num(v, digits: int = DIGITS) -> str:
    """A number as the report shows it (``digits`` decimals; "–" when missing)."""
    if _missing(v) or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.{digits}f}"


def count(v) -> str:
    """A count of patients or studies as an integer ("14", never "14.000"; "–" when missing)."""
    if _missing(v):
        return "–"
    return str(int(round(float(v))))


def pct(v, digits: int = 1) -> str:
    return "–" if v is None or not math.isfinite(float(v)) else f"{100 * float(v):.{digits}f}%"
