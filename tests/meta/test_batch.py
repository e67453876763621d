"""``fit_batch``: a fit gives the same bits whatever batch it is computed in (chunked and
seeded runs, threads and Dask workers depend on it), and agrees with single fits."""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.meta._batch import _gosh_kernel, fit_batch
from sci_evidence.meta.models import fit_design


def _permuted(k=17, B=600, seed=4):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.3, k)
    x = rng.normal(size=k)
    y = 0.1 + 0.4 * x + rng.normal(0, np.sqrt(v + 0.08))
    perm = np.argsort(rng.random((B, k)), axis=1)
    X = np.column_stack([np.ones(k), x, x * x])
    return y[perm], v[perm], X


@pytest.mark.parametrize("method", ["EE", "DL", "ML", "REML"])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_a_fit_has_the_same_bits_in_any_batch(method, p):
    Y, V, X = _permuted()
    X = X[:, :p]
    whole = fit_batch(Y, V, X, method=method, test="knha")
    for a, b in ((0, 1), (5, 42), (42, 600), (599, 600)):
        part = fit_batch(Y[a:b], V[a:b], X, method=method, test="knha")
        for name in ("beta", "se", "tau2", "Q", "I2", "QM"):
            assert np.array_equal(getattr(part, name), getattr(whole, name)[a:b]), name


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_batched_fits_equal_single_fits(method):
    Y, V, X = _permuted(B=25)
    fits = fit_batch(Y, V, X, method=method)
    for b in range(0, 25, 6):
        f = fit_design(Y[b], V[b], X, method=method)
        assert fits.beta[b] == pytest.approx(np.asarray(f.beta), rel=1e-7, abs=1e-9)
        assert fits.tau2[b] == pytest.approx(f.tau2, rel=1e-7, abs=1e-10)
        assert fits.QM[b] == pytest.approx(f.QM, rel=1e-7)


@pytest.mark.skipif(_gosh_kernel is None, reason="compiled kernel not built")
@pytest.mark.parametrize("method", ["ML", "REML"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("seed", range(8))
def test_compiled_fisher_scoring_equals_numpy(method, p, seed):
    """Per-row Fisher scoring in C against the vectorised numpy iteration: random
    permutations, random study masks (some rows with n <= p), heterogeneous and not."""
    Y, V, X = _permuted(k=int(5 + 3 * seed), B=300, seed=seed)
    X = X[:, :p]
    rng = np.random.default_rng(seed)
    mask = rng.random(Y.shape) < 0.8
    mask[:5] = False
    mask[:5, : p + (seed % 2)] = True  # a few rows with n <= p studies
    if seed % 3 == 0:
        V = V * 50.0  # mostly tau2 = 0 at the boundary
    a = fit_batch(Y, V, X, method=method, mask=mask, engine="numpy")
    b = fit_batch(Y, V, X, method=method, mask=mask, engine="compiled")
    assert np.array_equal(a.converged, b.converged)
    assert np.array_equal(a.tau2 == 0, b.tau2 == 0)
    for name in ("tau2", "beta", "se", "Q", "I2", "QM"):
        got, ref = getattr(b, name), getattr(a, name)
        assert got == pytest.approx(ref, rel=1e-8, abs=1e-10, nan_ok=True), name


def test_engine_is_validated():
    Y, V, X = _permuted(B=3)
    with pytest.raises(ValueError, match="engine"):
        fit_batch(Y, V, X, method="REML", engine="gpu")
    with pytest.raises(ValueError, match="p <= 2"):
        fit_batch(Y, V, X, method="REML", engine="compiled")  # p = 3
