"""Confidence intervals for one study's proportion x/n, exact (Clopper–Pearson) or Wilson.

Normal-approximation (Wald) intervals on a transformed scale misbehave for the small, sparse
studies of single-arm stem-cell trials: 0/50 gets a zero-width interval, 0/1 an interval
centred on a made-up rate (Schwarzer et al. 2019, Res Synth Methods 10:476). These two
intervals are defined for every 0 ≤ x ≤ n, n ≥ 1:

* Clopper–Pearson (1934), the "exact" interval of R's ``binom.test`` and the default of R
  meta's ``metaprop`` forest plots::

      lower = Beta⁻¹(α/2; x, n − x + 1)      (0 when x = 0)
      upper = Beta⁻¹(1 − α/2; x + 1, n − x)  (1 when x = n)

* Wilson (1927) score interval, R's ``prop.test(x, n, correct = FALSE)``, with
  p̂ = x/n and z = Φ⁻¹(1 − α/2)::

      (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from sci_evidence.errors import InputError
from sci_evidence.meta.validation import check_level, check_option

__all__ = ["proportion_ci", "PROPORTION_CI_METHODS"]

#: Methods of :func:`proportion_ci`.
PROPORTION_CI_METHODS = ("clopper-pearson", "wilson")


def _counts(x: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    arrs = []
    for name, v in (("x", x), ("n", n)):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a count (a whole number)", value=v) from None
        if a.ndim > 1:
            raise InputError(f"{name} must be a number or a 1-D sequence (got shape {a.shape})")
        bad = ~np.isfinite(a) | (a != np.round(a)) | (a < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise InputError(
                f"{name} must be a non-negative whole number; element {i + 1} is "
                f"{float(a.ravel()[i])!r}"
            )
        arrs.append(a)
    try:
        xa, na = np.broadcast_arrays(*arrs)
    except ValueError:
        raise InputError(
            f"x has {arrs[0].size} element(s) but n has {arrs[1].size}; give one per study"
        ) from None
    bad = (na < 1) | (xa > na)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"need 0 <= x <= n and n >= 1; element {i + 1} has x={xa.ravel()[i]:g}, "
            f"n={na.ravel()[i]:g}"
        )
    return xa.astype(np.float64), na.astype(np.float64)


def proportion_ci(
    x: Any, n: Any, *, method: str = "clopper-pearson", level: float = 0.95
) -> tuple[Any, Any]:
    """Confidence interval ``(lower, upper)`` of the proportion ``x/n``.

    Parameters
    ----------
    x, n : int or array-like of int
        Events and sample size; ``0 <= x <= n``, ``n >= 1``.
    method : {"clopper-pearson", "wilson"}, default "clopper-pearson"
        Exact Clopper–Pearson interval (R ``binom.test``) or Wilson score interval without
        continuity correction (R ``prop.test(correct = FALSE)``). ``"exact"`` is accepted
        for Clopper–Pearson.
    level : float, default 0.95
        Confidence level (a fraction, or a percentage as in metafor).

    Returns
    -------
    (lower, upper)
        Floats for scalar input, arrays of the broadcast shape otherwise; on the proportion
        scale (0–1).

    Raises
    ------
    InputError
        Counts that are not whole numbers, ``x > n``, ``n < 1`` or an unknown method.

    References
    ----------
    Clopper CJ, Pearson ES (1934). Biometrika 26:404–413. Wilson EB (1927). JASA 22:209–212.
    """
    method = check_option(
        "method", method, PROPORTION_CI_METHODS, aliases={"exact": "clopper-pearson"}
    )
    lvl = check_level(level)
    scalar = np.ndim(x) == 0 and np.ndim(n) == 0
    xa, na = _counts(x, n)
    alpha = 1.0 - lvl
    if method == "clopper-pearson":
        with np.errstate(invalid="ignore", divide="ignore"):
            lower = np.where(xa > 0, special.betaincinv(xa, na - xa + 1.0, alpha / 2), 0.0)
            upper = np.where(xa < na, special.betaincinv(xa + 1.0, na - xa, 1.0 - alpha / 2), 1.0)
    else:
        z = float(special.ndtri(1.0 - alpha / 2))
        p = xa / na
        z2n = z * z / na
        centre = p + z2n / 2.0
        half = z * np.sqrt(p * (1.0 - p) / na + z2n / (4.0 * na))
        # the bounds are exactly 0 at x = 0 and 1 at x = n; avoid rounding residue there
        lower = np.where(xa > 0, (centre - half) / (1.0 + z2n), 0.0)
        upper = np.where(xa < na, (centre + half) / (1.0 + z2n), 1.0)
    if scalar:
        return float(lower), float(upper)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
