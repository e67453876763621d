r"""GOSH over every subset when the subsets are too many to keep (k = 30: 1.07e9 subsets).

:func:`gosh` keeps every subset's fit (about 33 bytes each): fine to k = 24, 35 GB at k = 30.
:func:`gosh_summary` fits the same subsets with the same kernels, chunk by chunk (on local
threads or a Dask cluster), and keeps only what merges exactly:

* a 2-D histogram of (estimate, I2) and finer 1-D histograms of each: integer counts;
* the smallest and largest estimate and I2;
* per study, the number of subsets holding it and the sums of their estimates and I2,
  merged with ``math.fsum`` (correctly rounded, so the merge order does not matter).

A chunk is a fixed, aligned block of subset masks; its summary is computed by the same
function from the same data wherever it runs, so a cluster run equals a local run bit for bit,
whatever the number of threads or workers. (Another ``chunk_size`` gives the same counts;
the per-study means, summed per chunk, may then differ in the last bits.)

Bins: the estimate of an intercept-only model is a weighted mean of the studies' y with
positive weights, so every subset's estimate lies in [min y, max y]; the estimate bins split
that range evenly, the I2 bins split [0, 100]. Quantiles read from the fine histograms are
given as the bin holding them (their resolution is the bin width).

References
----------
Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH - a graphical display of study
heterogeneity. Research Synthesis Methods 3(3):214-223. doi:10.1002/jrsm.1053
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._batch import run_chunks
from ._gosh_blocks import (
    _Binning,
    _ChunkSummary,
    _summarise_blocks,
    _SummaryJob,
)
from .gosh import _closed_form_job, _Job, _resolve_engine, _resolve_method
from .results import PoolResult, require_pool_result

#: Masks above 2^62 do not fit the kernels' signed 64-bit arithmetic (and 2^62 subsets
#: would take centuries).
MAX_SUMMARY_K = 62


@dataclass(frozen=True)
class GoshSummary:
    """Binned fits of a model to all 2^k - 1 subsets of its studies.

    Attributes
    ----------
    counts : ndarray of int64, shape (len(est_edges) - 1, len(I2_edges) - 1)
        Subsets per (estimate, I2) bin.
    est_fine, I2_fine : ndarray of int64
        Subsets per fine bin of the estimate (over ``est_fine_edges``) and of I2 (over
        ``I2_fine_edges``), for quantiles.
    n_with : ndarray of int64, shape (k,)
        Subsets (with a finite fit) holding each study.
    est_with, I2_with, est_without, I2_without : ndarray, shape (k,)
        Mean estimate and I2 (percent) of the subsets with and without each study.
    """

    k: int
    method: str
    labels: tuple[str, ...]
    n_subsets: int
    n_finite: int
    estimate_range: tuple[float, float]
    I2_range: tuple[float, float]
    est_edges: np.ndarray = field(repr=False)
    I2_edges: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    est_fine_edges: np.ndarray = field(repr=False)
    est_fine: np.ndarray = field(repr=False)
    I2_fine_edges: np.ndarray = field(repr=False)
    I2_fine: np.ndarray = field(repr=False)
    n_with: np.ndarray = field(repr=False)
    est_with: np.ndarray = field(repr=False)
    est_without: np.ndarray = field(repr=False)
    I2_with: np.ndarray = field(repr=False)
    I2_without: np.ndarray = field(repr=False)
    exhaustive: bool = True

    def quantile(self, what: str, q: float) -> tuple[float, float]:
        """The fine bin [lower, upper] holding the q-quantile of ``"estimate"`` or ``"I2"``
        (the smallest bin whose cumulative count reaches q * n_finite)."""
        counts, edges = (
            (self.est_fine, self.est_fine_edges)
            if what == "estimate"
            else (self.I2_fine, self.I2_fine_edges)
        )
        target = max(1, math.ceil(q * self.n_finite))
        j = int(np.searchsorted(np.cumsum(counts), target))
        j = min(j, counts.size - 1)
        return float(edges[j]), float(edges[j + 1])

    def summary(self) -> str:
        e_lo, e_hi = self.estimate_range
        q = [self.quantile("estimate", x) for x in (0.025, 0.5, 0.975)]
        i = [self.quantile("I2", x) for x in (0.025, 0.5, 0.975)]
        de = float(self.est_fine_edges[1] - self.est_fine_edges[0])
        di = float(self.I2_fine_edges[1] - self.I2_fine_edges[0])
        return (
            f"GOSH ({self.method}): {self.n_finite:,} fits to all {self.n_subsets:,} subsets of "
            f"k = {self.k} studies (binned; quantiles to the bin width: estimate {de:.2g}, "
            f"I2 {di:.2g} points)\n"
            f"  estimate: median in [{q[1][0]:.4f}, {q[1][1]:.4f}], 95% of subsets in "
            f"[{q[0][0]:.4f}, {q[2][1]:.4f}], range [{e_lo:.4f}, {e_hi:.4f}]\n"
            f"  I2: median in [{i[1][0]:.1f}%, {i[1][1]:.1f}%], 95% of subsets in "
            f"[{i[0][0]:.1f}%, {i[2][1]:.1f}%]"
        )

    def study_influence(self) -> pd.DataFrame:
        """Per study: mean estimate and I2 of the subsets with and without it."""
        return pd.DataFrame(
            {
                "study": list(self.labels),
                "estimate_with": self.est_with,
                "estimate_without": self.est_without,
                "I2_with": self.I2_with,
                "I2_without": self.I2_without,
            }
        ).set_index("study")

    def to_frame(self) -> pd.DataFrame:
        """The non-empty 2-D bins: ``est_lower, est_upper, I2_lower, I2_upper, count``."""
        ie, ii = np.nonzero(self.counts)
        return pd.DataFrame(
            {
                "est_lower": self.est_edges[ie],
                "est_upper": self.est_edges[ie + 1],
                "I2_lower": self.I2_edges[ii],
                "I2_upper": self.I2_edges[ii + 1],
                "count": self.counts[ie, ii],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: counts as integers, the bin edges and the per-study means."""

        def quant(what: str) -> dict[str, list[float]]:
            names = ("q025", "median", "q975")
            return {
                n: list(self.quantile(what, x))
                for n, x in zip(names, (0.025, 0.5, 0.975), strict=True)
            }

        return {
            "k": self.k,
            "method": self.method,
            "exhaustive": True,
            "binned": True,
            "n_subsets": self.n_subsets,
            "n_finite": self.n_finite,
            "labels": list(self.labels),
            "estimate_range": list(self.estimate_range),
            "I2_range": list(self.I2_range),
            "summary": {
                "estimate_quantile_bins": quant("estimate"),
                "I2_quantile_bins": quant("I2"),
            },
            "est_edges": self.est_edges.tolist(),
            "I2_edges": self.I2_edges.tolist(),
            "counts": self.counts.tolist(),
            "study_influence": {
                "n_with": [int(x) for x in self.n_with],
                "estimate_with": self.est_with.tolist(),
                "estimate_without": self.est_without.tolist(),
                "I2_with": self.I2_with.tolist(),
                "I2_without": self.I2_without.tolist(),
            },
        }

    def plot(self, *, title: str | None = None):
        """The GOSH plot from the bins: log-scaled counts of (estimate, I2) with the marginal
        histograms (subsets are not drawn one by one: there are too many)."""
        from ._gosh_summary_plot import gosh_summary_plot

        return gosh_summary_plot(self, title=title)


