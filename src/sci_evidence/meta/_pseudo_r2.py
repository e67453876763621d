"""R² of a meta-regression: the share of tau² its moderators account for (metafor's ``R2``).

Its own module because the baseline fit (no moderators) goes through the lean path of
:mod:`sci_evidence.meta._lean_fit`, which :mod:`sci_evidence.meta.heterogeneity` must not
import (the result classes import heterogeneity for the Q-profile interval).
"""

from __future__ import annotations

import numpy as np

from sci_evidence.meta._lean_fit import LEAN_METHODS, tau2_icpt
from sci_evidence.meta.tau2 import fit_tau2

__all__ = ["pseudo_r2"]


def pseudo_r2(method: str, yi: np.ndarray, vi: np.ndarray, control: dict, tau2: float) -> float:
    r"""Percent of tau² accounted for by the moderators (metafor's ``R2``):

    .. math:: R^2 = \max\bigl(0,\ 100\,(\hat\tau^2_0 - \hat\tau^2)/\hat\tau^2_0\bigr)

    with :math:`\hat\tau^2_0` from the same estimator and control without moderators
    (0 when :math:`\hat\tau^2_0 = 0`). Lopez-Lopez et al.
    (2014), doi:10.1111/bmsp.12002.
    """
    base = tau2_icpt(yi, vi, method) if not control and method in LEAN_METHODS else None
    if base is None:  # a hard case (or another estimator): the general driver
        k = yi.shape[0]
        base = fit_tau2(method, yi, vi, np.ones((k, 1)), control, intercept_only=True).tau2
    if base <= 0:
        return 0.0
    return max(0.0, 100.0 * (base - tau2) / base)
