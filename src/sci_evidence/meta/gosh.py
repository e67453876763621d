"""GOSH: the model fitted to every subset of the studies (Olkin, Dahabreh & Trikalinos 2012).

``gosh(res)`` refits the model of a :class:`PoolResult` to all 2^k - 1 non-empty subsets of
its k studies when k <= 24 (about 16.8 million subsets at k = 24), otherwise to a seeded
random sample of subsets. Fits are computed for whole chunks of subsets at once, on
several threads, into preallocated result arrays, so memory stays bounded (at k = 24 the
results take about 0.7 GB and each chunk a few MB).

Two kernels:

* **closed form** (EE and DL, intercept-only models, all subsets): the sums
  sum(w), sum(w y), sum(w y^2), sum(w^2) and the study count of a subset are linear in its
  indicator vector. Splitting the subset bitmask into a low part (the L lowest studies) and
  a high part, every chunk of subsets is a broadcast sum of two precomputed tables
  (2^L and 2^(k-L) entries). The DL random-effects estimate then needs one pass per study
  over the chunk, because its weights 1/(v_i + tau2_S) depend on the subset's tau2.
* **general** (REML, ML, models with moderators, sampled subsets): the batched fits of
  :func:`sci_evidence.meta._batch.fit_batch` with a study mask per subset.

The closed form runs in a fused compiled loop (``_gosh_kernel``, a small C extension built
at install time) when it is available: one pass over each block of subsets, no temporary
arrays, the GIL released so threads use every core; it gives the numpy path's numbers bit
for bit (same operations in the same order). Intercept-only ML/REML subsets (exhaustive or
sampled) run metafor's Fisher scoring per subset in the same extension (GIL released, so
REML GOSH uses every core), agreeing with the numpy iteration to rounding. The numpy paths
are the fallback (no C compiler at install) and stay selectable with ``engine="numpy"``.

Results match a plain loop of ``fit_design`` over the subsets (to rounding; REML/ML to
the Fisher scoring threshold, 1e-10 here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._batch import fit_batch, run_chunks
from .results import PoolResult, require_pool_result

try:  # the optional compiled kernel (setup.py builds it when a C compiler is present)
    from . import _gosh_kernel
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _gosh_kernel = None

#: Kernels of the closed-form path: "auto" takes the compiled one when it was built.
GOSH_ENGINES = ("auto", "compiled", "numpy")


def compiled_kernel_available() -> bool:
    """True when the fused compiled GOSH kernel was built and imports."""
    return _gosh_kernel is not None


#: GOSH fits every subset up to this many studies (2^24 - 1 = 16,777,215 subsets).
MAX_EXHAUSTIVE_K = 24
#: Number of random subsets drawn when k > MAX_EXHAUSTIVE_K and ``subsets`` is not given.
DEFAULT_RANDOM_SUBSETS = 1_000_000
GOSH_METHODS = ("EE", "DL", "ML", "REML")
_METHOD_ALIASES = {"FE": "EE", "CE": "EE"}

ProgressCallback = Callable[[int, int], None]
#: Random subsets are drawn in blocks of this size, each from its own child seed, so a seed
#: gives the same sample whatever the chunk size and number of threads.
_SAMPLE_BLOCK = 1 << 16


@dataclass(frozen=True)
class GoshResult:
    """Fits of one model to many subsets of the studies.

    Attributes
    ----------
    estimate, tau2, I2, Q : ndarray of shape (n_subsets,)
        Per subset: the pooled estimate (intercept), tau2, I2 (percent) and Cochran's Q.
    n_studies : ndarray of uint8/int16, shape (n_subsets,)
        How many studies each subset holds.
    masks : ndarray
        Which studies each subset holds: a ``uint64`` bitmask per subset when k <= 64
        (bit i set = study i included; subset j of an exhaustive run is ``j + 1``), otherwise
        a boolean (n_subsets, k) matrix.
    exhaustive : bool
        True when every subset (of at least p studies) was fitted.
    seed : int or None
        Seed of the random subset sample (None when exhaustive).
    """

    k: int
    method: str
    exhaustive: bool
    seed: int | None
    labels: tuple[str, ...]
    estimate: np.ndarray = field(repr=False)
    tau2: np.ndarray = field(repr=False)
    I2: np.ndarray = field(repr=False)
    Q: np.ndarray = field(repr=False)
    n_studies: np.ndarray = field(repr=False)
    masks: np.ndarray = field(repr=False)
    p: int = 1

    @property
    def n_subsets(self) -> int:
        return int(self.estimate.shape[0])

    @property
    def H2(self) -> np.ndarray:
        """H2 per subset: Q / (n - p) for EE, tau2 / s2 + 1 = 100 / (100 - I2) otherwise."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.method == "EE":
                df = self.n_studies.astype(float) - self.p
                return np.where(df > 0, self.Q / df, 1.0)
            return 100.0 / (100.0 - self.I2)

    def contains(self, study: int | str) -> np.ndarray:
        """Boolean array: which subsets hold ``study`` (0-based index or label)."""
        i = self._study_index(study)
        if self.masks.dtype == np.uint64:
            return ((self.masks >> np.uint64(i)) & np.uint64(1)).astype(bool)
        return np.asarray(self.masks[:, i], dtype=bool)

    def membership(self) -> np.ndarray:
        """Boolean matrix (n_subsets, k): study j in subset i. Needs n_subsets * k bytes."""
        return np.column_stack([self.contains(i) for i in range(self.k)])

    def _study_index(self, study: int | str) -> int:
        if isinstance(study, (int, np.integer)) and not isinstance(study, bool):
            if 0 <= int(study) < self.k:
                return int(study)
            raise InputError(
                f"study index must be between 0 and {self.k - 1}", column="study", value=study
            )
        if study in self.labels:
            return self.labels.index(study)
        raise InputError(
            "no study with this label; labels are " + ", ".join(self.labels[:10]),
            column="study",
            value=study,
        )

    def summary(self) -> str:
        kind = "all" if self.exhaustive else f"a random sample (seed {self.seed}) of"
        q = np.nanquantile(self.estimate, [0.0, 0.025, 0.5, 0.975, 1.0])
        i2 = np.nanquantile(self.I2, [0.025, 0.5, 0.975])
        return (
            f"GOSH ({self.method}): {self.n_subsets:,} fits to {kind} subsets of k = {self.k}"
            f" studies\n  estimate: median {q[2]:.4f}, 95% of subsets in [{q[1]:.4f}, "
            f"{q[3]:.4f}], range [{q[0]:.4f}, {q[4]:.4f}]\n"
            f"  I2: median {i2[1]:.1f}%, 95% of subsets in [{i2[0]:.1f}%, {i2[2]:.1f}%]"
        )

    def to_frame(self, *, membership: bool = False) -> pd.DataFrame:
        """One row per subset: ``estimate, tau2, I2, H2, Q, k`` and ``mask`` (k <= 64),
        plus one boolean column per study label when ``membership=True``."""
        cols: dict[str, Any] = {
            "estimate": self.estimate,
            "tau2": self.tau2,
            "I2": self.I2,
            "H2": self.H2,
            "Q": self.Q,
            "k": self.n_studies.astype(np.int64),
        }
        if self.masks.dtype == np.uint64:
            cols["mask"] = self.masks
        frame = pd.DataFrame(cols)
        if membership:
            for i, label in enumerate(self.labels):
                frame[label] = self.contains(i)
        return frame

    def study_influence(self) -> pd.DataFrame:
        """Per study: mean estimate and I2 of the subsets with and without it."""
        rows = []
        for i, label in enumerate(self.labels):
            has = self.contains(i)
            rows.append(
                {
                    "study": label,
                    "estimate_with": float(np.nanmean(self.estimate[has])),
                    "estimate_without": float(np.nanmean(self.estimate[~has])),
                    "I2_with": float(np.nanmean(self.I2[has])),
                    "I2_without": float(np.nanmean(self.I2[~has])),
                }
            )
        return pd.DataFrame(rows).set_index("study")

    def to_dict(self, *, subsets: bool | None = None) -> dict[str, Any]:
        """JSON-safe dict; per-subset arrays only when ``subsets`` (default: <= 100,000)."""
        if subsets is None:
            subsets = self.n_subsets <= 100_000
        out: dict[str, Any] = {
            "k": self.k,
            "p": self.p,
            "method": self.method,
            "exhaustive": self.exhaustive,
            "seed": self.seed,
            "n_subsets": self.n_subsets,
            "labels": list(self.labels),
            "summary": {
                "estimate_quantiles": _quantiles(self.estimate),
                "I2_quantiles": _quantiles(self.I2),
            },
        }
        if subsets:
            for name in ("estimate", "tau2", "I2", "Q"):
                out[name] = [_json_float(x) for x in getattr(self, name)]
            out["n_studies"] = [int(x) for x in self.n_studies]
            if self.masks.dtype == np.uint64:
                out["masks"] = [int(x) for x in self.masks]
            else:
                out["masks"] = self.masks.astype(int).tolist()
        return out

    def plot(self, *, study: int | str | None = None, **kw: Any):
        """GOSH plot (estimate against I2, with marginal densities); see ``gosh_plot``."""
        from .bias_plots import gosh_plot

        return gosh_plot(self, study=study, **kw)


