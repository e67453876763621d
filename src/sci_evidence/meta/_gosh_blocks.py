"""The blocks of binned GOSH (:mod:`sci_evidence.meta.gosh_summary`): a block is an aligned
run of subset masks, fitted by the GOSH kernels and reduced to integer histogram counts,
ranges and per-study float sums; module-level functions of picklable data, so that a block
gives the same numbers on a local thread or on a Dask worker."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from .gosh import _Job, _run_span


@dataclass(frozen=True)
class _Binning:
    est_lo: float
    est_hi: float
    n_est: int
    n_i2: int
    fine: int


@dataclass(frozen=True)
class _SummaryJob:
    """A GOSH job and the binning; ``block`` masks (a power of two) per chunk."""

    job: _Job
    binning: _Binning
    block: int


@dataclass(frozen=True)
class _ChunkSummary:
    """The summary of one or more blocks: integer counts (added up), ranges, and the float
    sums of each block as one row of ``sums`` (est_with (k), I2_with (k), est, I2), kept
    apart so that the final fsum sees the same numbers however the blocks were grouped."""

    n: int
    counts: np.ndarray  # (n_est, n_i2) int64
    est_fine: np.ndarray
    i2_fine: np.ndarray
    n_with: np.ndarray  # (k,) int64: finite fits of subsets holding each study
    n_finite: int
    est_min: float
    est_max: float
    i2_min: float
    i2_max: float
    sums: np.ndarray  # (blocks, 2k + 2)


def _merge(chunks: list[_ChunkSummary]) -> _ChunkSummary:
    """One summary of several: integers added, ranges widened, block sums stacked."""
    if len(chunks) == 1:
        return chunks[0]
    return _ChunkSummary(
        n=sum(c.n for c in chunks),
        counts=np.sum([c.counts for c in chunks], axis=0),
        est_fine=np.sum([c.est_fine for c in chunks], axis=0),
        i2_fine=np.sum([c.i2_fine for c in chunks], axis=0),
        n_with=np.sum([c.n_with for c in chunks], axis=0),
        n_finite=sum(c.n_finite for c in chunks),
        est_min=min(c.est_min for c in chunks),
        est_max=max(c.est_max for c in chunks),
        i2_min=min(c.i2_min for c in chunks),
        i2_max=max(c.i2_max for c in chunks),
        sums=np.vstack([c.sums for c in chunks]),
    )


def _summarise_blocks(sj: _SummaryJob, first: int, last: int) -> _ChunkSummary:
    """Blocks ``first`` … ``last - 1``, merged: one task, one reply (a reply per block
    made the calling process the bottleneck of a cluster run)."""
    return _merge([_summarise_block(sj, i) for i in range(first, last)])


def _bin_index(
    x: np.ndarray,
    lo: float,
    hi: float,
    n: int,
    tmp: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Bin of each value among n equal bins of [lo, hi]: floor((x - lo) * n / (hi - lo));
    the ends are closed (values a rounding error outside land in the end bins). ``tmp``
    (float) and ``out`` (int64), of x's shape, are work space to reuse."""
    tmp = np.subtract(x, lo, out=tmp)
    np.multiply(tmp, n / (hi - lo), out=tmp)
    np.floor(tmp, out=tmp)
    np.clip(tmp, 0, n - 1, out=tmp)
    if out is None:
        return tmp.astype(np.int64)
    np.copyto(out, tmp, casting="unsafe")
    return out


_LOCAL = threading.local()


def _workspace(block: int) -> dict[str, np.ndarray]:
    """Arrays of one block, kept per thread: allocating ~10 fresh 1 MB arrays per block made
    the reduction spend more time in page faults than in arithmetic."""
    ws = getattr(_LOCAL, "ws", None)
    if ws is None or ws["est"].shape[0] != block:
        ws = {name: np.empty(block) for name in ("est", "i2", "t", "e0", "i0")}
        ws.update({name: np.empty(block, dtype=np.int64) for name in ("fe", "fi", "f")})
        ws.update({name: np.empty(block, dtype=bool) for name in ("ok", "ok2")})
        _LOCAL.ws = ws
    return ws


def _span_of_block(job: _Job, i: int, block: int) -> tuple[int, int]:
    """The kernel span of masks [i * block, (i + 1) * block) (mask 0 is no subset)."""
    m0, m1 = i * block, (i + 1) * block
    if job.kind == "compiled":
        return max(m0, 1), m1
    if job.kind == "numpy":
        return m0 >> job.low_bits, m1 >> job.low_bits
    return max(m0, 1) - 1, m1 - 1  # positions of masks a + 1 .. b


