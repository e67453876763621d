"""The input of :func:`sci_evidence.meta.models.pool`, checked: effect sizes, sampling
variances (or standard errors, squared), moderators as a design matrix and study labels,
with the studies that miss a value dropped (with a warning that names them, as metafor does).

Clean input (no NaN or infinite value anywhere, the usual case) is recognised by one sum per
array, and the masks that find and drop missing studies are built only otherwise.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta.regression import INTERCEPT, design_matrix, moderator_columns
from sci_evidence.meta.validation import (
    check_design,
    check_positive,
    check_same_length,
    check_vector,
)

__all__ = ["pool_input"]

_sum = np.add.reduce
_any = np.logical_or.reduce


def pool_input(
    yi: Any, vi: Any, sei: Any, mods: Any, labels: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], list[str] | None]:
    """``(yi, vi, X, coef_names, labels)`` of the studies without missing values (new arrays,
    never the caller's), or InputError. Exactly one of ``vi`` and ``sei`` is given."""
    if (vi is None) == (sei is None):
        raise InputError(
            "give exactly one of vi (sampling variances) or sei (standard errors)"
            + (" — both were given" if vi is not None else "")
        )
    y = check_vector("yi", yi, allow_nan=True)
    v_name = "sei" if sei is not None else "vi"
    v = check_vector(v_name, sei if sei is not None else vi, allow_nan=True)
    k = y.shape[0]
    if v.shape[0] != k:
        check_same_length(yi=y, **{v_name: v})  # raises, naming both lengths
    cols = moderator_columns(mods, k)
    lab = None if labels is None else [str(x) for x in labels]
    if lab is not None and len(lab) != k:
        raise InputError(f"labels has {len(lab)} entries but there are {k} studies")
    keep = None  # all studies
    clean = math.isfinite(_sum(y)) and math.isfinite(_sum(v))
    if not (clean and not any(_any(c.missing) for c in cols)):
        keep = _complete_studies(y, v, v_name, cols, lab)
        y, v = y[keep], v[keep]
        if lab is not None:
            lab = [x for x, kp in zip(lab, keep, strict=True) if kp]
    else:
        y, v = np.array(y), np.array(v)  # copies, as the dropping above makes
    if v_name == "sei":
        v = check_positive("sei", v) ** 2
    check_positive("vi" if v_name == "vi" else "sei", v, hint="sampling variances must be > 0")
    if cols:
        X, names = design_matrix(cols, keep)
    else:
        X, names = np.ones((y.shape[0], 1)), (INTERCEPT,)
    return y, v, check_design(X, y.shape[0], coef_names=names), names, lab


def _complete_studies(y, v, v_name: str, cols: list, lab: list[str] | None) -> np.ndarray:
    """The mask of studies without a missing value; InputError for an infinite ``yi``/``vi``
    or when no study is left; a DataWarning naming the dropped studies."""
    for name, arr in (("yi", y), (v_name, v)):
        inf = np.isinf(arr)
        if inf.any():
            i = int(np.flatnonzero(inf)[0])
            raise InputError(f"{name} must be finite; element {i + 1} is {float(arr[i])!r}")
    missing = np.isnan(y) | np.isnan(v)
    for c in cols:
        missing |= c.missing
    if missing.any():
        who = [lab[i] if lab else f"study {i + 1}" for i in np.flatnonzero(missing)]
        warnings.warn(
            f"{len(who)} stud{'y' if len(who) == 1 else 'ies'} with missing values dropped: "
            + ", ".join(who),
            DataWarning,
            stacklevel=4,  # the caller of pool()
        )
    keep = ~missing
    if not keep.any():
        raise InputError("no study is left after dropping those with missing values")
    return keep
