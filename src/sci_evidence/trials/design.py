"""Trial design by simulation: power and sample size of a randomised two-arm trial.

Patients are drawn from a mix of baseline strata (AIS grade × tetraplegia/paraplegia); each
stratum carries its spontaneous conversion probability (natural-history benchmarks) and the
spontaneous course of a motor score (mean and SD at the baseline and follow-up weeks, EMSCI).
Patients are randomised by permuted blocks within strata, some drop out, the assumed
treatment effect is applied, and the planned analysis is run on every simulated trial —
all vectorised over simulations with a seeded numpy Generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence.errors import InputError
from sci_evidence.trials._simulation import (
    STREAM_BLOCK,
    _blocks_per_step,
    _PowerJob,
    simulate_blocks,
)
from sci_evidence.trials.natural_history import conversion_benchmarks, expected_conversion

ENDPOINTS = ("conversion", "motor")
ANALYSES = {"conversion": ("cmh", "chi2"), "motor": ("ancova", "ttest")}
#: Scores of the ``motor`` endpoint.
MOTOR_SCORES = ("TMS", "UEMS", "LEMS")
#: Default baseline mix: a typical acute MSC trial enrolling motor-complete injuries.
DEFAULT_MIX: dict[tuple[str, str], float] = {
    ("A", "tetraplegia"): 0.4,
    ("A", "paraplegia"): 0.3,
    ("B", "tetraplegia"): 0.2,
    ("B", "paraplegia"): 0.1,
}


@dataclass(frozen=True)
class Stratum:
    """A baseline stratum: its share of patients, spontaneous conversion probability and
    the spontaneous course of the motor score (mean, SD at baseline and follow-up)."""

    grade: str
    level_group: str
    weight: float
    p_convert: float
    score_mean_baseline: float = float("nan")
    score_sd_baseline: float = float("nan")
    score_mean_followup: float = float("nan")
    score_sd_followup: float = float("nan")
    conversion_sources: str = ""


@dataclass(frozen=True)
class TrialDesign:
    """A randomised two-arm trial to simulate.

    Attributes
    ----------
    strata : tuple of Stratum
        Baseline mix with the natural-history numbers of each stratum.
    endpoint : {"conversion", "motor"}, default "conversion"
    odds_ratio : float, default 1.0
        Treatment effect on conversion: :math:`\\mathrm{logit}\\,p_1 = \\mathrm{logit}\\,p_0
        + \\log OR` within each stratum.
    motor_gain : float, default 0.0
        Treatment effect on the follow-up motor score (points added before clipping to the
        score's range).
    score : str, default "TMS"
        Motor score of the ``motor`` endpoint (``TMS``, ``UEMS``, ``LEMS``).
    correlation : float, default 0.8
        Assumed within-patient correlation of baseline and follow-up scores (the EMSCI
        tables are cross-sectional, so this is an assumption, stated here).
    dropout : float, default 0.1
        Probability that a patient has no follow-up (complete-case analysis).
    alpha : float, default 0.05
        Two-sided significance level.
    block_size : int, default 4
        Permuted-block size of the stratified randomisation.
    analysis : str, optional
        ``conversion``: ``"cmh"`` (Cochran–Mantel–Haenszel χ² stratified by baseline
        stratum, no continuity correction; the default) or ``"chi2"`` (Pearson χ², pooled
        two-proportion z test). ``motor``: ``"ancova"`` (change ~ arm + baseline score +
        stratum, t test of the arm; the default) or ``"ttest"`` (pooled-variance t test of
        the change, conservative under stratified randomisation).
    """

    strata: tuple[Stratum, ...]
    endpoint: str = "conversion"
    odds_ratio: float = 1.0
    motor_gain: float = 0.0
    score: str = "TMS"
    correlation: float = 0.8
    dropout: float = 0.1
    alpha: float = 0.05
    block_size: int = 4
    analysis: str | None = None
    phase: str = "acute"
    baseline_week: int = 2
    followup_week: int = 52

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINTS:
            raise InputError(f"endpoint must be one of {', '.join(ENDPOINTS)}", value=self.endpoint)
        if self.analysis is not None and self.analysis not in ANALYSES[self.endpoint]:
            raise InputError(
                f"analysis for the {self.endpoint} endpoint must be "
                f"{' or '.join(ANALYSES[self.endpoint])}",
                value=self.analysis,
            )
        if not self.strata:
            raise InputError("a design needs at least one stratum")
        if not (self.odds_ratio > 0 and math.isfinite(self.odds_ratio)):
            raise InputError("odds_ratio must be a finite number > 0", value=self.odds_ratio)
        if not math.isfinite(self.motor_gain):
            raise InputError("motor_gain must be a finite number of points", value=self.motor_gain)
        if self.score not in MOTOR_SCORES:
            raise InputError(f"score must be {', '.join(MOTOR_SCORES)}", value=self.score)
        if not 0 <= self.dropout < 1:
            raise InputError("dropout must lie in [0, 1)", value=self.dropout)
        if not 0 < self.alpha < 1:
            raise InputError("alpha must lie in (0, 1)", value=self.alpha)
        if not -1 < self.correlation < 1:
            raise InputError("correlation must lie in (-1, 1)", value=self.correlation)
        if self.block_size < 2 or self.block_size % 2:
            raise InputError("block_size must be an even number >= 2", value=self.block_size)
        if self.endpoint == "motor":
            for s in self.strata:
                if not np.isfinite(
                    [
                        s.score_mean_baseline,
                        s.score_sd_baseline,
                        s.score_mean_followup,
                        s.score_sd_followup,
                    ]
                ).all():
                    raise InputError(
                        f"no {self.score} course for stratum {s.grade}/{s.level_group}"
                    )

    @property
    def planned_analysis(self) -> str:
        return self.analysis or ANALYSES[self.endpoint][0]

    def with_effect(self, *, odds_ratio: float | None = None, motor_gain: float | None = None):
        """The same design with another treatment effect."""
        kw: dict[str, Any] = {}
        if odds_ratio is not None:
            kw["odds_ratio"] = odds_ratio
        if motor_gain is not None:
            kw["motor_gain"] = motor_gain
        return replace(self, **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["strata"] = [asdict(s) for s in self.strata]
        d["analysis"] = self.planned_analysis
        return _json_safe(d)

    def strata_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(s) for s in self.strata])


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def design_from_evidence(
    natural_history_conversion: pd.DataFrame,
    natural_history_scores: pd.DataFrame | None = None,
    *,
    mix: dict[tuple[str, str], float] | None = None,
    phase: str = "acute",
    score: str = "TMS",
    cohort: str = "EMSCI",
    baseline_week: int | None = None,
    followup_week: int | None = None,
    **kw: Any,
) -> TrialDesign:
    """Build a :class:`TrialDesign` from the evidence base's natural-history frames.

    Parameters
    ----------
    natural_history_conversion : DataFrame
        ``natural_history_conversion``; each stratum's ``p_convert`` is the n-weighted mean of
        its applicable benchmarks (see :func:`~sci_evidence.trials.natural_history.
        expected_conversion`).
    natural_history_scores : DataFrame, optional
        ``natural_history_scores``; rows of ``cohort`` (substring, default ``"EMSCI"``),
        ``score``, the stratum's grade and level group at ``baseline_week`` and
        ``followup_week`` give the spontaneous course. Defaults: weeks 2 → 52 in the acute
        phase; 52 → 52 in the chronic phase (the tables end at one year, so a chronic trial
        is simulated with no spontaneous change, only the spread of scores at one year).
    phase : {"acute", "chronic"}, default "acute"
        Which conversion benchmarks (and default weeks) apply.
    mix : dict, optional
        ``{(grade, level_group): weight}``; default :data:`DEFAULT_MIX`.
    **kw
        Passed to :class:`TrialDesign` (``endpoint``, ``odds_ratio``, ``motor_gain``,
        ``dropout``, ``alpha``, ``correlation``, ``block_size``, ``analysis``).
    """
    if phase not in ("acute", "chronic"):
        raise InputError("phase must be acute or chronic", value=phase)
    default_weeks = (2, 52) if phase == "acute" else (52, 52)
    baseline_week = default_weeks[0] if baseline_week is None else baseline_week
    followup_week = default_weeks[1] if followup_week is None else followup_week
    if mix is None and phase == "chronic":
        # Only complete injuries have a published chronic conversion benchmark.
        mix = {("A", "tetraplegia"): 0.6, ("A", "paraplegia"): 0.4}
    mix = dict(mix or DEFAULT_MIX)
    total = float(sum(mix.values()))
    if total <= 0:
        raise InputError("mix weights must sum to a positive number")
    bench = conversion_benchmarks(natural_history_conversion)
    strata = []
    for (grade, group), w in mix.items():
        exp = expected_conversion(grade, group, phase, bench)
        if exp is None:
            raise InputError(f"no {phase} conversion benchmark for AIS {grade} {group}")
        course = [np.nan] * 4
        if natural_history_scores is not None:
            course = _score_course(
                natural_history_scores, score, grade, group, cohort, baseline_week, followup_week
            )
        strata.append(
            Stratum(
                grade, group, w / total, exp.p, *course, conversion_sources="; ".join(exp.sources)
            )
        )
    return TrialDesign(
        tuple(strata),
        score=score,
        phase=phase,
        baseline_week=baseline_week,
        followup_week=followup_week,
        **kw,
    )


def _score_course(nh, score, grade, group, cohort, week0, week1) -> list[float]:
    rows = nh[
        (nh["score"] == score)
        & (nh["baseline_grade"] == grade)
        & (nh["level_group"] == group)
        & nh["cohort"].astype(str).str.contains(cohort, regex=False)
    ]
    out = []
    for week in (week0, week1):
        r = rows[pd.to_numeric(rows["week"]) == week]
        if r.empty:
            weeks = sorted(pd.to_numeric(rows["week"]).dropna().astype(int).unique())
            raise InputError(
                f"no {score} at week {week} for AIS {grade} {group} in {cohort}; weeks: {weeks}"
            )
        out += [float(r["mean"].iloc[0]), float(r["sd"].iloc[0])]
    return out


@dataclass(frozen=True)
class PowerPoint:
    """Power of one sample size: the share of simulated trials that rejected H0."""

    n_per_arm: int
    power: float
    mc_se: float
    n_simulations: int
    mean_analysed: float


@dataclass(frozen=True)
class PowerResult:
    """Simulated power over sample sizes, with the design, seed and run time."""

    design: TrialDesign
    points: tuple[PowerPoint, ...]
    seed: int | None
    elapsed_seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(p) for p in self.points])

    def to_dict(self) -> dict:
        """``{"designs": [{"n_per_arm", "power", "mc_se"}, ...]}`` plus the settings."""
        return _json_safe(
            {
                "designs": [
                    {"n_per_arm": p.n_per_arm, "power": p.power, "mc_se": p.mc_se}
                    for p in self.points
                ],
                "n_simulations": self.points[0].n_simulations if self.points else 0,
                "seed": self.seed,
                "design": self.design.to_dict(),
            }
        )

    def summary(self) -> str:
        d = self.design
        effect = (
            f"odds ratio {d.odds_ratio:g}"
            if d.endpoint == "conversion"
            else f"{d.score} gain {d.motor_gain:g} points"
        )
        lines = [
            f"Simulated power: {d.endpoint} endpoint, {effect}, analysis {d.planned_analysis}, "
            f"alpha {d.alpha:g}, dropout {d.dropout:.0%}, seed {self.seed}",
        ]
        for p in self.points:
            lines.append(
                f"  n/arm {p.n_per_arm:5d}: power {p.power:.3f} (MC SE {p.mc_se:.3f}, "
                f"{p.n_simulations} trials, {p.mean_analysed:.1f} analysed)"
            )
        return "\n".join(lines)

    def plot(self, **kw):
        from sci_evidence.trials.plots import power_curve_plot

        return power_curve_plot(self, **kw)


def simulate_power(
    design: TrialDesign,
    n_per_arm: int | list[int] | tuple[int, ...],
    *,
    n_simulations: int = 10_000,
    seed: int | None = 0,
    chunk: int = 2_000,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
) -> PowerResult:
    """Power of ``design`` at each sample size by simulating ``n_simulations`` trials.

    The simulated trials of one sample size are cut into blocks of :data:`STREAM_BLOCK`;
    block ``b`` draws from its own stream ``SeedSequence([seed, n_per_arm], spawn_key=(b,))``.
    So a result depends on the seed, the sample size and the number of simulations only: not
    on which other sizes were asked for, nor on how many blocks are simulated together
    (``chunk``, lowered further to keep one chunk's arrays within :data:`CHUNK_BYTES`). The
    Monte-Carlo standard error is :math:`\\sqrt{\\hat p(1-\\hat p)/S}`.

    Parameters
    ----------
    n_per_arm : int or sequence of int
        Patients per arm (>= 2).
    n_simulations : int, default 10_000
    seed : int >= 0 or None, default 0
        None draws fresh entropy (not reproducible).
    chunk : int, default 2_000
        Most simulated trials per vectorised step (rounded to whole blocks).
    progress : callable, optional
        ``progress(done, total)`` after each step, counting simulated trials over all sizes.
    client : dask.distributed.Client, optional
        Simulate the steps on this Dask cluster instead of in this process (see
        :func:`sci_evidence.cluster.connect`). Each step is simulated by the same function
        from the same streams, so the power is identical to a local run with the same seed.

    Raises
    ------
    InputError
        A size below 2, fewer than one simulation, a negative seed, or a request whose
        smallest step (one block of trials) would not fit in the memory available; the
        message gives the memory it would need.
    """
    sizes = [n_per_arm] if np.isscalar(n_per_arm) else list(n_per_arm)
    if not sizes:
        raise InputError("n_per_arm needs at least one sample size")
    for n in sizes:
        if not _is_int(n) or n < 2:
            raise InputError("n_per_arm must be an integer of at least 2", value=n)
    sizes = [int(n) for n in sizes]
    if not _is_int(n_simulations) or n_simulations < 1:
        raise InputError("n_simulations must be an integer of at least 1", value=n_simulations)
    n_simulations = int(n_simulations)
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise InputError("seed must be a non-negative integer", value=seed)
    if not _is_int(chunk) or chunk < 1:
        raise InputError("chunk must be an integer of at least 1", value=chunk)
    steps = {n: _blocks_per_step(design, n, int(chunk)) for n in sizes}
    total = n_simulations * len(sizes)
    t0 = time.perf_counter()
    points = []
    done_before = 0
    for n in sizes:
        entropy = [seed, n] if seed is not None else np.random.SeedSequence().entropy
        job = _PowerJob(design, n, entropy, n_simulations)
        n_blocks = -(-n_simulations // STREAM_BLOCK)
        spans = [(b, min(b + steps[n], n_blocks)) for b in range(0, n_blocks, steps[n])]
        counts = [0, 0]  # trials rejecting H0, patients analysed (integers: order-free sums)

        def place(chunk: tuple[int, int, int], counts: list[int] = counts) -> int:
            counts[0] += chunk[1]
            counts[1] += chunk[2]
            return chunk[0]

        def report(done: int, _total: int, before: int = done_before) -> None:
            if progress is not None:
                progress(before + done, total)

        if client is not None:
            from sci_evidence.meta.distributed_runs import run_on_client

            run_on_client(client, simulate_blocks, job, spans, place, report, n_simulations)
        else:
            done = 0
            for a, b in spans:
                done += place(simulate_blocks(job, a, b))
                report(done, n_simulations)
        done_before += n_simulations
        rejected, analysed = counts
        power = rejected / n_simulations
        points.append(
            PowerPoint(
                n,
                power,
                float(np.sqrt(power * (1 - power) / n_simulations)),
                n_simulations,
                analysed / n_simulations,
            )
        )
    return PowerResult(design, tuple(points), seed, time.perf_counter() - t0)


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)