def _summarise_block(sj: _SummaryJob, i: int) -> _ChunkSummary:
    """Fit the subsets of block ``i`` and reduce them to a :class:`_ChunkSummary`."""
    job, b, block = sj.job, sj.binning, sj.block
    a, e = _span_of_block(job, i, block)
    if job.kind == "masks" and not job.use_compiled:
        # the batched numpy fit holds ~24 arrays of (subsets x k): fit the block in slices
        step = max(256, block // max(job.k, 1))
        parts = [_run_span(job, s, min(s + step, e)) for s in range(a, e, step)]
        pos = parts[0][0]
        est = np.concatenate([part[1] for part in parts])
        i2 = np.concatenate([part[3] for part in parts])
    else:
        pos, est, _tau2, i2, _q, _n = _run_span(job, a, e)
    base = i * block
    ws = _workspace(block)
    n = est.shape[0]
    # pad to the whole block (mask 0 is empty) so that study j's subsets are a strided view
    start = pos + 1 - base
    est_p, i2_p, ok = ws["est"], ws["i2"], ws["ok"]
    for dst, src in ((est_p, est), (i2_p, i2)):
        dst[:start] = np.nan
        dst[start : start + n] = src
        dst[start + n :] = np.nan
    np.isfinite(est_p, out=ok)
    np.logical_and(ok, np.isfinite(i2_p, out=ws["ok2"]), out=ok)
    all_ok = start == 0 and n == block and bool(ok.all())
    ev, iv = (est_p, i2_p) if all_ok else (est_p[ok], i2_p[ok])
    m = ev.shape[0]
    # fine bins first; a coarse bin is a run of fine ones (fine is a multiple of n_est, n_i2)
    fe = _bin_index(ev, b.est_lo, b.est_hi, b.fine, ws["t"][:m], ws["fe"][:m])
    fi = _bin_index(iv, 0.0, 100.0, b.fine, ws["t"][:m], ws["fi"][:m])
    est_fine = np.bincount(fe, minlength=b.fine)
    i2_fine = np.bincount(fi, minlength=b.fine)
    # cell = (fe // (fine / n_est)) * n_i2 + fi // (fine / n_i2), in place
    np.floor_divide(fe, b.fine // b.n_est, out=fe)
    np.multiply(fe, b.n_i2, out=fe)
    np.floor_divide(fi, b.fine // b.n_i2, out=fi)
    np.add(fe, fi, out=fe)
    counts = np.bincount(fe, minlength=b.n_est * b.n_i2).reshape(b.n_est, b.n_i2)
    k = job.k
    n_with = np.zeros(k, dtype=np.int64)
    est_with = np.zeros(k)
    i2_with = np.zeros(k)
    f, e0, i0 = ws["f"], ws["e0"], ws["i0"]
    np.copyto(f, ok, casting="unsafe")
    np.copyto(e0, est_p)
    np.copyto(i0, i2_p)
    if not all_ok:  # = np.where(ok, x, 0.0)
        np.logical_not(ok, out=ws["ok2"])
        np.putmask(e0, ws["ok2"], 0.0)
        np.putmask(i0, ws["ok2"], 0.0)
    tot = (int(f.sum()), float(e0.sum()), float(i0.sum()))
    # Bits inside the block, from the top: the upper half of the (folded) block is the
    # subsets holding that study; folding the halves together (in place) then leaves the
    # lower bits' sums in a block half as long (about two passes in all, not one per study).
    low = block.bit_length() - 1
    for j in range(low - 1, -1, -1):
        half = 1 << j
        n_with[j] = f[half:].sum()
        est_with[j] = e0[half:].sum()
        i2_with[j] = i0[half:].sum()
        for x in (f, e0, i0):
            np.add(x[:half], x[half:], out=x[:half])
        f, e0, i0 = f[:half], e0[:half], i0[:half]
    for j in range(low, k):  # bits above the block: the same for all of its subsets
        if (base >> j) & 1:
            n_with[j], est_with[j], i2_with[j] = tot
    has = ev.size > 0
    return _ChunkSummary(
        n=int(n),
        counts=counts,
        est_fine=est_fine,
        i2_fine=i2_fine,
        n_with=n_with,
        n_finite=tot[0],
        est_min=float(ev.min()) if has else math.inf,
        est_max=float(ev.max()) if has else -math.inf,
        i2_min=float(iv.min()) if has else math.inf,
        i2_max=float(iv.max()) if has else -math.inf,
        sums=np.concatenate([est_with, i2_with, tot[1:]])[None, :],
    )
