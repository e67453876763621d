r"""Permutation tests for the pooled estimate and meta-regression coefficients (metafor
3.8-1's ``permutest.rma.uni``).

* **Model without moderators**: the signs of the :math:`y_i` are flipped at random (each
  study independently); exact test = all :math:`2^k` sign patterns.
* **Meta-regression**: the rows of the model matrix are permuted over the studies (the
  :math:`(y_i, v_i)` pairs stay together); exact test = every distinct permutation
  (:math:`k!/\prod_g n_g!` when groups of studies share a row of X).

Each permuted data set is refitted with the model's estimator and test, all at once by the
batched kernel (vectorised Fisher scoring for ML/REML). Two-sided p-values are
:math:`\#\{|z^*| \ge |z| - \epsilon\}/B` for each coefficient and
:math:`\#\{Q_M^* \ge Q_M - \epsilon\}/B` for the omnibus test, with
:math:`\epsilon = \sqrt{\text{machine eps}}` (metafor's ``comptol``) and B the number of
permutations; an approximate test counts the observed data as its first permutation. The
test is exact when requested or when the number of distinct permutations is at most
``iterations``, as metafor decides.

The observed statistics used in the comparisons are those of the same kernel on the
unpermuted data (so the identity permutation always counts); the reported ``estimate``,
``se``, ``stat`` and ``pval`` are those of the model.

References
----------
Follmann DA, Proschan MA (1999). Valid inference in random effects meta-analysis.
Biometrics 55:732-737. doi:10.1111/j.0006-341X.1999.00732.x
Higgins JPT, Thompson SG (2004). Controlling the risk of spurious findings from
meta-regression. Stat Med 23:1663-1682. doi:10.1002/sim.1752
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._batch import BATCH_METHODS, fit_batch, run_chunks
from ._permutation_draws import (  # DRAW_BLOCK, _random_draws: kept importable from here
    DRAW_BLOCK,  # noqa: F401
    _multiset_permutations,
    _PermChunk,
    _PermJob,
    _permutation_chunk,
    _random_draws,  # noqa: F401
)

__all__ = ["PermutationResult", "permutation_test"]

#: metafor's comparison tolerance, sqrt(machine epsilon)
COMPTOL = float(np.finfo(float).eps ** 0.5)
#: Largest exact tests that are run: sign flips are generated chunk by chunk (2^24 of them
#: take ~0.4 GB of results); distinct permutations of moderator rows are listed up front.
MAX_EXACT_SIGN_FLIPS = 2**24
MAX_EXACT_PERMUTATIONS = 1_000_000
#: Permutations whose statistics are kept in the result (``stat_perm`` etc., for plots); the
#: p-values always count every permutation, chunk by chunk, so memory stays bounded
#: whatever ``iterations`` is (10^8 permutations need no more memory than 10^6).
MAX_STORED_PERMUTATIONS = 1_000_000


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test of the coefficients of a fitted model.

    Attributes
    ----------
    pval_perm : ndarray of shape (p,)
        Permutation p-value of each coefficient.
    QM_pval_perm : float
        Permutation p-value of the omnibus test (of the intercept without moderators).
    stat_perm, estimate_perm : ndarray of shape (n_stored, p)
        The permutation distribution of the test statistics and coefficients: every
        permutation, or the first :data:`MAX_STORED_PERMUTATIONS` of a larger random test
        (a random sample of the distribution; the p-values count all of them).
    QM_perm : ndarray of shape (n_stored,)
    exact : bool
    iterations : int
        Number of permutations (``2**k`` or the number of distinct permutations when exact).
    seed : int or None
        Seed of the random permutations (None when exact).
    """

    k: int
    p: int
    method: str
    test: str
    coef_names: tuple[str, ...]
    exact: bool
    iterations: int
    seed: int | None
    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    pval_perm: np.ndarray
    QM: float
    QM_pval_perm: float
    stat_perm: np.ndarray = field(repr=False)
    estimate_perm: np.ndarray = field(repr=False)
    QM_perm: np.ndarray = field(repr=False)
    n_failed: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: ``estimate, se, stat, pval, pval_perm``."""
        return pd.DataFrame(
            {
                "estimate": self.estimate,
                "se": self.se,
                "stat": self.stat,
                "pval": self.pval,
                "pval_perm": self.pval_perm,
            },
            index=pd.Index(list(self.coef_names), name="term"),
        )

    def to_dict(self) -> dict[str, Any]:
        def f(x):
            x = float(x)
            return x if math.isfinite(x) else None

        return {
            "k": self.k,
            "p": self.p,
            "method": self.method,
            "test": self.test,
            "exact": self.exact,
            "iterations": self.iterations,
            "seed": self.seed,
            "n_failed": self.n_failed,
            "QM": f(self.QM),
            "QM_pval_perm": f(self.QM_pval_perm),
            "coefficients": {
                name: {
                    "estimate": f(self.estimate[j]),
                    "se": f(self.se[j]),
                    "stat": f(self.stat[j]),
                    "pval": f(self.pval[j]),
                    "pval_perm": f(self.pval_perm[j]),
                }
                for j, name in enumerate(self.coef_names)
            },
        }

    def summary(self) -> str:
        kind = "exact" if self.exact else f"approximate, seed {self.seed}"
        name = "zval" if self.test == "z" else "tval"
        with pd.option_context("display.width", 200):
            table = (
                self.to_frame()
                .rename(columns={"stat": name, "pval_perm": "pval (perm)"})
                .to_string(float_format=lambda x: f"{x:.4f}")
            )
        lines = [
            f"Permutation test ({self.iterations:,} permutations, {kind}; {self.method}, "
            f"test {self.test})"
        ]
        if self.p > 1:
            qm = "QM" if self.test == "z" else "F"
            lines.append(
                f"Test of moderators: {qm} = {self.QM:.4f}, p (perm) = {self.QM_pval_perm:.4f}"
            )
        lines.append(table)
        return "\n".join(lines)

    def plot(self, coef: int | str | None = None, **kw: Any):
        """Histogram of the permutation distribution of a test statistic (default: the
        first moderator, or the intercept without moderators) with the observed value."""
        from .bias_plots import permutation_plot

        return permutation_plot(self, coef=coef, **kw)


def _count_exact(X: np.ndarray, int_only: bool) -> tuple[int, np.ndarray | None]:
    """Number of distinct permutations, and the group label of each row of X."""
    k = X.shape[0]
    if int_only:
        return 2**k, None
    _, groups = np.unique(X, axis=0, return_inverse=True)
    groups = groups.ravel()
    counts = np.bincount(groups)
    n = math.factorial(k)
    for c in counts:
        n //= math.factorial(int(c))
    return n, groups


class _LazyTasks:
    """``task(0)`` … ``task(n - 1)`` as a sized iterable of callables, made on demand."""

    def __init__(self, task: Callable[[int], int], n: int) -> None:
        self.task, self.n = task, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Callable[[], int]]:
        return ((lambda c=c: self.task(c)) for c in range(self.n))


def _size_text(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``; else the
    free physical pages); 0 when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def permutation_memory(
    iterations: int, k: int, p: int, *, chunk_size: int, n_jobs: int, n_exact: int = 0
) -> int:
    """Bytes a permutation test needs at its peak (an upper estimate).

    The kept distribution (``min(iterations, MAX_STORED_PERMUTATIONS)`` rows of ``2p + 1``
    doubles), the listed label sequences of an exact test with moderators (``n_exact`` rows
    of ``k`` int16), and the chunks in flight (2 per thread, each about 24 arrays of
    ``chunk_size × k`` doubles in the batched kernel, plus its ``p × p`` matrices).
    """
    stored = min(iterations, MAX_STORED_PERMUTATIONS) * (2 * p + 1) * 8
    labels = n_exact * k * 2
    per_chunk = chunk_size * (24 * k + 8 * p * p + 16 * p) * 8
    return stored + labels + 2 * max(1, n_jobs) * per_chunk


def permutation_test(
    res: Any,
    *,
    iterations: int = 1000,
    exact: bool | None = None,
    seed: int | None = None,
    n_jobs: int | None = None,
    chunk_size: int = 4096,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
) -> PermutationResult:
    """Permutation test of a fitted model (metafor ``permutest``).

    Parameters
    ----------
    res : PoolResult
        Fitted model; its estimator must be one of EE, DL, ML, REML (its test any of z,
        knha, adhoc, t).
    iterations : int, default 1000
        Number of random permutations (the observed data counts as the first).
    exact : bool, optional
        True: all permutations (error above 2^24 sign flips or 1,000,000 distinct
        permutations of the moderators). False: random
        permutations. Default: exact when there are at most ``iterations`` distinct
        permutations, as metafor.
    seed : int, optional
        Seed of the random permutations; default drawn from the OS and recorded.
    n_jobs : int, optional
        Threads (default all cores).
    chunk_size : int, default 4096
        Permutations fitted per batch. Memory is bounded by the chunks in flight and the
        kept distribution (see :func:`permutation_memory`), not by ``iterations``; a test
        that would not fit the available memory is refused up front with the figure it
        needs. Results do not depend on ``chunk_size`` or ``n_jobs``.
    progress : callable(done, total), optional
        Called after each batch from the calling thread.
    client : dask.distributed.Client, optional
        Run the batches on this Dask cluster instead of local threads (see
        :func:`sci_evidence.cluster.connect`). Each batch is computed by the same function
        from the same (data, position, seed), so the p-values and the kept distribution are
        identical to a local run. ``n_jobs`` is then unused.

    Returns
    -------
    PermutationResult
    """
    for attr in ("yi", "vi", "X", "method", "test"):
        if not hasattr(res, attr):
            raise InputError("permutation_test needs a fitted model (a PoolResult from pool())")
    method = str(res.method).upper()
    if method not in BATCH_METHODS:
        raise InputError(
            "permutation tests support the estimators " + ", ".join(BATCH_METHODS),
            column="method",
            value=res.method,
        )
    test = str(res.test)
    if test not in ("z", "knha", "adhoc", "t"):
        raise InputError(
            "permutation tests support the tests z, knha, adhoc and t", column="test", value=test
        )
    if getattr(res, "tau2_fixed", False) and method != "EE":
        raise InputError("permutation tests with a fixed tau2 are not supported")
    iterations = int(iterations)
    if iterations < 2:
        raise InputError("iterations must be at least 2", column="iterations", value=iterations)
    y = np.asarray(res.yi, dtype=float)
    v = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    k, p = X.shape
    int_only = p == 1 and bool(np.all(X[:, 0] == 1.0))
    n_exact, groups = _count_exact(X, int_only)
    use_exact = bool(exact) if exact is not None else n_exact <= iterations
    max_exact = MAX_EXACT_SIGN_FLIPS if int_only else MAX_EXACT_PERMUTATIONS
    if use_exact and n_exact > max_exact:
        raise InputError(
            f"an exact test needs {n_exact:,} permutations (more than {max_exact:,}); "
            "use exact=False with a number of iterations",
            column="exact",
        )
    B = n_exact if use_exact else iterations
    used_seed = None
    if not use_exact:
        used_seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    step = max(64, int(chunk_size))
    need = permutation_memory(
        B,
        k,
        p,
        chunk_size=step,
        n_jobs=n_jobs,
        n_exact=n_exact if use_exact and not int_only else 0,
    )
    avail = available_memory()
    if avail and need > avail:
        raise InputError(
            f"this permutation test needs about {_size_text(need)} of memory but only "
            f"{_size_text(avail)} are available; use a smaller chunk_size or fewer "
            "studies per model",
            column="iterations",
            value=B,
        )

    observed = fit_batch(y, v, X, method=method, test=test)
    qm_obs = float(observed.QM[0])
    stat_cut = np.abs(observed.stat[0]) - COMPTOL
    qm_cut = qm_obs - COMPTOL

    n_stored = min(B, MAX_STORED_PERMUTATIONS)
    stat_perm = np.empty((n_stored, p))
    beta_perm = np.empty((n_stored, p))
    qm_perm = np.empty(n_stored)
    starts = range(0, B, step)
    spans = ((a, min(a + step, B)) for a in starts)
    job = _PermJob(
        y=y, v=v, X=X, method=method, test=test, int_only=int_only, exact=use_exact,
        seed=used_seed, groups=groups, n_stored=n_stored, stat_cut=stat_cut, qm_cut=qm_cut,
        label_seqs=_multiset_permutations(groups) if (use_exact and not int_only) else None,
    )  # fmt: skip
    # running totals over the chunks: permutations with finite statistics, and how many
    # reach each cut (integers: the sum does not depend on the order chunks finish in)
    counts = {"ok": 0, "ge": np.zeros(p, dtype=np.int64), "qm": 0}
    lock = threading.Lock()

    def place(chunk: _PermChunk) -> int:
        # one finished chunk, from a local thread or a Dask worker
        with lock:
            if chunk.stat is not None:
                keep = slice(chunk.start, chunk.start + chunk.stat.shape[0])
                stat_perm[keep], beta_perm[keep], qm_perm[keep] = chunk.stat, chunk.beta, chunk.qm
            counts["ok"] += chunk.n_ok
            counts["ge"] += chunk.n_ge
            counts["qm"] += chunk.n_qm
        return chunk.n

    if client is not None:
        from .distributed_runs import run_on_client

        run_on_client(client, _permutation_chunk, job, list(spans), place, progress, B)
    else:
        # tasks made one at a time: 10^12 permutations are 2.4e8 chunks, never a list of them
        def task(c: int) -> int:
            a = starts[c]
            return place(_permutation_chunk(job, a, min(a + step, B)))

        run_chunks(_LazyTasks(task, len(starts)), n_jobs, progress, B)

    total_ok = int(counts["ok"])
    with np.errstate(invalid="ignore", divide="ignore"):
        pval_perm = counts["ge"] / total_ok if total_ok else np.full(p, np.nan)
        qm_pval = float(counts["qm"] / total_ok) if total_ok else float("nan")
    pval_perm = np.minimum(np.asarray(pval_perm, dtype=float), 1.0)
    names = tuple(getattr(res, "coef_names", None) or [f"b{j}" for j in range(p)])
    return PermutationResult(
        k=k,
        p=p,
        method=method,
        test=test,
        coef_names=names,
        exact=use_exact,
        iterations=B,
        seed=used_seed,
        estimate=np.asarray(getattr(res, "beta", observed.beta[0]), dtype=float),
        se=np.asarray(getattr(res, "beta_se", observed.se[0]), dtype=float),
        stat=np.asarray(getattr(res, "beta_stat", observed.stat[0]), dtype=float),
        pval=np.asarray(getattr(res, "beta_pval", np.full(p, np.nan)), dtype=float),
        pval_perm=pval_perm,
        QM=float(res.QM) if getattr(res, "QM", None) is not None else qm_obs,
        QM_pval_perm=qm_pval,
        stat_perm=stat_perm,
        estimate_perm=beta_perm,
        QM_perm=qm_perm,
        n_failed=int(B - total_ok),
    )
