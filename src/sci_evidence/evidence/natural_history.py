"""Spontaneous recovery after traumatic SCI: the one natural-history engine.

The review (single-arm series against spontaneous conversion and score change) and the trials
(expected conversions per patient, trial design) both ask this module, so a stratum has one
expected rate everywhere. The numbers come from the evidence base's
``natural_history_conversion`` and ``natural_history_scores`` frames (``docs/evidence_schema.md``;
the raw notes are ``evidence/data/raw/natural_history.md``, which quote Kirshblum et al. 2021,
J Neurotrauma 38:1267, Tables 2 and 6, and the cohort papers).

Which rate a stratum gets (baseline grade × level group × phase)
----------------------------------------------------------------
1. **One benchmark per source population** (:func:`conversion_benchmarks`): the share improving
   by ≥ 1 AIS grade is read from an ``improved`` row; for baseline B also from a
   ``motor_incomplete`` row (B → C or better is exactly a one-grade improvement); otherwise
   from the ``to_grade`` rows when they cover every better grade up to D. A share
   ``unchanged`` alone is not used (it does not say how many got worse or were lost).
2. **The most direct benchmarks give the central rate** (:func:`expected_conversion`), taken
   from the first non-empty tier of: (a) the stratum's own level group (``tetraplegia`` /
   ``paraplegia``) followed up for a year or more; (b) mixed-level samples (``level_group`` =
   ``all``) followed up for a year or more; (c) and (d) the same two with a shorter window
   (to rehabilitation discharge, 3 months). Why:

   * Level first: conversion is higher in tetraplegia than in paraplegia (Kirshblum 2021;
     Marino 2020: 71.4% of tetraplegic AIS A remained A, 90.9% at T1-9), so pooling
     level-specific cohorts with mixed ones pulls each toward the other. Partial-level
     cohorts (``other``: "above T10", "above T11") are subsets of the mixed cohorts of the
     same papers (Spiess 2009) or mix cervical and high-thoracic injuries; they are never
     used, which also avoids counting the same patients twice (as Kirshblum 2016 "all" and
     its tetraplegia subgroup would be).
   * One year first: the review's and the trials' outcomes are read at up to a year and more,
     and most conversion happens by 6–9 months (Kirshblum 2021, Table 10); a rate to
     rehabilitation discharge (DeVivo 2007, Moslavac 2008) or at 3 months (Ariji 2022)
     understates it and is used only where no one-year figure exists (AIS B paraplegia), with
     a note.
   * Within the tier, the n-weighted mean of the benchmarks that state n, else the plain mean.

   The source values this gives for the bundled base (pinned by the tests): acute AIS A
   tetraplegia 30.0% (Marino 2011), paraplegia 20.2% (n-weighted Table 2 mixed cohorts:
   Marino 1999, Burns 2003, Spiess 2009, Kirshblum 2016); AIS B tetraplegia 58.5% (mean of
   Marino 2011 67% and SCIMS 2011–2019 50%), paraplegia 53.6% (DeVivo 2007, Moslavac 2008,
   to discharge); AIS C tetraplegia 80.2% (Kirshblum 2016 76.9% of 78, Marino 2011 82.5% of
   109), paraplegia 85.8% (Lee 2016); AIS D tetraplegia 14.1% (Marino 2011), paraplegia
   12.5% (Lee 2016); chronic AIS A 5.6% (Kirshblum 2004, years 1–5) for both levels.
3. **The range** ``p_low``–``p_high`` spans every applicable benchmark (own level and mixed,
   any window; for a ``subacute`` baseline the acute and chronic ones), the uncertainty of the
   benchmark itself.

A ``subacute`` baseline (31–364 days) has no benchmark of its own: the acute rate is used (it
overstates late spontaneous recovery, so the comparison errs against the treatment); a
``mixed``/``unknown`` phase likewise uses the acute rate and says so.

Expected score change: difference of the EMSCI cross-sectional means between the two weeks
(nearest weeks available), standard error :math:`\\sqrt{s_1^2/n_1 + s_2^2/n_2}` (the stages are
not the same patients); beyond 52 weeks the change is 0 (chronic plateau; Kirshblum 2004; the
Harness 2008 control group changed by 0.1 ± 0.5 points over 6 months).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GRADES = ("A", "B", "C", "D")
_AIS = ("A", "B", "C", "D", "E")
LEVEL_GROUPS = ("tetraplegia", "paraplegia")
#: Baseline exams up to this day since injury are "acute"; from ``CHRONIC_FROM_DAY`` "chronic".
ACUTE_UNTIL_DAY = 30
CHRONIC_FROM_DAY = 365
#: A benchmark followed up for at least this many months is a "one-year" benchmark.
ONE_YEAR_MONTHS = 12.0
WEEKS_PER_MONTH = 52.0 / 12.0
_NEEDED = ("source", "level_group", "baseline_grade", "phase", "endpoint", "to_grade", "percent")
BENCHMARK_COLUMNS = (
    "source",
    "population",
    "level_group",
    "baseline_grade",
    "phase",
    "window",
    "window_months",
    "n",
    "p",
    "derived_from",
)


def phase_of(baseline_day: float) -> str:
    """``"acute"`` (≤ 30 days since injury), ``"chronic"`` (≥ 365 days) or ``"subacute"``."""
    if baseline_day <= ACUTE_UNTIL_DAY:
        return "acute"
    if baseline_day >= CHRONIC_FROM_DAY:
        return "chronic"
    return "subacute"


def conversion_benchmarks(natural_history: pd.DataFrame) -> pd.DataFrame:
    """One probability of improving ≥ 1 AIS grade per published source population.

    Parameters
    ----------
    natural_history : DataFrame
        The evidence base's ``natural_history_conversion`` frame.

    Returns
    -------
    DataFrame
        Columns :data:`BENCHMARK_COLUMNS`: one row per (source, population, level group,
        baseline grade, phase, window). ``p`` comes from an ``improved`` row; for baseline B
        from a ``motor_incomplete`` row; or from the sum of ``to_grade`` rows above the
        baseline grade when they cover every better grade up to D (``C/D`` counts for C and
        D). Groups with none of these are left out. ``window_months`` is NaN where the
        follow-up ends at an unstated time (rehabilitation discharge).

    Raises
    ------
    ValueError
        When a needed column is missing.
    """
    missing = [c for c in _NEEDED if c not in natural_history.columns]
    if missing:
        raise ValueError(f"natural-history frame lacks columns: {', '.join(missing)}")
    nh = natural_history.copy()
    # A table without window_months does not say any row is shorter than a year.
    if "window_months" not in nh.columns:
        nh["window_months"] = ONE_YEAR_MONTHS
    for col in ("population", "window", "n"):
        if col not in nh.columns:
            nh[col] = pd.NA
    keys = ["source", "population", "level_group", "baseline_grade", "phase", "window"]
    rows = []
    for group_key, g in nh.groupby(keys, dropna=False, sort=False):
        source, population, level_group, grade, phase, window = group_key
        if grade not in GRADES:
            continue
        p, how = _improved_share(g, grade)
        if p is None:
            continue
        n = pd.to_numeric(g["n"], errors="coerce").dropna()
        months = pd.to_numeric(g["window_months"], errors="coerce").dropna()
        rows.append(
            {
                "source": source,
                "population": population,
                "level_group": level_group,
                "baseline_grade": grade,
                "phase": phase,
                "window": window,
                "window_months": float(months.iloc[0]) if len(months) else np.nan,
                "n": float(n.iloc[0]) if len(n) else np.nan,
                "p": min(1.0, max(0.0, p)),
                "derived_from": how,
            }
        )
    return pd.DataFrame(rows, columns=list(BENCHMARK_COLUMNS))


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
        better = set(_AIS[_AIS.index(grade) + 1 :])
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
    """Spontaneous probability of improving ≥ 1 AIS grade for one stratum.

    ``p`` is the central rate (see the module notes for the tiers), ``p_low``/``p_high`` the
    smallest/largest applicable benchmark, ``k`` and ``sources`` the applicable benchmarks,
    ``central_sources`` those behind ``p`` and ``n`` their patients (None when unstated).
    ``note`` says where a less direct tier was used.
    """

    baseline_grade: str
    level_group: str
    phase: str
    p: float
    p_low: float
    p_high: float
    k: int
    sources: tuple[str, ...]
    central_sources: tuple[str, ...]
    n: int | None
    phase_used: str
    level_group_used: str
    note: str = ""

    @property
    def rate(self) -> float:
        """Alias of ``p``: the expected share converting."""
        return self.p


def expected_conversion(
    baseline_grade: str, level_group: str, phase: str, benchmarks: pd.DataFrame
) -> ExpectedConversion | None:
    """Spontaneous conversion probability for one baseline grade, level group and phase.

    Parameters
    ----------
    baseline_grade : {"A", "B", "C", "D"}
    level_group : str
        ``tetraplegia`` or ``paraplegia``; anything else (``""``, ``mixed``) uses the
        mixed-level benchmarks only.
    phase : {"acute", "subacute", "chronic"}
        ``subacute`` takes ``p`` from the acute benchmarks, the range over acute and chronic.
    benchmarks : DataFrame
        From :func:`conversion_benchmarks`.

    Returns
    -------
    ExpectedConversion or None
        None when no benchmark applies (e.g. grades B–D in the chronic phase).
    """
    b = benchmarks[benchmarks["baseline_grade"] == baseline_grade]
    own = level_group in LEVEL_GROUPS
    b = b[b["level_group"].isin([level_group, "all"] if own else ["all"])]
    central_phase = "acute" if phase == "subacute" else phase
    phases = ["acute", "chronic"] if phase == "subacute" else [central_phase]
    in_phase = b[b["phase"] == central_phase]
    if in_phase.empty:
        return None
    one_year = pd.to_numeric(in_phase["window_months"], errors="coerce") >= ONE_YEAR_MONTHS
    tiers = [
        (in_phase["level_group"] == level_group) & one_year,
        (in_phase["level_group"] == "all") & one_year,
        (in_phase["level_group"] == level_group) & ~one_year,
        (in_phase["level_group"] == "all") & ~one_year,
    ]
    tier = next(i for i, t in enumerate(tiers) if t.any())
    central = in_phase[tiers[tier].to_numpy()]
    notes = []
    if own and tier in (1, 3):
        notes.append(f"no {level_group} benchmark: mixed-level cohorts used")
    if tier >= 2:
        notes.append("no one-year benchmark: shorter follow-up used (an underestimate)")
    n = central["n"].to_numpy(float)
    p = central["p"].to_numpy(float)
    ok = np.isfinite(n)
    mean = float(np.sum(n[ok] * p[ok]) / np.sum(n[ok])) if ok.any() else float(p.mean())
    rng = b[b["phase"].isin(phases)]
    return ExpectedConversion(
        baseline_grade=baseline_grade,
        level_group=level_group,
        phase=phase,
        p=mean,
        p_low=float(rng["p"].min()),
        p_high=float(rng["p"].max()),
        k=int(len(rng)),
        sources=tuple(sorted(set(rng["source"].astype(str)))),
        central_sources=tuple(dict.fromkeys(central["source"].astype(str))),
        n=int(n[ok].sum()) if ok.any() else None,
        phase_used=central_phase,
        level_group_used="+".join(sorted(set(central["level_group"].astype(str)))),
        note="; ".join(notes),
    )


def comparator_phase(injury_phase: str) -> tuple[str, str]:
    """Natural-history phase for a study's ``injury_phase`` (``acute``, ``subacute``,
    ``chronic``), with a note when the phase is mixed or unknown (acute rates are used)."""
    phase = (injury_phase or "").strip().lower()
    if phase in ("acute", "subacute", "chronic"):
        return phase, ""
    return "acute", f"injury phase '{phase or 'unknown'}': first-year (acute) rate used, the larger"


def study_expected_conversion(
    benchmarks: pd.DataFrame,
    *,
    grade_counts: dict[str, int],
    level_group: str,
    injury_phase: str,
    cache: dict | None = None,
) -> tuple[float | None, str]:
    """Expected conversion of a study arm from its baseline-grade mix.

    :math:`\\sum_g n_g p_g / \\sum_g n_g` over the arm's baseline grades ``g`` (counts
    ``ais_a``–``ais_d``), :math:`p_g` from :func:`expected_conversion`.

    Returns ``(rate, note)``; ``rate`` is None when a grade has no comparator or the mix is
    unknown. ``cache`` (a dict kept by the caller for one ``benchmarks`` frame) remembers
    each stratum's :func:`expected_conversion`.
    """
    cache = {} if cache is None else cache
    phase, note = comparator_phase(injury_phase)
    total = sum(v for v in grade_counts.values() if v)
    if total == 0:
        return None, "baseline grades not reported"
    acc = 0.0
    notes = [note] if note else []
    for g, cnt in grade_counts.items():
        if not cnt:
            continue
        key = (g, level_group, phase)
        if key not in cache:
            cache[key] = expected_conversion(g, level_group, phase, benchmarks)
        exp = cache[key]
        if exp is None and phase == "chronic":
            # the chronic tables only cover complete injuries; no chronic figure for B-D
            return None, f"no chronic-phase comparator for baseline AIS {g}"
        if exp is None:
            return None, f"no comparator for baseline AIS {g}"
        if exp.note:
            notes.append(f"AIS {g}: {exp.note}")
        acc += cnt * exp.p
    return acc / total, "; ".join(dict.fromkeys(notes))


@dataclass(frozen=True)
class Excess:
    """Observed proportion minus the expected spontaneous rate."""

    observed: float
    expected: float
    excess: float
    ci_lb: float
    ci_ub: float
    pval: float


def excess_over_expected(x: int, n: int, p0: float, *, level: float = 0.95) -> Excess:
    """Excess of ``x/n`` over a known rate ``p0``.

    Notes
    -----
    The expected rate is treated as known. Interval: Wilson score interval of :math:`x/n`
    (R ``prop.test(x, n, correct=FALSE)``) minus :math:`p_0`. Test: exact two-sided
    binomial test of :math:`x` against :math:`p_0` (R ``binom.test(x, n, p0)``).
    """
    from scipy import stats

    if n <= 0 or not 0 <= x <= n:
        raise ValueError("need 0 <= x <= n and n > 0")
    z = stats.norm.ppf(0.5 + level / 2)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    pval = float(stats.binomtest(int(x), int(n), float(p0)).pvalue)
    return Excess(p, p0, p - p0, centre - half - p0, centre + half - p0, pval)


@dataclass(frozen=True)
class ExpectedChange:
    """Expected spontaneous score change between two times after injury."""

    outcome: str
    baseline_grade: str
    level_group: str
    week_from: float
    week_to: float
    change: float | None
    se: float | None
    source: str
    note: str = ""


def expected_score_change(
    scores: pd.DataFrame,
    *,
    outcome: str,
    baseline_grade: str,
    level_group: str,
    week_from: float,
    week_to: float,
    cohort: str = "EMSCI",
) -> ExpectedChange:
    """Spontaneous change of a score between two weeks after injury (EMSCI/Sygen means).

    Weeks beyond 52 are set to 52 (the tables end there); when both weeks are beyond 52
    the change is 0 with standard error 0 (chronic plateau; see the module notes). A mixed
    level group averages the tetraplegia and paraplegia changes
    (:math:`\\mathrm{se} = \\sqrt{\\sum \\mathrm{se}_i^2}/m`).
    """
    if week_from >= 52 and week_to >= 52:
        return ExpectedChange(
            outcome,
            baseline_grade,
            level_group,
            week_from,
            week_to,
            0.0,
            0.0,
            "chronic plateau (Kirshblum 2004; Harness 2008)",
            "beyond one year after injury scores barely change",
        )
    rows = scores[
        (scores["outcome"] == outcome)
        & (scores["baseline_grade"] == baseline_grade)
        & (scores["cohort"].str.startswith(cohort))
    ]
    if level_group in LEVEL_GROUPS:
        rows = rows[rows["level_group"] == level_group]
        lg_note = ""
    else:
        lg_note = "level mixed: mean of tetraplegia and paraplegia"
    rows = rows.dropna(subset=["mean", "sd", "n", "week"])
    rows = rows[rows["week"] > 0]
    if rows.empty:
        return ExpectedChange(
            outcome, baseline_grade, level_group, week_from, week_to, None, None, "", "no rows"
        )
    weeks = np.sort(rows["week"].astype(float).unique())
    w1 = float(weeks[np.argmin(np.abs(weeks - min(week_from, 52.0)))])
    w2 = float(weeks[np.argmin(np.abs(weeks - min(week_to, 52.0)))])
    changes, variances = [], []
    for _, g in rows.groupby("level_group"):
        a, b = g[g["week"] == w1], g[g["week"] == w2]
        if a.empty or b.empty:
            continue
        a, b = a.iloc[0], b.iloc[0]
        changes.append(float(b["mean"] - a["mean"]))
        variances.append(float(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"]) if w1 != w2 else 0.0)
    if not changes:
        return ExpectedChange(
            outcome, baseline_grade, level_group, w1, w2, None, None, "", "no rows"
        )
    change = float(np.mean(changes))
    se = float(np.sqrt(np.sum(variances)) / len(variances))
    src = str(rows["cohort"].iloc[0])
    return ExpectedChange(outcome, baseline_grade, level_group, w1, w2, change, se, src, lg_note)
