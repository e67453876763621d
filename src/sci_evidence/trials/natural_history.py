"""Spontaneous AIS conversion in a trial: an arm's observed conversions against each
patient's expected probability of improving without treatment (exact Poisson–binomial test).

The expected probabilities come from the one natural-history engine,
:mod:`sci_evidence.evidence.natural_history` (re-exported here for the trial modules), so a
trial design and the review assume the same spontaneous recovery for a stratum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sci_evidence.evidence.natural_history import (
    ACUTE_UNTIL_DAY,
    CHRONIC_FROM_DAY,
    ExpectedConversion,
    conversion_benchmarks,
    expected_conversion,
    phase_of,
)
from sci_evidence.trials.stats import poisson_binomial_test

__all__ = [
    "ACUTE_UNTIL_DAY",
    "CHRONIC_FROM_DAY",
    "ArmNaturalHistory",
    "ExpectedConversion",
    "compare_arm",
    "conversion_benchmarks",
    "expected_conversion",
    "phase_of",
]


@dataclass(frozen=True)
class ArmNaturalHistory:
    """Observed conversions of one arm against spontaneous recovery.

    ``expected`` sums the patients' central probabilities; ``expected_low``/``expected_high``
    sum their lowest/highest benchmark. ``pval`` is the exact one-sided Poisson–binomial
    P(X ≥ observed) with the central probabilities, and ``pval_range`` the same with the
    highest and the lowest benchmarks (the uncertainty of the benchmark itself).
    ``observed_upper``/``pval_upper`` count ambiguous patients as converted (sensitivity).
    """

    arm: str
    n: int
    n_without_benchmark: int
    observed: int
    observed_upper: int
    expected: float
    expected_low: float
    expected_high: float
    pval: float
    pval_range: tuple[float, float]
    pval_upper: float

    def to_dict(self) -> dict:
        return {
            "arm": self.arm,
            "n": self.n,
            "n_without_benchmark": self.n_without_benchmark,
            "observed": self.observed,
            "observed_upper": self.observed_upper,
            "expected": self.expected,
            "expected_low": self.expected_low,
            "expected_high": self.expected_high,
            "pval": self.pval,
            "pval_range": list(self.pval_range),
            "pval_upper": self.pval_upper,
        }


def compare_arm(
    arm: str,
    converted_lower: np.ndarray,
    converted_upper: np.ndarray,
    p: np.ndarray,
    p_low: np.ndarray,
    p_high: np.ndarray,
) -> ArmNaturalHistory:
    """Exact comparison of an arm's conversions with per-patient spontaneous probabilities.

    Patients with a NaN probability (no benchmark) are left out and counted in
    ``n_without_benchmark``.
    """
    p = np.asarray(p, float)
    ok = np.isfinite(p)
    lo = np.asarray(converted_lower, bool)[ok]
    up = np.asarray(converted_upper, bool)[ok]
    p, pl, ph = p[ok], np.asarray(p_low, float)[ok], np.asarray(p_high, float)[ok]
    obs, obs_up = int(lo.sum()), int(up.sum())
    main = poisson_binomial_test(obs, p)
    # The lowest benchmarks make the observed count most surprising (smallest p-value).
    p_best = poisson_binomial_test(obs, pl).pval
    p_worst = poisson_binomial_test(obs, ph).pval
    return ArmNaturalHistory(
        arm,
        int(ok.sum()),
        int((~ok).sum()),
        obs,
        obs_up,
        float(p.sum()),
        float(pl.sum()),
        float(ph.sum()),
        main.pval,
        (p_best, p_worst),
        poisson_binomial_test(obs_up, p).pval,
    )
