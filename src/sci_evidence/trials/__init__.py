"""Patient-level trial analysis and trial design by simulation (issue 7).

Public API
----------
analyze_trial(df, *, natural_history=None, ...) -> TrialAnalysis
read_trial_table(path) -> DataFrame ;  validate_trial_table(df) -> DataFrame
design_from_evidence(nh_conversion, nh_scores=None, ...) -> TrialDesign
simulate_power(design, n_per_arm, *, n_simulations=10_000, seed=0) -> PowerResult
statistics: proportion_ci, poisson_binomial_pmf, poisson_binomial_test, two_by_two_effect,
ancova, mean_ci ; natural history: conversion_benchmarks, expected_conversion, compare_arm
"""

from sci_evidence.trials.analysis import ArmSummary, TrialAnalysis, TwoArmComparison, analyze_trial
from sci_evidence.trials.design import (
    PowerResult,
    Stratum,
    TrialDesign,
    design_from_evidence,
    simulate_power,
)
from sci_evidence.trials.io import read_trial_table, validate_trial_table
from sci_evidence.trials.natural_history import (
    compare_arm,
    conversion_benchmarks,
    expected_conversion,
)
from sci_evidence.trials.stats import (
    ancova,
    mean_ci,
    poisson_binomial_pmf,
    poisson_binomial_test,
    proportion_ci,
    two_by_two_effect,
)

__all__ = [
    "ArmSummary",
    "PowerResult",
    "Stratum",
    "TrialAnalysis",
    "TrialDesign",
    "TwoArmComparison",
    "analyze_trial",
    "ancova",
    "compare_arm",
    "conversion_benchmarks",
    "design_from_evidence",
    "expected_conversion",
    "mean_ci",
    "poisson_binomial_pmf",
    "poisson_binomial_test",
    "proportion_ci",
    "read_trial_table",
    "simulate_power",
    "two_by_two_effect",
    "validate_trial_table",
]
