"""Moderators → design matrix, as R's model.matrix does it for ``rma(yi, vi, mods = ~ a + b)``.

* Numeric columns enter as covariates, under their own name.
* A column of strings (or a pandas ``Categorical``) is a factor: its levels are the distinct
  values in sorted order (a ``Categorical`` keeps its own category order, as an R factor
  does), and it is coded with one indicator per level except the first (treatment contrasts),
  named ``<column><level>`` — e.g. ``allocrandom``, ``allocsystematic``.
* A boolean column is a factor with levels FALSE < TRUE, named ``<column>TRUE``.
* The intercept comes first and is named ``intrcpt`` (metafor's name).

``mods`` may be a pandas DataFrame, a dict of columns, a 1-D array (one moderator) or a 2-D
array (columns named ``X1``, ``X2``, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sci_evidence.errors import InputError

__all__ = ["ModeratorColumn", "moderator_columns", "design_matrix"]

INTERCEPT = "intrcpt"
# direct references to the reductions (the ndarray methods add a Python-level layer)
_min = np.minimum.reduce
_max = np.maximum.reduce


@dataclass(frozen=True)
class ModeratorColumn:
    """One moderator as given: its name, values and whether it is categorical."""

    name: str
    values: np.ndarray  # float64 (numeric) or object (categorical)
    categorical: bool
    levels: tuple | None  # for categorical columns: levels in order
    missing: np.ndarray  # bool mask of missing entries


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, pandas NA
    except (TypeError, ValueError):
        return False


def _column(name: str, raw: Any, k: int) -> ModeratorColumn:
    if type(raw) is np.ndarray and raw.dtype == np.float64 and raw.ndim == 1:
        # the hot case (a float array), as the fast path below takes it but without pandas
        if raw.shape[0] != k:
            raise InputError(
                f"moderator {name!r} has {raw.shape[0]} values but there are {k} studies",
                column=name,
            )
        return ModeratorColumn(name, raw, False, None, ~np.isfinite(raw))
    import pandas as pd

    # fast path: an array or list of plain numbers (the common case, and the hot one)
    if not isinstance(raw, pd.Series) or pd.api.types.is_numeric_dtype(raw.dtype):
        if not (isinstance(raw, pd.Series) and pd.api.types.is_bool_dtype(raw.dtype)):
            try:
                nums = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError):
                nums = None
            if nums is not None and nums.ndim == 1 and nums.dtype == np.float64:
                first = raw[0] if isinstance(raw, list | tuple) and len(raw) else None
                if not isinstance(first, bool | np.bool_ | str):
                    if nums.shape[0] != k:
                        raise InputError(
                            f"moderator {name!r} has {nums.shape[0]} values but there are "
                            f"{k} studies",
                            column=name,
                        )
                    return ModeratorColumn(name, nums, False, None, ~np.isfinite(nums))

    series = raw if isinstance(raw, pd.Series) else None
    arr = np.asarray(raw.to_numpy() if series is not None else raw, dtype=object).ravel()
    if arr.shape[0] != k:
        raise InputError(
            f"moderator {name!r} has {arr.shape[0]} values but there are {k} studies",
            column=name,
        )
    missing = np.fromiter((_is_missing(v) for v in arr), dtype=bool, count=k)
    present = arr[~missing]
    if series is not None and isinstance(series.dtype, pd.CategoricalDtype):
        levels = tuple(series.cat.categories)
        return ModeratorColumn(name, arr, True, levels, missing)
    if all(isinstance(v, bool | np.bool_) for v in present) and present.size:
        vals = np.array(
            [str(bool(v)).upper() if not m else None for v, m in zip(arr, missing, strict=True)]
        )
        return ModeratorColumn(name, vals.astype(object), True, ("FALSE", "TRUE"), missing)
    if any(isinstance(v, str) for v in present):
        # a column of strings is categorical — unless every string reads as a number
        try:
            nums = np.array(
                [float(v) if not m else np.nan for v, m in zip(arr, missing, strict=True)]
            )
        except (TypeError, ValueError):
            levels = tuple(sorted({str(v) for v in present}))
            vals = np.array([str(v) if not m else None for v, m in zip(arr, missing, strict=True)])
            return ModeratorColumn(name, vals.astype(object), True, levels, missing)
        return ModeratorColumn(name, nums, False, None, missing)
    try:
        nums = np.array([float(v) if not m else np.nan for v, m in zip(arr, missing, strict=True)])
    except (TypeError, ValueError):
        bad = next(
            (i, v)
            for i, (v, m) in enumerate(zip(arr, missing, strict=True))
            if not m and not _num(v)
        )
        raise InputError(
            f"moderator {name!r} must be numeric or text; study {bad[0] + 1} has {bad[1]!r}",
            column=name,
            value=bad[1],
        ) from None
    missing = missing | ~np.isfinite(nums)
    return ModeratorColumn(name, nums, False, None, missing)


def _num(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def moderator_columns(mods: Any, k: int) -> list[ModeratorColumn]:
    """Split ``mods`` into named columns (see the module docstring for accepted types)."""
    if mods is None:
        return []
    import pandas as pd

    if isinstance(mods, pd.DataFrame):
        items = [(str(c), mods[c]) for c in mods.columns]
    elif isinstance(mods, pd.Series):
        items = [(str(mods.name or "X1"), mods)]
    elif isinstance(mods, dict):
        items = [(str(c), v) for c, v in mods.items()]
    else:
        arr = np.asarray(mods, dtype=object)
        if arr.ndim == 1:
            items = [("X1", arr)]
        elif arr.ndim == 2:
            if arr.shape[0] != k and arr.shape[1] == k:
                raise InputError(
                    f"mods has shape {arr.shape}: expected one row per study ({k} rows); "
                    "transpose it"
                )
            items = [(f"X{j + 1}", arr[:, j]) for j in range(arr.shape[1])]
        else:
            raise InputError(f"mods must be 1-D or 2-D (got {arr.ndim} dimensions)")
    if not items:
        return []
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise InputError(f"moderator names must be unique (got {names})")
    return [_column(n, v, k) for n, v in items]


def design_matrix(
    columns: list[ModeratorColumn], keep: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Build ``(X, coef_names)`` with the intercept first, from rows ``keep`` (bool mask).

    Factor levels that do not occur in the kept rows are dropped (as R's ``droplevels``
    would not — but an all-zero indicator cannot be estimated, and the error for it would
    confuse more than it helps). A factor with a single level left is constant and raises.
    """
    k = columns[0].values.shape[0] if columns else 0
    if keep is None:
        n, all_rows = k, True
    else:
        n, all_rows = int(keep.sum()), bool(keep.all())
    blocks: list[np.ndarray] = []
    names: list[str] = [INTERCEPT]
    for col in columns:
        vals = col.values if all_rows else col.values[keep]
        if col.categorical:
            present = set(vals.tolist())
            levels = [lv for lv in col.levels if lv in present]
            if len(levels) < 2:
                raise InputError(
                    f"moderator {col.name!r} has a single level ({levels[0]!r}) in the "
                    "studies analysed, so its effect cannot be estimated; drop it",
                    column=col.name,
                    value=levels[0] if levels else None,
                )
            for lv in levels[1:]:
                blocks.append((vals == lv).astype(np.float64))
                names.append(f"{col.name}{lv}")
        else:
            v = vals.astype(np.float64, copy=False)
            if n > 1 and _min(v) == _max(v):
                raise InputError(
                    f"moderator {col.name!r} is constant ({float(v[0])!r} in every study), so "
                    "its coefficient cannot be estimated; drop it",
                    column=col.name,
                    value=float(v[0]),
                )
            blocks.append(v)
            names.append(col.name)
    X = np.empty((n, 1 + len(blocks)))
    X[:, 0] = 1.0
    for j, b in enumerate(blocks, start=1):
        X[:, j] = b
    return X, tuple(names)