def gosh_summary(
    res: PoolResult,
    *,
    method: str | None = None,
    n_jobs: int | None = None,
    chunk_size: int = 1 << 17,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "auto",
    client: Any = None,
    bins: tuple[int, int] = (200, 100),
    fine_bins: int = 2000,
) -> GoshSummary:
    """Fit the intercept-only model of ``res`` to every one of its 2^k - 1 subsets of studies
    and keep binned summaries (see the module docstring), for k too large to keep every fit.

    Parameters
    ----------
    res : PoolResult
        An intercept-only model (no moderators), k <= 62.
    method : {"EE", "DL", "ML", "REML"}, optional
        Default ``res.method``. EE/DL use the closed form, ML/REML Fisher scoring.
    n_jobs, chunk_size, progress, engine, client
        As for :func:`sci_evidence.meta.gosh.gosh`. A chunk is an aligned block of
        ``chunk_size`` masks (rounded down to a power of two, at least 1024); with ``client``
        the chunks run on that Dask cluster and the result equals the local run's exactly.
    bins : (int, int), default (200, 100)
        Bins of the 2-D histogram: estimate (over [min y, max y]) and I2 (over [0, 100]).
    fine_bins : int, default 2000
        Bins of each 1-D histogram used for quantiles (a multiple of both ``bins``; a 2-D bin
        is a run of fine bins, so the marginals of ``counts`` add up the fine counts).

    Returns
    -------
    GoshSummary
    """
    require_pool_result(res, "gosh_summary")
    y = np.asarray(res.yi, dtype=float)
    v = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    k, p = X.shape
    if p != 1 or not bool(np.all(X[:, 0] == 1.0)):
        raise InputError(
            "binned GOSH over all subsets needs a model without moderators", column="mods"
        )
    if not 2 <= k <= MAX_SUMMARY_K:
        raise InputError(
            f"binned GOSH needs between 2 and {MAX_SUMMARY_K} studies", column="k", value=k
        )
    n_est, n_i2 = (int(x) for x in bins)
    fine_bins = int(fine_bins)
    if min(n_est, n_i2, fine_bins) < 1 or fine_bins % n_est or fine_bins % n_i2:
        raise InputError(
            "GOSH bins must be at least 1, and fine_bins a multiple of both numbers of bins",
            column="bins",
            value=f"{bins}, fine_bins={fine_bins}",
        )
    meth = _resolve_method(method if method is not None else res.method)
    use_compiled = _resolve_engine(engine)
    chunk_size = max(1024, int(chunk_size))
    block = 1 << min(k, chunk_size.bit_length() - 1)
    if meth in ("EE", "DL"):
        job = _closed_form_job(y, v, meth, block, use_compiled)
    else:
        job = _Job(
            kind="masks", method=meth, k=k, y=np.ascontiguousarray(y), v=np.ascontiguousarray(v),
            X=X, test=res.test or "z", masks=None, use_compiled=use_compiled and k <= 62,
            batch_engine="auto" if use_compiled else "numpy",
        )  # fmt: skip
    lo, hi = float(y.min()), float(y.max())
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    binning = _Binning(lo, hi, n_est, n_i2, int(fine_bins))
    sj = _SummaryJob(job, binning, block)
    n_blocks = (1 << k) // block
    n_total = (1 << k) - 1

    acc: dict[str, Any] = {
        "counts": np.zeros((n_est, n_i2), dtype=np.int64),
        "est_fine": np.zeros(binning.fine, dtype=np.int64),
        "i2_fine": np.zeros(binning.fine, dtype=np.int64),
        "n_with": np.zeros(k, dtype=np.int64),
        "n_finite": 0,
        "min": [math.inf, math.inf],
        "max": [-math.inf, -math.inf],
        # float partials, merged at the end by fsum: exact whatever order chunks finish in
        "parts": [],
    }
    lock = threading.Lock()

    def place(c: _ChunkSummary) -> int:
        with lock:
            acc["counts"] += c.counts
            acc["est_fine"] += c.est_fine
            acc["i2_fine"] += c.i2_fine
            acc["n_with"] += c.n_with
            acc["n_finite"] += c.n_finite
            acc["min"] = [min(acc["min"][0], c.est_min), min(acc["min"][1], c.i2_min)]
            acc["max"] = [max(acc["max"][0], c.est_max), max(acc["max"][1], c.i2_max)]
            acc["parts"].append(c.sums)
        return c.n

    # tasks of several blocks: about 64 (or one per block when there are fewer)
    per_task = max(1, n_blocks // 64)
    spans = [(f, min(f + per_task, n_blocks)) for f in range(0, n_blocks, per_task)]
    if client is not None:
        from .distributed_runs import run_on_client

        run_on_client(client, _summarise_blocks, sj, spans, place, progress, n_total)
    else:
        n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
        tasks = [(lambda a=a, b=b: place(_summarise_blocks(sj, a, b))) for a, b in spans]
        run_chunks(tasks, n_jobs, progress, n_total)

    parts = np.vstack(acc["parts"]).T  # (2k + 2, n_blocks)
    sums = np.array([math.fsum(row) for row in parts])
    est_with, i2_with, est_all, i2_all = sums[:k], sums[k : 2 * k], sums[-2], sums[-1]
    n_with = acc["n_with"]
    n_finite = int(acc["n_finite"])
    n_without = n_finite - n_with
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = lambda s, n: np.where(n > 0, s / np.maximum(n, 1), np.nan)  # noqa: E731
        out_means = (
            mean(est_with, n_with),
            mean(est_all - est_with, n_without),
            mean(i2_with, n_with),
            mean(i2_all - i2_with, n_without),
        )
    return GoshSummary(
        k=k,
        method=meth,
        labels=tuple(res.labels or [f"Study {i + 1}" for i in range(k)]),
        n_subsets=n_total,
        n_finite=n_finite,
        estimate_range=(acc["min"][0], acc["max"][0]),
        I2_range=(acc["min"][1], acc["max"][1]),
        est_edges=np.linspace(lo, hi, binning.fine + 1)[:: binning.fine // n_est],
        I2_edges=np.linspace(0.0, 100.0, binning.fine + 1)[:: binning.fine // n_i2],
        counts=acc["counts"],
        est_fine_edges=np.linspace(lo, hi, binning.fine + 1),
        est_fine=acc["est_fine"],
        I2_fine_edges=np.linspace(0.0, 100.0, binning.fine + 1),
        I2_fine=acc["i2_fine"],
        n_with=n_with,
        est_with=out_means[0],
        est_without=out_means[1],
        I2_with=out_means[2],
        I2_without=out_means[3],
    )
