"""The chunks of a permutation test (:mod:`sci_evidence.meta.permutation`): which
permutations a chunk holds and the refit of a chunk, as module-level functions of picklable
data so that a chunk gives the same numbers on a local thread or on a Dask worker.

Random permutations are drawn in blocks of :data:`DRAW_BLOCK`, block ``j`` from its own
stream ``SeedSequence(seed, spawn_key=(j,))``; exact tests enumerate sign patterns in
``expand.grid`` order or the distinct orderings of the moderator rows lexicographically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._batch import fit_batch

#: Random permutations are drawn in fixed blocks, each from its own stream
#: ``SeedSequence(seed, spawn_key=(block,))``: the same seed gives the same permutations
#: whatever the chunk size and the number of threads.
DRAW_BLOCK = 1024


def _multiset_permutations(labels: np.ndarray) -> np.ndarray:
    """All distinct orderings of ``labels`` (lexicographic), shape (n, k)."""
    a = np.sort(labels).tolist()
    k = len(a)
    out = [a.copy()]
    while True:
        i = k - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            break
        j = k - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1 :] = reversed(a[i + 1 :])
        out.append(a.copy())
    # small labels: 10^6 listed sequences of 30 studies take 60 MB, not 240 MB
    return np.asarray(out, dtype=np.int16 if k < 2**15 else np.int32)


def _rows_for_labels(seqs: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """For each label sequence s, a row permutation pi with groups[pi[i]] = s[i]."""
    k = groups.size
    members = [np.flatnonzero(groups == g) for g in range(groups.max() + 1)]
    pis = np.empty_like(seqs)
    for g, rows in enumerate(members):
        # the j-th occurrence of label g takes the j-th row of group g
        mask = seqs == g
        pis[mask] = np.tile(rows, seqs.shape[0])
    assert pis.shape[1] == k
    return pis


def _random_block(seed: int, block: int, k: int, int_only: bool) -> np.ndarray:
    """Permutations ``block * DRAW_BLOCK`` … ``+ DRAW_BLOCK - 1``: signs (int8) or rows
    (int32), from the block's own stream; permutation 0 is the identity."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
    if int_only:
        draws = rng.choice(np.array([-1, 1], dtype=np.int8), size=(DRAW_BLOCK, k))
    else:
        draws = rng.permuted(np.tile(np.arange(k, dtype=np.int32), (DRAW_BLOCK, 1)), axis=1)
    if block == 0:
        draws[0] = 1 if int_only else np.arange(k)
    return draws


def _random_draws(seed: int, a: int, b: int, k: int, int_only: bool) -> np.ndarray:
    """Permutations ``a`` … ``b - 1`` of a seeded random test (independent of chunking)."""
    first, last = a // DRAW_BLOCK, (b - 1) // DRAW_BLOCK
    blocks = [_random_block(seed, j, k, int_only) for j in range(first, last + 1)]
    draws = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    offset = first * DRAW_BLOCK
    return draws[a - offset : b - offset]


@dataclass(frozen=True)
class _PermJob:
    """Everything a chunk of permutations needs: picklable (numpy arrays and scalars), so a
    chunk computes the same numbers on a local thread or on a Dask worker."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    method: str
    test: str
    int_only: bool
    exact: bool
    seed: int | None
    groups: np.ndarray | None
    n_stored: int
    stat_cut: np.ndarray
    qm_cut: float
    label_seqs: np.ndarray | None = None


@dataclass(frozen=True)
class _PermChunk:
    """What one chunk sends back: its counts, and its statistics when they are kept."""

    start: int
    n: int
    n_ok: int
    n_ge: np.ndarray
    n_qm: int
    stat: np.ndarray | None = None
    beta: np.ndarray | None = None
    qm: np.ndarray | None = None


def _permutation_chunk(job: _PermJob, a: int, b: int) -> _PermChunk:
    """Refit permutations ``a`` … ``b - 1`` of ``job``. The permutations depend only on
    (seed, position), never on the chunking or where the chunk runs."""
    y, v, X = job.y, job.v, job.X
    k = X.shape[0]
    if job.int_only:
        if job.exact:
            # expand.grid order: sign of study j is -1 when bit j of the row index is set
            rows = np.arange(a, b, dtype=np.int64)[:, None]
            signs = 1.0 - 2.0 * ((rows >> np.arange(k)) & 1)
        else:
            signs = _random_draws(job.seed, a, b, k, True).astype(float)
        Y, V = signs * y, v
    else:
        if job.exact:
            pis = _rows_for_labels(job.label_seqs[a:b], job.groups)
        else:
            pis = _random_draws(job.seed, a, b, k, False).astype(np.int64)
        # study i gets row pis[i] of X; reorder the studies so X stays shared
        inv = np.argsort(pis, axis=1)
        Y = np.take_along_axis(np.broadcast_to(y, pis.shape), inv, axis=1)
        V = np.take_along_axis(np.broadcast_to(v, pis.shape), inv, axis=1)
    fits = fit_batch(Y, V, X, method=job.method, test=job.test)
    ok = np.all(np.isfinite(fits.stat), axis=1)
    kept = {}
    if a < job.n_stored:
        n_keep = min(b, job.n_stored) - a
        kept = {
            "stat": fits.stat[:n_keep].copy(),
            "beta": fits.beta[:n_keep].copy(),
            "qm": fits.QM[:n_keep].copy(),
        }
    return _PermChunk(
        start=a,
        n=b - a,
        n_ok=int(ok.sum()),
        n_ge=np.sum(np.abs(fits.stat[ok]) >= job.stat_cut, axis=0).astype(np.int64),
        n_qm=int(np.sum(fits.QM[ok] >= job.qm_cut)),
        **kept,
    )
