"""Input validation for the meta-analysis core, in one place.

Every check raises :class:`~sci_evidence.errors.InputError` with a one-line message that names
the argument, shows the offending value (and its position, 1-based) and says how to fix it.
Other modules (effect sizes, bias, the CLI) may import these helpers; they are deliberately
general: nothing here knows about a particular model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sci_evidence.errors import InputError

__all__ = [
    "check_option",
    "check_vector",
    "check_effects",
    "check_non_negative",
    "check_positive",
    "check_same_length",
    "check_level",
    "check_design",
    "check_control",
    "check_magnitude",
]

#: Largest magnitude of an effect size or variance that the fits handle without overflow:
#: they square and invert them (yi^2/vi, 1/vi^2), and float64 ends near 1.8e308.
MAX_MAGNITUDE = 1e100

# direct references to the reductions (the ndarray methods add a Python-level layer)
_sum = np.add.reduce
_min = np.minimum.reduce
_dot = np.dot


def check_option(name: str, value: Any, allowed: Iterable[str], *, aliases=None) -> str:
    """Return ``value`` (upper-cased unless ``allowed`` is lower-case) if it is allowed.

    Parameters
    ----------
    name : str
        Argument name, used in the message.
    value : str
        The value given.
    allowed : iterable of str
        The allowed values, listed in the message.
    aliases : dict, optional
        Extra accepted spellings mapped to their canonical value (e.g. ``{"FE": "EE"}``).

    Raises
    ------
    InputError
        If ``value`` is not a string or is not one of ``allowed`` (nor an alias).
    """
    allowed = tuple(allowed)
    aliases = aliases or {}
    if isinstance(value, str):
        for candidate in (value, value.upper(), value.lower()):
            if candidate in allowed:
                return candidate
            if candidate in aliases:
                return aliases[candidate]
    listed = ", ".join(repr(a) for a in allowed + tuple(aliases))
    raise InputError(f"{name}={value!r} is not supported; use one of {listed}")


def check_vector(
    name: str, values: Any, *, allow_nan: bool = False, min_length: int = 1
) -> np.ndarray:
    """Convert ``values`` to a 1-D float64 array and check it is finite.

    Raises
    ------
    InputError
        If ``values`` is not 1-D, holds something that is not a number, holds NaN/inf (unless
        ``allow_nan``), or has fewer than ``min_length`` elements. The message gives the first
        bad position (1-based) and value.
    """
    if values is None:
        raise InputError(f"{name} is required (got None)")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raw = list(np.asarray(values, dtype=object).ravel()) if np.ndim(values) else [values]
        for i, v in enumerate(raw, start=1):
            try:
                float(v)
            except (TypeError, ValueError):
                raise InputError(
                    f"{name} must be numeric; element {i} is not a number (value: {v!r})"
                ) from None
        raise InputError(f"{name} must be a 1-D sequence of numbers") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D (got shape {arr.shape}); pass one number per study")
    if arr.shape[0] < min_length:
        raise InputError(
            f"{name} has {arr.shape[0]} element(s) but at least {min_length} are needed"
        )
    # one reduction first: the sum is finite unless an element is NaN/inf (or the sum
    # overflows, when the element-wise test below finds nothing and the array passes)
    if not allow_nan and not math.isfinite(_sum(arr)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name} must be finite; element {i + 1} is {float(arr[i])!r}; "
                "drop or fill missing studies first"
            )
    return arr


def check_effects(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` as float64 arrays of one length, finite, with every ``vi`` > 0, or
    the InputError of :func:`check_vector`/:func:`check_positive`/:func:`check_same_length`.

    Clean input passes on two reductions: ``min(vi) > 0`` and a finite ``yi · vi`` (NaN or
    inf anywhere makes the product non-finite; so does an overflow, and then the element-wise
    checks find nothing and pass the arrays as before).
    """
    try:
        y = np.asarray(yi, dtype=np.float64)
        v = np.asarray(vi, dtype=np.float64)
    except (TypeError, ValueError):
        y = v = None
    if (
        y is not None
        and y.ndim == 1
        and v.shape == y.shape
        and y.shape[0] >= 1
        and _min(v) > 0
        and math.isfinite(_dot(y, v))
    ):
        return y, v
    y = check_vector("yi", yi)
    v = check_positive("vi", check_vector("vi", vi), hint="sampling variances must be positive")
    if v.shape[0] != y.shape[0]:
        check_same_length(yi=y, vi=v)  # raises, naming both lengths
    return y, v