def _quantiles(a: np.ndarray) -> dict[str, float | None]:
    qs = np.nanquantile(a, [0.0, 0.025, 0.25, 0.5, 0.75, 0.975, 1.0])
    names = ["min", "q025", "q25", "median", "q75", "q975", "max"]
    return {n: _json_float(x) for n, x in zip(names, qs, strict=True)}


def _json_float(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def gosh(
    res: PoolResult,
    *,
    subsets: int | None = None,
    method: str | None = None,
    seed: int | None = None,
    n_jobs: int | None = None,
    chunk_size: int = 1 << 17,
    progress: ProgressCallback | None = None,
    engine: str = "auto",
    client: Any = None,
) -> GoshResult:
    """Fit the model of ``res`` to every subset of its studies (or a random sample).

    Parameters
    ----------
    res : PoolResult
        The fitted model (``yi, vi, X, method, test, labels`` are used).
    subsets : int, optional
        Number of subsets. Default: all 2^k - 1 subsets (of at least p studies) when
        k <= 24, else a random sample of 1,000,000. When ``subsets`` is at least the number of
        possible subsets, all are fitted.
    method : {"EE", "DL", "ML", "REML"}, optional
        Estimator for the subsets; default ``res.method``. EE and DL have closed forms and
        are fastest; REML and ML use vectorised Fisher scoring.
    seed : int, optional
        Seed of the random sample (ignored when exhaustive). Default: drawn from the
        operating system and recorded in the result.
    n_jobs : int, optional
        Threads (default: all cores).
    chunk_size : int
        Subsets per chunk (bounds the working memory, about 60 bytes x k per subset).
    progress : callable(done, total), optional
        Called after each chunk, from the calling thread.
    engine : {"auto", "compiled", "numpy"}
        Kernel of the closed-form EE/DL path and of intercept-only ML/REML: the compiled
        loops, the numpy fallback, or ``"auto"`` (compiled when built). Same numbers (EE/DL
        bit for bit, ML/REML to the 1e-10 convergence threshold).
    client : dask.distributed.Client, optional
        Run the chunks on this Dask cluster instead of local threads (see
        :func:`sci_evidence.meta.distributed_runs.connect`); the results are identical to a
        local run (same chunks, same seed, same bits). ``n_jobs`` is then unused.

    Returns
    -------
    GoshResult

    Notes
    -----
    Subsets are ordered as metafor builds them with ``expand.grid``: subset j (0-based) of
    an exhaustive run holds study i when bit i of j + 1 is set. A subset of one study has
    estimate y_i, tau2 = 0, Q = 0, I2 = 0 and H2 = 1 (as metafor's ``gosh``).

    References
    ----------
    Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH - a graphical display of study
    heterogeneity. Research Synthesis Methods 3(3):214-223. doi:10.1002/jrsm.1053
    """
    require_pool_result(res, "gosh")
    y = np.asarray(res.yi, dtype=float)
    v = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    k, p = X.shape
    if k < 2:
        raise InputError("GOSH needs at least 2 studies", column="k", value=k)
    meth = _resolve_method(method if method is not None else res.method)
    test = res.test or "z"
    labels = tuple(res.labels or [f"Study {i + 1}" for i in range(k)])
    n_possible = sum(_comb(k, j) for j in range(p, k + 1))
    if subsets is not None:
        if int(subsets) < 2:
            raise InputError("the number of GOSH subsets must be at least 2", value=subsets)
        exhaustive = int(subsets) >= n_possible
    else:
        exhaustive = k <= MAX_EXHAUSTIVE_K
    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    chunk_size = max(1024, int(chunk_size))
    use_compiled = _resolve_engine(engine)

    if exhaustive:
        if p == 1 and meth in ("EE", "DL"):
            out = _exhaustive_closed_form(
                y, v, meth, n_jobs, chunk_size, progress, use_compiled, client
            )
            masks = np.arange(1, 2**k, dtype=np.uint64)
        else:
            out, masks = _exhaustive_general(
                y, v, X, meth, test, n_jobs, chunk_size, progress, use_compiled, client
            )
        used_seed = None
    else:
        n = int(subsets) if subsets is not None else DEFAULT_RANDOM_SUBSETS
        used_seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        out, masks = _sampled(
            y, v, X, meth, test, n, used_seed, n_jobs, chunk_size, progress, use_compiled, client
        )
    est, tau2, i2, q, nst = out
    return GoshResult(
        k=k,
        method=meth,
        exhaustive=exhaustive,
        seed=used_seed,
        labels=labels,
        estimate=est,
        tau2=tau2,
        I2=i2,
        Q=q,
        n_studies=nst,
        masks=masks,
        p=p,
    )


def _comb(n: int, r: int) -> int:
    from math import comb

    return comb(n, r)


def _resolve_method(method: str) -> str:
    m = _METHOD_ALIASES.get(str(method).upper(), str(method).upper())
    if m not in GOSH_METHODS:
        raise InputError(
            "GOSH supports the estimators " + ", ".join(GOSH_METHODS) + "; pass method= one of"
            " them",
            column="method",
            value=method,
        )
    return m


def _resolve_engine(engine: str) -> bool:
    """True when the compiled kernel is to be used."""
    if engine not in GOSH_ENGINES:
        raise InputError(
            "GOSH engine must be one of " + ", ".join(GOSH_ENGINES), column="engine", value=engine
        )
    if engine == "compiled" and _gosh_kernel is None:
        raise InputError(
            "the compiled GOSH kernel is not built (no C compiler at install?); use "
            "engine='numpy' or 'auto'",
            column="engine",
            value=engine,
        )
    return engine != "numpy" and _gosh_kernel is not None


def _subset_tables(a: np.ndarray, nbits: int, offset: int) -> np.ndarray:
    """Sums of the columns of ``a`` over every subset of studies offset..offset+nbits-1.

    ``a`` has shape (m, k); returns (m, 2^nbits) where entry [:, s] sums the columns whose
    bit is set in s.
    """
    t = np.zeros((a.shape[0], 1 << nbits))
    for j in range(nbits):
        size = 1 << j
        t[:, size : 2 * size] = t[:, :size] + a[:, offset + j : offset + j + 1]
    return t


@dataclass(frozen=True)
class _Job:
    """Everything a chunk of subsets needs: picklable, so chunks can run on Dask workers.

    ``kind``: "compiled" (closed form, span = masks m0..m1-1), "numpy" (closed form, span =
    rows h0..h1-1 of the high table) or "masks" (span = positions a..b-1 of ``masks``).
    """

    kind: str
    method: str
    k: int
    y: np.ndarray | None = None
    v: np.ndarray | None = None
    X: np.ndarray | None = None
    test: str = "z"
    yc: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    low_bits: int = 0
    centre: float = 0.0
    masks: np.ndarray | None = None
    use_compiled: bool = False
    #: fit_batch's engine for the subsets the compiled GOSH loops do not cover
    batch_engine: str = "numpy"


def _run_span(job: _Job, a: int, b: int, outs: list[np.ndarray] | None = None):
    """Fits of one chunk: (first output position, est, tau2, I2, Q, n). The compiled
    kernels write straight into ``outs`` (the full result arrays) when given."""
    if job.kind == "compiled":
        pos = a - 1  # mask m lands at position m - 1
        out = _views(outs, pos, b - a)
        _gosh_kernel.closed_form(
            job.lo, job.hi, job.yc, job.v, job.low_bits, a, b, int(job.method == "DL"),
            job.centre, *out,
        )  # fmt: skip
        return (pos, *out)
    if job.kind == "numpy":
        return _closed_form_rows(job, a, b)
    if job.use_compiled:
        out = _views(outs, a, b - a)
        conv = np.empty(b - a, dtype=np.uint8)
        _gosh_kernel.reml_masks(
            job.y, job.v, _span_masks(job, a, b), int(job.method == "REML"), 1e-10, 1000,
            *out, conv,
        )  # fmt: skip
        _unconverged_to_nan(out, conv == 0)
        return (a, *out)
    return (a, *_fit_mask_rows(job, a, b))


def _span_masks(job: _Job, a: int, b: int) -> np.ndarray:
    """The masks at positions a..b-1: listed in ``job.masks``, or, when it is None (every
    subset, none listed: 2^30 masks would take 8 GB), the masks a + 1 .. b."""
    if job.masks is not None:
        return job.masks[a:b]
    return np.arange(a + 1, b + 1, dtype=np.uint64)


def _views(outs, pos, n):
    if outs is not None:
        return [o[pos : pos + n] for o in outs]
    return [np.empty(n) for _ in range(4)] + [np.empty(n, dtype=np.uint8)]


def _execute(job, spans, n_total, n_dtype, n_jobs, progress, client):
    """Run ``spans`` of ``job`` on threads (or on a Dask ``client``) into result arrays."""
    outs = [np.empty(n_total) for _ in range(4)] + [np.empty(n_total, dtype=n_dtype)]

    def place(chunk: tuple[int, ...]) -> int:
        # one finished span: its first subset's position and its five result arrays
        pos, *arrays = chunk
        n = arrays[0].shape[0]
        for o, a in zip(outs, arrays, strict=True):
            if not np.may_share_memory(o, a):  # compiled kernels wrote in place
                o[pos : pos + n] = a
        return n

    if client is not None:
        from .distributed_runs import run_on_client

        run_on_client(client, _run_span, job, spans, place, progress, n_total)
    else:
        tasks = [(lambda a=a, b=b: place(_run_span(job, a, b, outs))) for a, b in spans]
        run_chunks(tasks, n_jobs, progress, n_total)
    return tuple(outs)


def _exhaustive_closed_form(
    y, v, method, n_jobs, chunk_size, progress, use_compiled=False, client=None
):
    job = _closed_form_job(y, v, method, chunk_size, use_compiled)
    n_total = (1 << job.k) - 1
    if job.kind == "compiled":
        step = max(1024, chunk_size)
        spans = [(m0, min(m0 + step, n_total + 1)) for m0 in range(1, n_total + 1, step)]
    else:
        rows = max(1, chunk_size >> job.low_bits)
        n_rows = 1 << (job.k - job.low_bits)
        spans = [(h0, min(h0 + rows, n_rows)) for h0 in range(0, n_rows, rows)]
    return _execute(job, spans, n_total, np.uint8, n_jobs, progress, client)


def _closed_form_job(y, v, method, chunk_size, use_compiled) -> _Job:
    """The closed-form EE/DL job of all subsets: spans are masks m0..m1-1 ("compiled") or
    rows h0..h1-1 of the high table, i.e. masks h0 << L .. (h1 << L) - 1 ("numpy")."""
    k = y.size
    # Centre y at the overall EE mean: Q = sum(w y^2) - (sum w y)^2 / sum(w) then loses
    # fewer digits to cancellation; estimates are shifted back at the end.
    w = 1.0 / v
    centre = float(np.sum(w * y) / np.sum(w))
    yc = y - centre
    a = np.vstack([w, w * yc, w * yc * yc, w * w, np.ones(k)])
    low_bits = min(k, max(1, int(np.log2(chunk_size))), 16)
    high_bits = k - low_bits
    lo = np.ascontiguousarray(_subset_tables(a, low_bits, 0))
    hi = np.ascontiguousarray(_subset_tables(a, high_bits, low_bits))
    compiled = use_compiled and k <= 62
    return _Job(
        kind="compiled" if compiled else "numpy",
        method=method,
        k=k,
        v=np.ascontiguousarray(v, dtype=float),
        yc=np.ascontiguousarray(yc),
        lo=lo,
        hi=hi,
        low_bits=low_bits,
        centre=centre,
    )


def _closed_form_rows(job: _Job, h0: int, h1: int):
    """The numpy closed form over rows h0..h1-1 of the high table (masks h << L | l)."""
    method, low_bits, yc, v = job.method, job.low_bits, job.yc, job.v
    lo, hi = job.lo, job.hi
    S = hi[:, h0:h1, None] + lo[:, None, :]
    sw, swy, swy2, sw2, cnt = S[0], S[1], S[2], S[3], S[4]
    with np.errstate(divide="ignore", invalid="ignore"):
        est = swy / sw
        q = np.maximum(swy2 - swy * est, 0.0)
        df = cnt - 1.0
        q = np.where(cnt > 1, q, 0.0)
        if method == "EE":
            tau2 = np.zeros_like(q)
            i2 = np.where((q > df) & (df > 0), 100.0 * (q - df) / q, 0.0)
        else:
            c = sw - sw2 / sw
            tau2 = np.where(df > 0, np.maximum(0.0, (q - df) / c), 0.0)
            s2 = df / c
            i2 = np.where(tau2 > 0, 100.0 * tau2 / (tau2 + s2), 0.0)
            het = tau2 > 0
            if het.any():
                lo_incl = (
                    (np.arange(1 << low_bits)[None, :] >> np.arange(low_bits)[:, None]) & 1
                ).astype(float)
                hi_rows = np.arange(h0, h1)
                est = np.where(het, _dl_estimate(tau2, yc, v, lo_incl, hi_rows, low_bits), est)
    start = (h0 << low_bits) - 1
    first = 1 if start < 0 else 0  # the empty subset (mask 0) is not a subset
    return (
        max(start, 0),
        (est + job.centre).ravel()[first:],
        tau2.ravel()[first:],
        i2.ravel()[first:],
        q.ravel()[first:],
        cnt.ravel()[first:].astype(np.uint8),
    )


def _dl_estimate(tau2, yc, v, lo_incl, hi_rows, low_bits):
    """sum(y / (v + tau2)) / sum(1 / (v + tau2)) over each subset of a chunk."""
    acc_w = np.zeros_like(tau2)
    acc_wy = np.zeros_like(tau2)
    tmp = np.empty_like(tau2)
    for j in range(yc.size):
        np.add(tau2, v[j], out=tmp)
        if j < low_bits:
            np.divide(lo_incl[j][None, :], tmp, out=tmp)
        else:
            bit = ((hi_rows >> (j - low_bits)) & 1).astype(float)
            np.divide(bit[:, None], tmp, out=tmp)
        acc_w += tmp
        tmp *= yc[j]
        acc_wy += tmp
    return acc_wy / acc_w


def _masks_to_matrix(masks: np.ndarray, k: int) -> np.ndarray:
    return ((masks[:, None] >> np.arange(k, dtype=np.uint64)[None, :]) & np.uint64(1)).astype(bool)


def _exhaustive_general(
    y, v, X, method, test, n_jobs, chunk_size, progress, use_compiled=False, client=None
):
    k, p = X.shape
    all_masks = np.arange(1, 2**k, dtype=np.uint64)
    if p > 1:
        counts = _popcount(all_masks)
        all_masks = all_masks[counts >= p]
    return _fit_masks(
        y, v, X, method, test, all_masks, k, n_jobs, chunk_size, progress, use_compiled, client
    )


def _popcount(masks: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(masks).astype(np.int64)
    m = masks.copy()
    c = np.zeros(m.shape, dtype=np.int64)
    while m.any():
        c += (m & np.uint64(1)).astype(np.int64)
        m >>= np.uint64(1)
    return c


def _fit_masks(
    y, v, X, method, test, masks, k, n_jobs, chunk_size, progress, use_compiled=False, client=None
):
    n_total = masks.shape[0]
    compiled = (
        use_compiled
        and method in ("ML", "REML")
        and X.shape[1] == 1
        and bool(np.all(X[:, 0] == 1.0))
        and masks.dtype == np.uint64
        and k <= 62
    )
    job = _Job(
        kind="masks",
        method=method,
        k=k,
        y=np.ascontiguousarray(y, dtype=float),
        v=np.ascontiguousarray(v, dtype=float),
        X=X,
        test=test,
        masks=np.ascontiguousarray(masks),
        use_compiled=compiled,
        batch_engine="auto" if use_compiled else "numpy",
    )
    # compiled: per-subset Fisher scoring in C, GIL released, so every thread computes
    step = max(1024, chunk_size // 8) if compiled else max(256, chunk_size // max(k, 1))
    spans = [(a, min(a + step, n_total)) for a in range(0, n_total, step)]
    n_dtype = np.uint8 if k < 256 else np.int32
    out = _execute(job, spans, n_total, n_dtype, n_jobs, progress, client)
    return out, masks


def _fit_mask_rows(job: _Job, a: int, b: int):
    """(est, tau2, I2, Q, n) of the subsets at positions a..b-1 of ``job.masks``."""
    masks = _span_masks(job, a, b)
    m = _masks_to_matrix(masks, job.k) if masks.dtype == np.uint64 else masks
    fits = fit_batch(
        job.y, job.v, job.X, method=job.method, test=job.test, mask=m, engine=job.batch_engine
    )
    n_dtype = np.uint8 if job.k < 256 else np.int32
    out = [fits.beta[:, 0].copy(), fits.tau2.copy(), fits.I2.copy(), fits.Q.copy()]
    _unconverged_to_nan(out, ~np.asarray(fits.converged, dtype=bool))
    return (*out, fits.n.astype(n_dtype))


def _unconverged_to_nan(out, failed: np.ndarray) -> None:
    """A subset whose (RE)ML iterations did not converge has no estimate: metafor's gosh()
    records NA for the fits that rma() refuses ("Fisher scoring algorithm did not
    converge"), and the summaries and plots skip it; the last iterate is not a maximum."""
    if failed.any():
        for o in out[:4]:
            o[failed] = np.nan


def _sampled(
    y, v, X, method, test, n, seed, n_jobs, chunk_size, progress, use_compiled=False, client=None
):
    """A random sample of subsets of at least p studies, as metafor draws them.

    metafor draws a subset size m from p..k with probability dbinom(m, k, 1/2) and then m
    studies at random; that is each study in or out with probability 1/2, conditioned on
    holding at least p studies. Each chunk has its own child seed, so the sample does not
    depend on the number of threads.
    """
    k, p = X.shape
    step = _SAMPLE_BLOCK
    starts = list(range(0, n, step))
    children = np.random.SeedSequence(seed).spawn(len(starts))
    use_bits = k <= 64
    masks = np.empty(n, dtype=np.uint64) if use_bits else np.empty((n, k), dtype=bool)
    for a, child in zip(starts, children, strict=True):
        b = min(a + step, n)
        rng = np.random.default_rng(child)
        m = rng.random((b - a, k)) < 0.5
        bad = m.sum(axis=1) < p
        while bad.any():
            m[bad] = rng.random((int(bad.sum()), k)) < 0.5
            bad = m.sum(axis=1) < p
        if use_bits:
            masks[a:b] = (m.astype(np.uint64) << np.arange(k, dtype=np.uint64)).sum(
                axis=1, dtype=np.uint64
            )
        else:
            masks[a:b] = m
    return _fit_masks(
        y, v, X, method, test, masks, k, n_jobs, chunk_size, progress, use_compiled, client
    )
