"""Back-transformations from an effect size's analysis scale to the scale people read.

A pooled log risk ratio is reported as a risk ratio, a pooled logit proportion as a proportion.
:func:`back_transform` does this for every measure of :mod:`sci_evidence.meta.effects`, and
:func:`measure_scale` says what the numbers are (label, scale, null value) for tables and plots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sci_evidence.errors import InputError

__all__ = [
    "MeasureScale",
    "back_transform",
    "log_scale_measures",
    "measure_scale",
    "ipft",
    "ipft_hm",
    "pft",
    "harmonic_mean",
]


@dataclass(frozen=True)
class MeasureScale:
    """What the numbers of a measure mean, before and after back-transformation.

    Attributes
    ----------
    measure : str
        The measure code (``"RR"``, ``"PFT"``, ...).
    label : str
        What the back-transformed value is, e.g. ``"Risk ratio"``, ``"Proportion"``.
    analysis_label : str
        What ``yi`` is, e.g. ``"Log risk ratio"``, ``"Freeman-Tukey transformed proportion"``.
    scale : str
        One of ``"ratio"``, ``"proportion"``, ``"rate"``, ``"difference"``, ``"mean"``,
        ``"standardized"``, ``"generic"``.
    transform : str
        The back-transformation :func:`back_transform` applies: ``"exp"``, ``"expit"``,
        ``"sin2"``, ``"square"``, ``"ipft_hm"``, ``"identity"``, or ``"none"`` (IRFT: no
        back-transformation is offered).
    null_value : float or None
        The value of "no effect" on the back-transformed scale (1 for ratios, 0 for
        differences); None where no such value exists (proportions, rates, means).
    needs_ni : bool
        True when the back-transformation needs the sample sizes (PFT).
    """

    measure: str
    label: str
    analysis_label: str
    scale: str
    transform: str
    null_value: float | None
    needs_ni: bool = False

    @property
    def transformed(self) -> bool:
        """True when ``yi`` is not on the scale people read (a back-transformation applies)."""
        return self.transform not in ("identity",)

    @property
    def analysis_null(self) -> float | None:
        """The value of "no effect" on the analysis scale of ``yi``: 0 for log ratios (log 1)
        and for differences; None where the measure has no null value."""
        if self.null_value is None:
            return None
        return float(np.log(self.null_value)) if self.transform == "exp" else self.null_value

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the fields."""
        return asdict(self)


_SCALES: dict[str, MeasureScale] = {
    m.measure: m
    for m in (
        MeasureScale("RR", "Risk ratio", "Log risk ratio", "ratio", "exp", 1.0),
        MeasureScale("OR", "Odds ratio", "Log odds ratio", "ratio", "exp", 1.0),
        MeasureScale("PETO", "Odds ratio (Peto)", "Log odds ratio (Peto)", "ratio", "exp", 1.0),
        MeasureScale("HR", "Hazard ratio", "Log hazard ratio", "ratio", "exp", 1.0),
        MeasureScale(
            "IRR", "Incidence rate ratio", "Log incidence rate ratio", "ratio", "exp", 1.0
        ),
        MeasureScale("ROM", "Ratio of means", "Log ratio of means", "ratio", "exp", 1.0),
        MeasureScale("RD", "Risk difference", "Risk difference", "difference", "identity", 0.0),
        MeasureScale(
            "IRD",
            "Incidence rate difference",
            "Incidence rate difference",
            "difference",
            "identity",
            0.0,
        ),
        MeasureScale("MD", "Mean difference", "Mean difference", "difference", "identity", 0.0),
        MeasureScale(
            "SMD",
            "Standardized mean difference (Hedges' g)",
            "Standardized mean difference (Hedges' g)",
            "standardized",
            "identity",
            0.0,
        ),
        MeasureScale("MC", "Mean change", "Mean change", "difference", "identity", 0.0),
        MeasureScale(
            "SMCC",
            "Standardized mean change (change-score SD)",
            "Standardized mean change (change-score SD)",
            "standardized",
            "identity",
            0.0,
        ),
        MeasureScale(
            "SMCR",
            "Standardized mean change (raw-score SD)",
            "Standardized mean change (raw-score SD)",
            "standardized",
            "identity",
            0.0,
        ),
        MeasureScale("PR", "Proportion", "Proportion", "proportion", "identity", None),
        MeasureScale("PLN", "Proportion", "Log proportion", "proportion", "exp", None),
        MeasureScale("PLO", "Proportion", "Logit proportion", "proportion", "expit", None),
        MeasureScale(
            "PAS", "Proportion", "Arcsine square-root proportion", "proportion", "sin2", None
        ),
        MeasureScale(
            "PFT",
            "Proportion",
            "Freeman-Tukey double arcsine proportion",
            "proportion",
            "ipft_hm",
            None,
            needs_ni=True,
        ),
        MeasureScale(
            "AS",
            "Arcsine risk difference",
            "Arcsine square-root risk difference",
            "difference",
            "identity",
            0.0,
        ),
        MeasureScale("IR", "Incidence rate", "Incidence rate", "rate", "identity", None),
        MeasureScale("IRS", "Incidence rate", "Square-root incidence rate", "rate", "square", None),
        MeasureScale(
            "IRFT", "Incidence rate", "Freeman-Tukey incidence rate", "rate", "none", None
        ),
        MeasureScale("IRLN", "Incidence rate", "Log incidence rate", "rate", "exp", None),
        MeasureScale("MN", "Mean", "Mean", "mean", "identity", None),
        MeasureScale("GEN", "Effect size", "Effect size", "generic", "identity", None),
    )
}