def check_non_negative(name: str, arr: np.ndarray) -> np.ndarray:
    """Raise if any element of ``arr`` is negative (e.g. a sampling variance)."""
    bad = arr < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{name} must not be negative; element {i + 1} is {float(arr[i])!r} "
            "(a variance or standard error cannot be negative)"
        )
    return arr


def check_positive(name: str, arr: np.ndarray, *, hint: str = "") -> np.ndarray:
    """Raise if any element of ``arr`` is zero or negative."""
    if arr.size and _min(arr) > 0:  # one reduction (NaN fails it and passes below)
        return arr
    bad = arr <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        extra = f"; {hint}" if hint else ""
        raise InputError(f"{name} must be > 0; element {i + 1} is {float(arr[i])!r}{extra}")
    return arr


def check_same_length(**arrays: Sequence[Any]) -> int:
    """Return the common length of the named arrays, or raise naming both lengths."""
    names = list(arrays)
    lengths = {n: len(arrays[n]) for n in names}
    first = names[0]
    for n in names[1:]:
        if lengths[n] != lengths[first]:
            raise InputError(
                f"{first} has {lengths[first]} element(s) but {n} has {lengths[n]}; "
                "give one value per study in each"
            )
    return lengths[first]


def check_level(level: Any) -> float:
    """Return the confidence level as a fraction in (0, 1).

    ``level`` may be a fraction (0.95) or, as in metafor, a percentage (95).
    """
    try:
        lvl = float(level)
    except (TypeError, ValueError):
        raise InputError(f"level={level!r} must be a number such as 0.95") from None
    if 1 < lvl < 100:
        lvl = lvl / 100.0
    if not 0 < lvl < 1:
        raise InputError(f"level={level!r} must lie in (0, 1), e.g. 0.95 (or 95 as a percent)")
    return lvl


def check_design(X: Any, k: int, *, name: str = "X", coef_names=None) -> np.ndarray:
    """Check a k × p design matrix: numeric, finite, full column rank, p ≤ k.

    Raises
    ------
    InputError
        Wrong shape, non-finite entries, more parameters than studies, or linearly dependent
        columns (e.g. a constant moderator next to the intercept); the message names the
        column.
    """
    try:
        Xa = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric matrix") from None
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    if Xa.ndim != 2 or Xa.shape[0] != k:
        raise InputError(
            f"{name} must have one row per study: shape is {Xa.shape}, expected ({k}, p)"
        )
    if Xa.shape[1] == 0:
        raise InputError(f"{name} has no columns; give at least the intercept (a column of 1s)")
    names = list(coef_names) if coef_names is not None else [f"X{j}" for j in range(Xa.shape[1])]
    p = Xa.shape[1]
    # the Gram matrix serves the finiteness and the rank test: its diagonal Σ_i x_ij² is
    # NaN or inf when an entry of column j is, or when the sum of squares overflows (numpy
    # then warns too; no errstate here: entering one costs more than the whole check)
    G = (Xa.T @ Xa).tolist()
    if not math.isfinite(sum([G[j][j] for j in range(p)])):
        bad = ~np.isfinite(Xa)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise InputError(
                f"{name} must be finite; row {i + 1}, column {names[j]!r} is {float(Xa[i, j])!r}"
            )
        j = next(j for j in range(p) if not math.isfinite(G[j][j]))
        raise InputError(
            f"{name} column {names[j]!r} is too large to fit (its sum of squares overflows); "
            "rescale it",
            column=names[j],
        )
    if p > k:
        raise InputError(
            f"fewer studies than parameters: k={k} studies but p={p} coefficients "
            f"({', '.join(names)}); drop moderators or add studies"
        )
    if p == 1:
        if not Xa[:, 0].any():
            raise InputError(f"{name} column {names[0]!r} is all zeros")
        return Xa
    # cheap full-rank test first (Cholesky of the column-scaled Gram matrix); the SVD-based
    # rank search below runs only to name the offending column
    ok = _min_cholesky_pivot(G) > 1e-14
    if not ok and np.linalg.matrix_rank(Xa) < p:
        # find the first column that adds nothing, to name it
        for j in range(1, p + 1):
            if np.linalg.matrix_rank(Xa[:, :j]) < j:
                col = Xa[:, j - 1]
                what = (
                    "is constant across studies"
                    if np.ptp(col) == 0
                    else "is a linear combination of the columns before it"
                )
                raise InputError(
                    f"moderator {names[j - 1]!r} {what}, so its coefficient cannot be "
                    "estimated; drop it",
                    column=names[j - 1],
                )
    return Xa


