"""Spontaneous AIS conversion: each patient's expected probability of improving without
treatment, and an arm's observed conversions against it (exact Poisson–binomial test).

The benchmarks come from the evidence base's ``natural_history_conversion`` frame (columns in
``docs/evidence_schema.md``); functions here take that frame as a DataFrame so they stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sci_evidence.isncsci.levels import AIS_GRADES
from sci_evidence.trials.stats import poisson_binomial_test

#: Baseline exams up to this day since injury are "acute"; from ``CHRONIC_FROM_DAY`` "chronic".
ACUTE_UNTIL_DAY = 30
CHRONIC_FROM_DAY = 365
_NEEDED = ("source", "level_group", "baseline_grade", "phase", "endpoint", "to_grade", "percent")


def phase_of(baseline_day: float) -> str:
    """``"acute"`` (≤ 30 days since injury), ``"chronic"`` (≥ 365 days) or ``"subacute"``."""
    if baseline_day <= ACUTE_UNTIL_DAY:
        return "acute"
    if baseline_day >= CHRONIC_FROM_DAY:
        return "chronic"
    return "subacute"


def conversion_benchmarks(natural_history: pd.DataFrame) -> pd.DataFrame:
    """One probability of improving ≥ 1 AIS grade per published benchmark.

    Parameters
    ----------
    natural_history : DataFrame
        The evidence base's ``natural_history_conversion`` frame.

    Returns
    -------
    DataFrame
        ``source, level_group, baseline_grade, phase, window, n, p, derived_from``: one row per
        (source, population, baseline grade, phase, window). ``p`` is taken, in this order,
        from an ``improved`` row; for baseline B from a ``motor_incomplete`` row (B → C or
        better is a one-grade improvement); or from the sum of ``to_grade`` rows above the
        baseline grade when they cover every better grade (``C/D`` counts for C and D).
        Groups with none of these are left out (an ``unchanged`` share alone does not say
        how many got worse).
    """
    missing = [c for c in _NEEDED if c not in natural_history.columns]
    if missing:
        raise ValueError(f"natural-history frame lacks columns: {', '.join(missing)}")
    nh = natural_history.copy()
    for col in ("population", "window", "n", "database"):
        if col not in nh.columns:
            nh[col] = pd.NA
    keys = ["source", "population", "level_group", "baseline_grade", "phase", "window"]
    rows = []
    for group_key, g in nh.groupby(keys, dropna=False, sort=False):
        source, population, level_group, grade, phase, window = group_key
        if grade not in AIS_GRADES[:4]:
            continue
        p, how = _improved_share(g, grade)
        if p is None:
            continue
        n = pd.to_numeric(g["n"], errors="coerce").dropna()
        rows.append(
            {
                "source": source,
                "population": population,
                "level_group": level_group,
                "baseline_grade": grade,
                "phase": phase,
                "window": window,
                "n": float(n.iloc[0]) if len(n) else np.nan,
                "p": min(1.0, max(0.0, p)),
                "derived_from": how,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "source",
            "population",
            "level_group",
            "baseline_grade",
            "phase",
            "window",
            "n",
            "p",
            "derived_from",
        ],
    )


def _improved_share(g: pd.DataFrame, grade: str) -> tuple[float | None, str]:
    pct = pd.to_numeric(g["percent"], errors="coerce")
    improved = pct[g["endpoint"] == "improved"].dropna()
    if len(improved):
        return float(improved.iloc[0]) / 100, "improved"
    if grade == "B":
        mi = pct[g["endpoint"] == "motor_incomplete"].dropna()
        if len(mi):
            return float(mi.iloc[0]) / 100, "motor_incomplete"
    to = g[(g["endpoint"] == "to_grade") & pct.notna()]
    if len(to):
        better = set(AIS_GRADES[AIS_GRADES.index(grade) + 1 :])
        covered: set[str] = set()
        total = 0.0
        for target, value in zip(
            to["to_grade"].astype(str), pd.to_numeric(to["percent"]), strict=False
        ):
            grades = set(target.replace("/", ",").split(","))
            if grades <= better and not grades & covered:
                covered |= grades
                total += float(value)
        # E is rarely tabulated apart from D; require the grades up to D to be covered.
        if better - {"E"} <= covered:
            return total / 100, "to_grade sum"
    return None, ""


@dataclass(frozen=True)
class ExpectedConversion:
    """A patient's spontaneous probability of converting, and the benchmarks behind it.

    ``p`` is the n-weighted mean of the applicable benchmarks (plain mean where no n is
    given); ``p_low``/``p_high`` the smallest/largest benchmark; ``sources`` their names.
    """

    p: float
    p_low: float
    p_high: float
    k: int
    sources: tuple[str, ...]
    phase_used: str
    level_group_used: str


def expected_conversion(
    baseline_grade: str, level_group: str, phase: str, benchmarks: pd.DataFrame
) -> ExpectedConversion | None:
    """Spontaneous conversion probability for one baseline grade, level group and phase.

    Benchmarks for the patient's level group (``tetraplegia``/``paraplegia``) and mixed
    samples (``all``) both apply. A ``subacute`` baseline (31–364 days) has no benchmark of
    its own: the ``acute`` ones give ``p`` (they overstate late spontaneous recovery, so the
    comparison errs against the treatment) and the range spans acute and chronic.
    Returns None when no benchmark applies (e.g. grade D in the chronic phase).
    """
    b = benchmarks[benchmarks["baseline_grade"] == baseline_grade]
    b = b[b["level_group"].isin([level_group, "all"])]
    phases = ["acute", "chronic"] if phase == "subacute" else [phase]
    central_phase = "acute" if phase == "subacute" else phase
    rng_rows = b[b["phase"].isin(phases)]
    central = b[b["phase"] == central_phase]
    if central.empty:
        return None
    if rng_rows.empty:
        rng_rows = central
    n = central["n"].to_numpy(float)
    p = central["p"].to_numpy(float)
    ok = np.isfinite(n)
    mean = float(np.sum(n[ok] * p[ok]) / np.sum(n[ok])) if ok.any() else float(p.mean())
    groups = sorted(set(central["level_group"]))
    return ExpectedConversion(
        mean,
        float(rng_rows["p"].min()),
        float(rng_rows["p"].max()),
        int(len(rng_rows)),
        tuple(sorted(set(rng_rows["source"].astype(str)))),
        central_phase,
        "+".join(groups),
    )


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
