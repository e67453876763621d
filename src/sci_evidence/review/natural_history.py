"""Single-arm results read against spontaneous recovery.

An uncontrolled series saying "7 of 10 improved by one AIS grade" means little until it is
set beside what recovery alone gives for the same baseline grade, level and phase: after an
acute complete injury about 11–30% convert within a year; after a chronic (> 1 year) complete
injury about 5.6% convert over years 1–5 (Kirshblum 2004). This module computes the
expected conversion and the expected score change from the natural-history tables of the
evidence base, and the excess of the observed result over it.

Conventions (stated in the report's methods):

* Phase of the comparator: studies treating ``acute`` or ``subacute`` injuries are compared
  with first-year conversion (``phase = "acute"`` rows); ``chronic`` studies with the
  chronic-phase rows; ``mixed``/``unknown`` phase uses the acute rows (the conservative,
  larger expectation) and says so.
* Expected conversion of a study is :math:`\\sum_g n_g p_g / \\sum_g n_g` over its baseline
  grades ``g`` (counts ``ais_a``–``ais_d`` of the arm); :math:`p_g` is the n-weighted mean
  of the "any conversion" percentages of the matching rows (level group first, else all
  levels).
* The expected rate is treated as known: the excess is :math:`\\hat p - p_0` with the Wilson
  score interval of :math:`\\hat p` shifted by :math:`p_0`, and the exact binomial test of
  :math:`x` out of :math:`n` against :math:`p_0` (R ``binom.test(x, n, p0)``).
* Expected score change over the study's weeks after injury: difference of the EMSCI
  cross-sectional means between the two stages (nearest weeks available), standard error
  :math:`\\sqrt{s_1^2/n_1 + s_2^2/n_2}` (the stages are not the same patients). Beyond 52
  weeks the spontaneous change is taken as 0 (chronic plateau; Kirshblum 2004; the
  Harness 2008 control group changed by 0.1 ± 0.5 points over 6 months).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

GRADES = ("A", "B", "C", "D")
_SCORE_NAMES = {
    "motor_total": "TMS",
    "lt_total": "LT",
    "pp_total": "PP",
    "uems": "UEMS",
    "lems": "LEMS",
}
WEEKS_PER_MONTH = 52.0 / 12.0


@dataclass(frozen=True)
class ExpectedRate:
    """Expected spontaneous conversion (≥ 1 AIS grade) for one baseline grade."""

    baseline_grade: str
    level_group: str
    phase: str
    rate: float | None
    n: int | None
    sources: tuple[str, ...]
    note: str = ""


def comparator_phase(injury_phase: str) -> tuple[str, str]:
    """Natural-history phase used for a study's ``injury_phase``, with a note."""
    phase = (injury_phase or "").strip().lower()
    if phase in ("acute", "subacute"):
        return "acute", ""
    if phase == "chronic":
        return "chronic", ""
    return "acute", f"injury phase '{phase or 'unknown'}': first-year (acute) rate used, the larger"


def expected_conversion(
    nh: pd.DataFrame, *, baseline_grade: str, level_group: str = "", phase: str = "acute"
) -> ExpectedRate:
    """Expected share improving by ≥ 1 AIS grade without treatment.

    Parameters
    ----------
    nh : DataFrame
        ``natural_history_conversion`` frame of the evidence base.
    baseline_grade : {"A", "B", "C", "D"}
    level_group : str
        ``tetraplegia``, ``paraplegia`` or ``""``/``mixed`` for all levels.
    phase : {"acute", "chronic"}

    Returns
    -------
    ExpectedRate
        ``rate`` is a fraction (None when no row matches). Rows with endpoint ``improved``
        are used; without them the ``to_grade`` rows above the baseline grade are summed per
        source.
    """
    rows = nh[(nh["baseline_grade"] == baseline_grade) & (nh["phase"] == phase)]
    note = ""
    if level_group in ("tetraplegia", "paraplegia"):
        same = rows[rows["level_group"] == level_group]
        if len(_rates(same, baseline_grade)):
            rows = same
        else:
            note = f"no {level_group} rows: all levels used"
    rates = _rates(rows, baseline_grade)
    if rates.empty:
        return ExpectedRate(baseline_grade, level_group, phase, None, None, (), "no matching rows")
    known = rates.dropna(subset=["n"])
    if len(known):
        rate = float(np.sum(known["n"] * known["rate"]) / np.sum(known["n"]))
        n = int(known["n"].sum())
    else:
        rate, n = float(rates["rate"].mean()), None
    return ExpectedRate(
        baseline_grade, level_group, phase, rate, n, tuple(rates["source"].unique()), note
    )


def _rates(rows: pd.DataFrame, grade: str) -> pd.DataFrame:
    """One (source, rate, n) per source population: any conversion as a fraction."""
    out = []
    improved = rows[rows["endpoint"] == "improved"]
    for _, r in improved.iterrows():
        if pd.notna(r["percent"]):
            out.append((r["source"], r.get("population", ""), r["percent"] / 100.0, r["n"]))
    if not out:
        above = [g for g in ("B", "C", "D", "E") if g > grade]
        to = rows[(rows["endpoint"] == "to_grade") & rows["to_grade"].isin(above)]
        for (src, pop), g in to.groupby(["source", "population"], sort=False):
            if g["percent"].notna().all():
                n = g["n"].dropna()
                out.append(
                    (src, pop, float(g["percent"].sum()) / 100.0, n.iloc[0] if len(n) else pd.NA)
                )
    df = pd.DataFrame(out, columns=["source", "population", "rate", "n"])
    df["n"] = pd.to_numeric(df["n"], errors="coerce")
    return df


def study_expected_conversion(
    nh: pd.DataFrame, *, grade_counts: dict[str, int], level_group: str, injury_phase: str
) -> tuple[float | None, str]:
    """Expected conversion of a study's treated arm from its baseline-grade mix.

    Returns ``(rate, note)``; ``rate`` is None when a grade has no comparator or the mix is
    unknown.
    """
    phase, note = comparator_phase(injury_phase)
    total = sum(v for v in grade_counts.values() if v)
    if total == 0:
        return None, "baseline grades not reported"
    acc = 0.0
    notes = [note] if note else []
    for g, cnt in grade_counts.items():
        if not cnt:
            continue
        exp = expected_conversion(nh, baseline_grade=g, level_group=level_group, phase=phase)
        if exp.rate is None and phase == "chronic":
            # the chronic tables only cover complete injuries; no chronic figure for B-D
            return None, f"no chronic-phase comparator for baseline AIS {g}"
        if exp.rate is None:
            return None, f"no comparator for baseline AIS {g}"
        if exp.note:
            notes.append(exp.note)
        acc += cnt * exp.rate
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
    Interval: Wilson score interval of :math:`x/n` (R ``prop.test(x, n, correct=FALSE)``)
    minus :math:`p_0`. Test: exact two-sided binomial test of :math:`x` against
    :math:`p_0` (R ``binom.test(x, n, p0)``).
    """
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
    the change is 0 with standard error 0 (chronic plateau; see the module notes).
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
    if level_group in ("tetraplegia", "paraplegia"):
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
