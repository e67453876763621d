"""The fused compiled GOSH kernel (``meta/_gosh_kernel.c``) against the numpy fallback.

Both compute the closed-form EE/DL fits of every subset with the same operations in the same
order, so on many random data sets (homogeneous, heterogeneous, extreme variances, one
outlier) they must agree to the last bit; over several chunks and threads too. The
metafor-pinned GOSH tests in test_gosh.py run with both engines.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import pool
from sci_evidence.meta.gosh import compiled_kernel_available, gosh

# the module (meta/__init__ binds the name ``gosh`` to the function)
gosh_module = importlib.import_module("sci_evidence.meta.gosh")
needs_kernel = pytest.mark.skipif(
    not compiled_kernel_available(), reason="compiled GOSH kernel not built"
)
FIELDS = ("estimate", "tau2", "I2", "Q", "n_studies", "masks")


def _random_data(seed: int):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 15))
    kind = seed % 4
    if kind == 0:  # homogeneous: most subsets have tau2 = 0
        vi = rng.uniform(0.05, 0.5, k)
        yi = rng.normal(0.2, np.sqrt(vi))
    elif kind == 1:  # strongly heterogeneous
        vi = rng.uniform(0.01, 0.2, k)
        yi = rng.normal(-0.5, np.sqrt(vi + 0.5))
    elif kind == 2:  # variances over five orders of magnitude
        vi = 10.0 ** rng.uniform(-4, 1, k)
        yi = rng.normal(1.0, 1.0, k)
    else:  # one outlier, large effects
        vi = rng.uniform(0.02, 0.6, k)
        yi = rng.normal(3.0, 0.3, k)
        yi[0] += 8.0
    return yi, vi


@needs_kernel
@pytest.mark.parametrize("method", ["EE", "DL"])
@pytest.mark.parametrize("seed", range(30))
def test_compiled_kernel_equals_numpy_path_bit_for_bit(seed, method):
    yi, vi = _random_data(seed)
    res = pool(yi, vi, method=method)
    a = gosh(res, engine="numpy")
    b = gosh(res, engine="compiled")
    assert a.exhaustive and b.exhaustive and a.n_subsets == 2**yi.size - 1
    for name in FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@needs_kernel
@pytest.mark.parametrize("chunk_size, n_jobs", [(1024, 1), (1024, 2), (3000, 2), (1 << 20, 2)])
def test_compiled_kernel_over_chunks_and_threads(chunk_size, n_jobs):
    yi, vi = _random_data(5)
    yi, vi = np.resize(yi, 15) + np.linspace(0, 1, 15), np.resize(vi, 15)
    res = pool(yi, vi, method="DL")
    ref = gosh(res, engine="numpy", chunk_size=chunk_size, n_jobs=1)
    got = gosh(res, engine="compiled", chunk_size=chunk_size, n_jobs=n_jobs)
    for name in FIELDS:
        assert np.array_equal(getattr(ref, name), getattr(got, name)), name
    # the chunking does not change the numbers beyond rounding
    other = gosh(res, engine="compiled", chunk_size=1 << 16)
    assert other.estimate == pytest.approx(ref.estimate, rel=1e-12, abs=1e-12)


@needs_kernel
def test_auto_takes_the_compiled_kernel_and_progress_counts_every_subset():
    yi, vi = _random_data(1)
    res = pool(yi, vi, method="DL")
    seen = []
    g = gosh(res, chunk_size=1024, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (g.n_subsets, g.n_subsets)
    assert np.array_equal(g.estimate, gosh(res, engine="compiled").estimate)


@needs_kernel
def test_kernel_rejects_inconsistent_buffers():
    from sci_evidence.meta import _gosh_kernel

    lo = np.zeros((5, 4))
    hi = np.zeros((5, 2))
    y = np.zeros(3)
    out = np.empty(7)
    n = np.empty(7, dtype=np.uint8)
    with pytest.raises(ValueError, match="inconsistent"):  # hi must have 2^(3 - 2) columns
        _gosh_kernel.closed_form(lo, np.zeros((5, 3)), y, y, 2, 1, 8, 1, 0.0, out, out, out, out, n)
    with pytest.raises(ValueError, match="inconsistent"):  # outputs too short
        _gosh_kernel.closed_form(lo, hi, y, y, 2, 1, 8, 1, 0.0, out[:3], out, out, out, n)
    with pytest.raises(ValueError, match="inconsistent"):  # mask 0 is not a subset
        _gosh_kernel.closed_form(lo, hi, y, y, 2, 0, 8, 1, 0.0, out, out, out, out, n)


def test_engine_is_validated_and_numpy_fallback_without_kernel(monkeypatch):
    yi, vi = _random_data(2)
    res = pool(yi, vi, method="DL")
    with pytest.raises(InputError, match="engine"):
        gosh(res, engine="gpu")
    ref = gosh(res, engine="numpy")
    monkeypatch.setattr(gosh_module, "_gosh_kernel", None)
    assert not compiled_kernel_available()
    with pytest.raises(InputError, match="not built"):
        gosh(res, engine="compiled")
    fallback = gosh(res)  # auto falls back to numpy
    for name in FIELDS:
        assert np.array_equal(getattr(ref, name), getattr(fallback, name)), name


@needs_kernel
@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("seed", range(20))
def test_compiled_reml_equals_numpy_fisher_scoring(seed, method):
    """Per-subset Fisher scoring in C against the vectorised numpy iteration: both stop at
    |change| <= 1e-10, their sums differ in order only, so they agree far below that."""
    yi, vi = _random_data(seed)
    res = pool(yi, vi, method=method)
    a = gosh(res, engine="numpy")
    b = gosh(res, engine="compiled")
    assert np.array_equal(a.masks, b.masks) and np.array_equal(a.n_studies, b.n_studies)
    for name in ("estimate", "tau2", "I2", "Q"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-8, abs=1e-9), name


@needs_kernel
@pytest.mark.parametrize("method", ["REML", "DL"])
def test_compiled_kernel_on_a_seeded_random_sample(method):
    yi, vi = _random_data(7)
    yi, vi = np.resize(yi, 30) + np.linspace(-1, 1, 30), np.resize(vi, 30)
    res = pool(yi, vi, method=method)
    a = gosh(res, subsets=20_000, seed=5, engine="numpy")
    b = gosh(res, subsets=20_000, seed=5, engine="compiled", n_jobs=2, chunk_size=4096)
    assert np.array_equal(a.masks, b.masks)
    for name in ("estimate", "tau2", "I2", "Q"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-8, abs=1e-9), name


@needs_kernel
def test_kernel_releases_the_gil_so_threads_compute_at_once():
    """While one thread is inside the REML loop, another keeps running Python: the longest
    pause of the second thread is far shorter than the kernel call (a held GIL would stall
    it for the whole call)."""
    import threading
    import time

    from sci_evidence.meta import _gosh_kernel

    k = 20
    yi, vi = np.resize(_random_data(1)[0], k), np.resize(_random_data(1)[1], k)
    masks = np.arange(1, 1 << k, dtype=np.uint64)
    n = masks.size
    outs = [np.empty(n) for _ in range(4)] + [np.empty(n, dtype=np.uint8)] * 2
    span = {}

    def work():
        span["start"] = time.perf_counter()
        _gosh_kernel.reml_masks(yi, vi, masks, 1, 1e-10, 1000, *outs)
        span["stop"] = time.perf_counter()

    t = threading.Thread(target=work)
    stamps = []
    t.start()
    while t.is_alive():
        stamps.append(time.perf_counter())
    t.join()
    inside = [s for s in stamps if span["start"] <= s <= span["stop"]]
    duration = span["stop"] - span["start"]
    assert duration > 0.05  # long enough to tell
    points = [span["start"], *inside, span["stop"]]
    longest_pause = max(b - a for a, b in zip(points, points[1:], strict=False))
    assert longest_pause < 0.5 * duration
