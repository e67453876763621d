"""The simulation engine of :func:`sci_evidence.trials.design.simulate_power`: random streams
per block of simulated trials, the memory bound of one vectorised step, stratified permuted-block
randomisation and the planned analyses, all vectorised over simulated trials.

Kept apart from :mod:`sci_evidence.trials.design` (what a design is, and its results) so that
each module stays small; nothing here is public.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import chdtrc, ndtr, stdtr

from sci_evidence.errors import InputError

if TYPE_CHECKING:
    from sci_evidence.trials.design import TrialDesign

#: Upper bound of each score, for clipping simulated scores.
SCORE_RANGE = {"TMS": 100.0, "UEMS": 50.0, "LEMS": 50.0, "LT": 112.0, "PP": 112.0}

#: Simulated trials per random stream (see :func:`~sci_evidence.trials.design.simulate_power`).
STREAM_BLOCK = 64
#: Memory one vectorised step may use.
CHUNK_BYTES = 256 * 2**20


def _bytes_per_patient(design: TrialDesign) -> int:
    """Peak bytes per simulated patient of one step, measured with tracemalloc (43 B for
    conversion and 162 B for motor/ANCOVA with four strata) and rounded up, plus the
    randomisation's per-stratum arrays."""
    base = 64 if design.endpoint == "conversion" else 192
    return base + 4 * len(design.strata)


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else the free physical pages, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1024 or unit == "EB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    raise AssertionError("unreachable")


