"""Standard deviation of a change score from baseline and follow-up SDs, and back again.

Cochrane Handbook (version 6.4) §6.5.2.8 and §10.5.2: when a study reports the SDs at baseline
(SD₁) and follow-up (SD₂) but not the SD of the change, the change-score SD follows from the
within-person correlation r of the two measurements,

    SD_change = √(SD₁² + SD₂² − 2·r·SD₁·SD₂),

and a study that reports all three SDs gives the correlation to borrow,

    r = (SD₁² + SD₂² − SD_change²) / (2·SD₁·SD₂).

Both functions take scalars or equal-length arrays (one value per study) and return a float
or an array accordingly. Impossible inputs raise :class:`~sci_evidence.errors.InputError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sci_evidence.errors import InputError

__all__ = ["sd_change", "correlation_from_change"]


def _as_array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric", value=value) from None
    if arr.ndim > 1:
        raise InputError(f"{name} must be a number or a 1-D sequence (got shape {arr.shape})")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(f"{name} must be finite; element {i + 1} is {arr.ravel()[i]!r}")
    return arr


def _sd(name: str, value: Any, *, positive: bool = False) -> np.ndarray:
    arr = _as_array(name, value)
    bad = arr <= 0 if positive else arr < 0
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        need = "> 0" if positive else ">= 0"
        raise InputError(
            f"{name} must be {need} (a standard deviation); element {i + 1} is "
            f"{float(arr.ravel()[i])!r}"
        )
    return arr


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
        raise InputError(f"give one value per study in each argument (lengths: {shapes})") from None


def _out(arr: np.ndarray, scalar: bool) -> float | np.ndarray:
    return float(arr) if scalar else arr


def sd_change(sd1: Any, sd2: Any, r: Any) -> float | np.ndarray:
    """SD of the change from baseline: ``√(sd1² + sd2² − 2·r·sd1·sd2)``.

    Parameters
    ----------
    sd1, sd2 : float or array-like
        SDs at baseline and follow-up (≥ 0).
    r : float or array-like
        Correlation between baseline and follow-up measurements, in [−1, 1]. Cochrane
        suggests borrowing it from a study that reports all three SDs
        (:func:`correlation_from_change`) and a sensitivity analysis over plausible values.

    Returns
    -------
    float or numpy.ndarray
        A float for scalar input, an array otherwise.

    Raises
    ------
    InputError
        Negative or non-finite SD, ``|r| > 1``, or lengths that do not match.

    References
    ----------
    Higgins JPT, Li T, Deeks JJ (eds). Cochrane Handbook for Systematic Reviews of
    Interventions, version 6.4 (2023), §6.5.2.8 "Imputing standard deviations for changes
    from baseline".
    """
    scalar = all(np.ndim(v) == 0 for v in (sd1, sd2, r))
    a = _sd("sd1", sd1)
    b = _sd("sd2", sd2)
    rr = _as_array("r", r)
    bad = np.abs(rr) > 1
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"r must lie in [-1, 1] (a correlation); element {i + 1} is {float(rr.ravel()[i])!r}"
        )
    a, b, rr = _broadcast(sd1=a, sd2=b, r=rr)
    var = a * a + b * b - 2.0 * rr * a * b
    # var >= (a - b)² >= 0 in exact arithmetic; clip the rounding of r = 1, a = b.
    return _out(np.sqrt(np.maximum(var, 0.0)), scalar)


def correlation_from_change(sd1: Any, sd2: Any, sd_change: Any) -> float | np.ndarray:
    """Correlation implied by reported baseline, follow-up and change SDs.

    ``r = (sd1² + sd2² − sd_change²) / (2·sd1·sd2)`` (Cochrane Handbook §6.5.2.8).

    Raises
    ------
    InputError
        A baseline or follow-up SD that is not > 0 (the correlation is undefined), a negative
        change SD, or an impossible combination: ``sd_change`` must lie in
        ``[|sd1 − sd2|, sd1 + sd2]``, otherwise ``|r|`` would exceed 1 (the message gives the
        range; check the reported SDs are not SEs or from different samples).
    """
    scalar = all(np.ndim(v) == 0 for v in (sd1, sd2, sd_change))
    a = _sd("sd1", sd1, positive=True)
    b = _sd("sd2", sd2, positive=True)
    c = _sd("sd_change", sd_change)
    a, b, c = _broadcast(sd1=a, sd2=b, sd_change=c)
    r = (a * a + b * b - c * c) / (2.0 * a * b)
    # a relative tolerance of 1e-12 only forgives floating-point rounding at |r| = 1
    bad = np.abs(r) > 1 + 1e-12
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        lo, hi = abs(a.ravel()[i] - b.ravel()[i]), a.ravel()[i] + b.ravel()[i]
        raise InputError(
            f"sd_change={c.ravel()[i]:g} is impossible with sd1={a.ravel()[i]:g} and "
            f"sd2={b.ravel()[i]:g} (element {i + 1}): it must lie in [{lo:g}, {hi:g}], "
            "otherwise |r| > 1; check that the SDs are not standard errors"
        )
    return _out(np.clip(r, -1.0, 1.0), scalar)