def _min_cholesky_pivot(G: list[list[float]]) -> float:
    """Smallest pivot of the Cholesky factorisation of the unit-diagonal scaled Gram matrix.

    Plain Python: for the few columns of a meta-regression design this is cheaper than the
    numpy/LAPACK call overhead. A pivot below ~1e-14 means the columns are (numerically)
    linearly dependent (condition number above ~1e14). Two and three columns are written
    out (the same operations in the same order as the loop, bit for bit).
    """
    p = len(G)
    d = [G[i][i] for i in range(p)]
    if min(d) <= 0:
        return 0.0
    if p == 2 or p == 3:
        return _min_pivot_23(G, d)
    s = [1.0 / math.sqrt(x) for x in d]
    a = [[G[i][j] * s[i] * s[j] for j in range(p)] for i in range(p)]
    smallest = math.inf
    for c in range(p):
        piv = a[c][c]
        smallest = min(smallest, piv)
        if piv <= 1e-14:
            return piv
        for r in range(c + 1, p):
            f = a[r][c] / piv
            if f:
                ar, ac = a[r], a[c]
                for j in range(c + 1, p):
                    ar[j] -= f * ac[j]
    return smallest


def _min_pivot_23(G: list[list[float]], d: list[float]) -> float:
    """The loop of :func:`_min_cholesky_pivot` unrolled for p = 2 or 3 (positive diagonal)."""
    s0, s1 = 1.0 / math.sqrt(d[0]), 1.0 / math.sqrt(d[1])
    a00 = G[0][0] * s0 * s0
    if a00 <= 1e-14:
        return a00
    g0, g1 = G[0], G[1]
    a11 = g1[1] * s1 * s1
    f = g1[0] * s1 * s0 / a00
    if f:
        a11 -= f * (g0[1] * s0 * s1)
    if len(d) == 2:
        return min(a00, a11)
    s2 = 1.0 / math.sqrt(d[2])
    g2 = G[2]
    a01, a02 = g0[1] * s0 * s1, g0[2] * s0 * s2
    a12 = g1[2] * s1 * s2
    a21, a22 = g2[1] * s2 * s1, g2[2] * s2 * s2
    if f:
        a12 -= f * a02
    f = g2[0] * s2 * s0 / a00
    if f:
        a21 -= f * a01
        a22 -= f * a02
    if a11 <= 1e-14:
        return min(a00, a11)
    f = a21 / a11
    if f:
        a22 -= f * a12
    return min(a00, a11, a22)


def check_control(control: Any, allowed: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """Check a ``control`` dict: known keys, values of the right type.

    Unknown keys raise (never silently ignored) and list the known ones.
    """
    if control is None:
        return {}
    if not isinstance(control, dict):
        raise InputError(f"control must be a dict (got {type(control).__name__})")
    out = {}
    for key, value in control.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise InputError(f"control key {key!r} is not known; use one of {known}")
        if value is not None and not isinstance(value, allowed[key]):
            raise InputError(f"control[{key!r}]={value!r} has the wrong type")
        out[key] = value
    return out


def check_magnitude(
    name: str,
    values: np.ndarray,
    *,
    first_row: int = 1,
    smallest: bool = False,
    limit: float = MAX_MAGNITUDE,
) -> np.ndarray:
    """Raise if a finite element is beyond ``limit`` in magnitude (or, with ``smallest``,
    positive but below ``1/limit``): the fits would overflow to inf/NaN and report a
    meaningless estimate. NaN (missing) passes; elements are numbered from ``first_row``.
    """
    arr = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        mag = np.abs(arr)
        bad = np.isfinite(arr) & (mag > limit)
        if smallest:
            bad |= np.isfinite(arr) & (mag > 0) & (mag < 1.0 / limit)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{name} = {float(arr[i])!r} is too extreme to pool (allowed magnitude "
            f"{1.0 / limit:g} to {limit:g}); rescale the effect sizes",
            row=i + first_row,
            column=name,
        )
    return arr