def _blocks_per_step(design: TrialDesign, n_per_arm: int, chunk: int) -> int:
    """How many stream blocks one vectorised step simulates; refuses what cannot fit."""
    per_block = STREAM_BLOCK * 2 * n_per_arm * _bytes_per_patient(design)
    available = _available_memory()
    if available is not None and per_block > available:
        raise InputError(
            f"n_per_arm={n_per_arm} needs about {_format_bytes(per_block)} of memory to "
            f"simulate {STREAM_BLOCK} trials at a time; {_format_bytes(available)} is available"
        )
    budget = CHUNK_BYTES if available is None else min(CHUNK_BYTES, available // 2)
    return max(1, min(-(-chunk // STREAM_BLOCK), budget // per_block))


@dataclass
class _Streams:
    """The random streams of one step: block ``i`` has ``rows[i]`` simulated trials and draws
    only from ``rngs[i]``, so grouping blocks into steps does not change any draw."""

    rngs: list[np.random.Generator]
    rows: list[int]

    @property
    def size(self) -> int:
        return sum(self.rows)

    def random(self, cols: int) -> np.ndarray:
        return self._stack(lambda g, r: g.random((r, cols)))

    def standard_normal(self, cols: int) -> np.ndarray:
        return self._stack(lambda g, r: g.standard_normal((r, cols)))

    def integers(self, high: int, shape: tuple[int, ...]) -> np.ndarray:
        return self._stack(lambda g, r: g.integers(0, high, (r, *shape)))

    def _stack(self, draw: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
        parts = [draw(g, r) for g, r in zip(self.rngs, self.rows, strict=True)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


@dataclass(frozen=True)
class _PowerJob:
    """One sample size of a power simulation: picklable, so its blocks can be simulated on
    local threads or on Dask workers with the same draws."""

    design: TrialDesign
    n_per_arm: int
    #: entropy of the size's streams: ``[seed, n_per_arm]``, or fresh OS entropy
    entropy: Any
    n_simulations: int


def simulate_blocks(job: _PowerJob, first: int, last: int) -> tuple[int, int, int]:
    """Simulate stream blocks ``first`` … ``last - 1`` of ``job``: (trials simulated, trials
    rejecting H0, patients analysed). Block ``b`` draws only from
    ``SeedSequence(job.entropy, spawn_key=(b,))``, so the counts do not depend on how blocks
    are grouped nor on the machine that simulates them."""
    rngs = []
    rows = []
    for b in range(first, last):
        ss = np.random.SeedSequence(job.entropy, spawn_key=(b,))
        rngs.append(np.random.default_rng(ss))
        rows.append(min(STREAM_BLOCK, job.n_simulations - b * STREAM_BLOCK))
    rej, n_an = _simulate_chunk(job.design, job.n_per_arm, _Streams(rngs, rows))
    return sum(rows), int(rej.sum()), int(n_an.sum())


def _block_patterns(block: int) -> np.ndarray:
    """Every arrangement of block/2 treated and block/2 control slots (equally likely)."""
    from itertools import combinations

    rows = []
    for treated in combinations(range(block), block // 2):
        row = np.zeros(block, bool)
        row[list(treated)] = True
        rows.append(row)
    return np.array(rows)


def _randomise(strata: np.ndarray, k: int, block: int, rng: _Streams) -> np.ndarray:
    """Permuted blocks within strata: True = treated. ``strata`` is (S, N) of stratum codes.

    Each stratum has its own sequence of blocks, each block one of the C(b, b/2) balanced
    arrangements drawn uniformly (the same law as a random permutation of the block); the
    i-th patient enrolled into a stratum takes the i-th slot of its sequence.
    """
    s, n = strata.shape
    n_blocks = -(-n // block)
    patterns = _block_patterns(block)
    pick = rng.integers(len(patterns), (k, n_blocks))
    seq = patterns[pick].reshape(s, k, n_blocks * block)
    rank = np.zeros((s, n), np.int32)
    for j in range(k):
        in_j = strata == j
        # Within stratum j the running count minus one is the patient's slot.
        rank += in_j * (np.cumsum(in_j, axis=1, dtype=np.int32) - 1)
    return seq[np.arange(s)[:, None], strata, rank]


def _simulate_chunk(d: TrialDesign, n_per_arm: int, rng: _Streams) -> tuple[np.ndarray, np.ndarray]:
    n = 2 * n_per_arm
    k = len(d.strata)
    w = np.array([st.weight for st in d.strata], float)
    strata = np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right")
    strata = np.minimum(strata, k - 1)
    treated = _randomise(strata, k, d.block_size, rng)
    observed = rng.random(n) >= d.dropout
    if d.endpoint == "conversion":
        p0 = np.array([st.p_convert for st in d.strata], float)[strata]
        p1 = _shift_odds(p0, d.odds_ratio)
        y = rng.random(n) < np.where(treated, p1, p0)
        if d.planned_analysis == "cmh":
            pval = _cmh_pvalue(y, treated, observed, strata, k)
        else:
            pval = _chi2_pvalue(y, treated, observed)
    else:
        top = SCORE_RANGE.get(d.score, 100.0)
        mb = np.array([st.score_mean_baseline for st in d.strata])[strata]
        sb = np.array([st.score_sd_baseline for st in d.strata])[strata]
        mf = np.array([st.score_mean_followup for st in d.strata])[strata]
        sf = np.array([st.score_sd_followup for st in d.strata])[strata]
        z1 = rng.standard_normal(n)
        z2 = rng.standard_normal(n)
        r = d.correlation
        base = np.clip(mb + sb * z1, 0, top)
        follow = mf + sf * (r * z1 + np.sqrt(1 - r * r) * z2) + d.motor_gain * treated
        follow = np.clip(follow, 0, top)
        change = follow - base
        if d.planned_analysis == "ancova":
            pval = _ancova_pvalue(change, treated, base, observed, strata, k)
        else:
            pval = _ttest_pvalue(change, treated, observed)
    reject = np.nan_to_num(pval, nan=1.0) < d.alpha
    return reject, observed.sum(axis=1)


def _shift_odds(p: np.ndarray, odds_ratio: float) -> np.ndarray:
    if odds_ratio == 1.0:
        return p
    with np.errstate(divide="ignore"):
        odds = p / (1 - p) * odds_ratio
    return np.where(p >= 1, 1.0, odds / (1 + odds))


def _cmh_pvalue(y, treated, observed, strata, k) -> np.ndarray:
    """Cochran–Mantel–Haenszel χ² (1 df, no continuity correction), per simulation."""
    num = np.zeros(y.shape[0])
    var = np.zeros(y.shape[0])
    yt = y & treated & observed
    for j in range(k):
        in_k = (strata == j) & observed
        nk = in_k.sum(axis=1).astype(float)
        n1 = (in_k & treated).sum(axis=1).astype(float)
        m1 = (in_k & y).sum(axis=1).astype(float)
        a = (yt & in_k).sum(axis=1).astype(float)
        ok = nk > 1
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.where(ok, n1 * m1 / nk, 0.0)
            v = np.where(ok, n1 * (nk - n1) * m1 * (nk - m1) / (nk**2 * (nk - 1)), 0.0)
        num += np.where(ok, a - e, 0.0)
        var += v
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(var > 0, num**2 / var, np.nan)
    return chdtrc(1, stat)  # = scipy.stats.chi2.sf(stat, 1)


def _chi2_pvalue(y, treated, observed) -> np.ndarray:
    """Pearson χ² of the 2×2 table (pooled two-proportion z test), per simulation."""
    t = treated & observed
    c = ~treated & observed
    n1, n2 = t.sum(axis=1).astype(float), c.sum(axis=1).astype(float)
    a, b = (y & t).sum(axis=1), (y & c).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (a + b) / (n1 + n2)
        z = (a / n1 - b / n2) / np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return 2 * ndtr(-np.abs(z))  # = 2 * scipy.stats.norm.sf(|z|)


def _ancova_pvalue(change, treated, base, observed, strata, k) -> np.ndarray:
    """t test of the arm coefficient in change ~ arm + baseline + stratum (OLS), per simulation.

    The strata enter as indicator columns because randomisation was stratified on them:
    leaving them out makes the test conservative ("analyse as you randomise"). Computed by
    Frisch–Waugh–Lovell: centring change, arm and baseline within strata absorbs the
    intercept and stratum columns, leaving a two-regressor least-squares problem with
    :math:`n - 2 - (\text{non-empty strata})` residual degrees of freedom.
    """
    w = observed.astype(float)
    y = change.astype(float)
    t = treated.astype(float)
    b = base.astype(float)
    yc, tc, bc = np.zeros_like(y), np.zeros_like(y), np.zeros_like(y)
    used = np.zeros(y.shape[0])
    for j in range(k):
        m = (strata == j) * w
        nj = m.sum(axis=1)
        used += nj > 0
        safe = np.where(nj > 0, nj, 1.0)[:, None]
        for src, dst in ((y, yc), (t, tc), (b, bc)):
            mean = (src * m).sum(axis=1)[:, None] / safe
            dst += m * (src - mean)
    stt = (tc * tc).sum(axis=1)
    sbb = (bc * bc).sum(axis=1)
    stb = (tc * bc).sum(axis=1)
    sty = (tc * yc).sum(axis=1)
    sby = (bc * yc).sum(axis=1)
    det = stt * sbb - stb**2
    df = w.sum(axis=1) - 2 - used
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (det > 1e-9 * np.maximum(stt * sbb, 1e-300)) & (df > 0)
        beta_t = (sbb * sty - stb * sby) / det
        beta_b = (stt * sby - stb * sty) / det
        rss = ((yc - beta_t[:, None] * tc - beta_b[:, None] * bc) ** 2 * w).sum(axis=1)
        se = np.sqrt(rss / df * sbb / det)
        stat = beta_t / se
    p = 2 * stdtr(np.maximum(df, 1), -np.abs(stat))  # = 2 * scipy.stats.t.sf(|t|, df)
    return np.where(ok & (se > 0), p, np.nan)


def _ttest_pvalue(change, treated, observed) -> np.ndarray:
    """Pooled-variance two-sample t test of the change, per simulation."""
    t = treated & observed
    c = ~treated & observed
    n1, n2 = t.sum(axis=1), c.sum(axis=1)
    m1 = np.sum(change * t, axis=1) / n1
    m2 = np.sum(change * c, axis=1) / n2
    ss = np.sum(t * (change - m1[:, None]) ** 2 + c * (change - m2[:, None]) ** 2, axis=1)
    df = n1 + n2 - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(ss / df * (1 / n1 + 1 / n2))
        stat = (m1 - m2) / se
    return 2 * stdtr(np.maximum(df, 1), -np.abs(stat))