def log_scale_measures() -> tuple[str, ...]:
    """The measures analysed on the log scale (back-transformed by ``exp``): ratios."""
    return tuple(m for m, s in _SCALES.items() if s.transform == "exp")


def measure_scale(measure: str | None) -> MeasureScale:
    """Describe the scale of ``measure`` (``None`` means a generic, untransformed effect).

    Raises
    ------
    InputError
        For an unknown measure; the message lists the known ones.
    """
    key = "GEN" if measure is None else str(measure).strip().upper()
    try:
        return _SCALES[key]
    except KeyError:
        raise InputError(
            f"unknown measure; choose one of {', '.join(_SCALES)}", column="measure", value=measure
        ) from None


def harmonic_mean(ni: Any) -> float:
    r"""Harmonic mean :math:`1/\overline{(1/n_i)}`, ignoring missing values (as metafor)."""
    n = np.asarray(ni, dtype=float).ravel()
    n = n[~np.isnan(n)]
    if n.size == 0 or np.any(n <= 0):
        raise InputError("sample sizes for the harmonic mean must be positive", column="ni")
    return float(1.0 / np.mean(1.0 / n))


def pft(p: Any, n: Any) -> np.ndarray:
    r"""Freeman-Tukey double arcsine of a proportion ``p`` with sample size ``n``.

    .. math:: t = \tfrac12\left[\arcsin\sqrt{x/(n+1)} + \arcsin\sqrt{(x+1)/(n+1)}\right],
              \quad x = p\,n

    (metafor's ``transf.pft``; Miller's 1978 scale is twice this).
    """
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(t: Any, n: Any) -> np.ndarray:
    r"""Inverse Freeman-Tukey transformation (Miller 1978) at sample size ``n``.

    .. math:: p = \tfrac12\left[1 - \mathrm{sgn}(\cos 2t)
              \sqrt{1 - \left(\sin 2t + (\sin 2t - 1/\sin 2t)/n\right)^2}\right]

    Values beyond the transform of 0 or 1 at ``n`` are clamped to 0 or 1; a value where the
    square root is undefined gives NaN (as metafor's ``transf.ipft``).
    """
    t = np.asarray(t, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sin(2 * t)
        p = 0.5 * (1 - np.sign(np.cos(2 * t)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
        p = np.where(t > pft(1.0, n), 1.0, p)
        p = np.where(t < pft(0.0, n), 0.0, p)
    return np.asarray(p, dtype=float)


def ipft_hm(t: Any, ni: Any) -> np.ndarray:
    """Inverse Freeman-Tukey at the harmonic mean of ``ni`` (metafor's ``transf.ipft.hm``)."""
    return ipft(t, harmonic_mean(ni))


def back_transform(
    measure: str | None, values: Any, *, ni: Any = None, per_study: bool = False
) -> np.ndarray:
    r"""Back-transform ``values`` from ``measure``'s analysis scale.

    Parameters
    ----------
    measure : str or None
        The effect-size measure (``None``: no transformation).
    values : array_like
        Values on the analysis scale (pooled estimate, CI or PI limits, study ``yi``).
    ni : array_like, optional
        Sample sizes; required for ``PFT``. By default the inverse is evaluated at their
        harmonic mean (the usual choice for pooled values, metafor's ``transf.ipft.hm``).
    per_study : bool, default False
        ``PFT`` only: ``ni`` has one entry per value and each value is inverted at its own
        sample size (``transf.ipft``), as for study-level estimates.

    Returns
    -------
    numpy.ndarray
        The back-transformed values (same shape as ``values``).

    Notes
    -----
    ============================  ================================================
    measure                       back-transformation
    ============================  ================================================
    RR, OR, PETO, HR, IRR, ROM,   :math:`e^x`
    PLN, IRLN
    PLO                           :math:`1/(1+e^{-x})`
    IRS                           :math:`x^2` (0 for negative x)
    PAS                           :math:`\sin^2 x` (clamped to [0, 1] outside
                                  [0, pi/2], as metafor's ``transf.iarcsin``)
    PFT                           :func:`ipft` at the harmonic mean of ``ni``
    others                        identity
    ============================  ================================================

    Raises
    ------
    InputError
        Unknown measure, ``IRFT`` (no back-transformation), or ``PFT`` without ``ni``.

    Examples
    --------
    >>> back_transform("OR", [0.0]).tolist()
    [1.0]
    >>> float(back_transform("PFT", [0.6], ni=[10, 10, 15, 20, 20])[0].round(4))
    0.3061
    """
    scale = measure_scale(measure)
    x = np.asarray(values, dtype=float)
    kind = scale.transform
    if kind == "identity":
        return x.copy()
    if kind == "exp":
        with np.errstate(over="ignore"):
            return np.exp(x)
    if kind == "expit":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-x))
    if kind == "none":
        raise InputError(
            f"no back-transformation for {scale.measure}; use IR or IRLN for pooled rates",
            column="measure",
            value=measure,
        )
    if kind == "square":
        # metafor's transf.isqrt: negative roots mean a rate of 0.
        return np.where(x < 0, 0.0, x**2)
    if kind == "sin2":
        p = np.sin(x) ** 2
        p = np.where(x < 0, 0.0, p)
        return np.where(x > np.pi / 2, 1.0, p)
    # ipft_hm
    if ni is None:
        raise InputError(
            "back-transforming PFT needs the sample sizes ni (inverse at their harmonic mean)",
            column="ni",
        )
    if per_study:
        n = np.asarray(ni, dtype=float)
        if n.shape != x.shape:
            raise InputError(
                f"per_study=True needs one ni per value ({x.size}), got {n.size}", column="ni"
            )
        return ipft(x, n)
    return ipft_hm(x, ni)
