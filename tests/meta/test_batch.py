"""``fit_batch``: a fit gives the same bits whatever batch it is computed in (chunked and
seeded runs, threads and Dask workers depend on it), and agrees with single fits."""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.meta._batch import fit_batch
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
