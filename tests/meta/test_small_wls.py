"""The cheap p × p algebra of a meta-regression fit against the matrix formulas it replaced.

meta/_small_wls.py (coefficients, covariance, Cochran's Q and tr P on Python floats) against
tau2.weighted_fit/_traces and numpy.linalg; validation._min_pivot_23 (the unrolled rank test)
against the general loop of _min_cholesky_pivot, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.meta import _small_wls, validation
from sci_evidence.meta.tau2 import _traces, weighted_fit
from tolerances import SMALL_WLS_COND_RTOL


def _design(rng, k: int, p: int, intercept: bool = True) -> np.ndarray:
    # moderators on different scales (0.1 to 100), off-centre by up to twice their spread
    scales = 10 ** rng.uniform(-1, 2, p)
    cols = [(rng.normal(size=k) + rng.uniform(-2, 2)) * s for s in scales]
    if intercept:
        cols[0] = np.ones(k)
    return np.column_stack(cols)


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("intercept", [True, False])
def test_wls_and_q_trace_equal_the_matrix_formulas(p, intercept):
    rng = np.random.default_rng(100 + p)
    for _ in range(50):
        k = int(rng.integers(p + 1, 60))
        X = _design(rng, k, p, intercept)
        yi = X @ rng.normal(size=p) + rng.normal(size=k)
        w = 1.0 / (rng.uniform(0.01, 1.0, k) + rng.uniform(0, 0.5))
        beta, A, Xw, m00 = _small_wls.wls(yi, w, X)
        want_b, want_A, e = weighted_fit(yi, w, X)
        M = X.T @ (X * w[:, None])
        d = 1.0 / np.sqrt(M.diagonal())
        # p ≤ 3: both invert the diagonally scaled matrix; p > 3: numpy inverts X'WX as it
        # is, and its rounding grows with the condition number of the unscaled matrix
        tol = SMALL_WLS_COND_RTOL * np.linalg.cond(M * d[:, None] * d[None, :] if p <= 3 else M)
        _close(beta, want_b, tol)
        _close(A, want_A.ravel(), tol)
        assert m00 == pytest.approx(float(w @ X[:, 0] ** 2), rel=1e-13)
        Q, trP = _small_wls.q_and_trace(yi, w, X, beta, A, Xw)
        assert (Q, trP) == _small_wls.q_and_trace(yi, w, X, beta, A, Xw, float(w.sum()))
        assert Q == pytest.approx(float(w @ (e * e)), rel=tol)
        assert trP == pytest.approx(_traces(w, X, want_A)[0], rel=tol)
        # the omnibus statistic of the last m coefficients (the old path solved V22 b = b2)
        for m in range(1, p + 1):
            V = want_A[p - m :, p - m :]
            b2 = want_b[p - m :]
            V_flat = [A[i * p + j] for i in range(p - m, p) for j in range(p - m, p)]
            got = _small_wls.quadratic_form_inverse(beta[p - m :], V_flat, m)
            want = float(b2 @ np.linalg.solve(V, b2))
            assert got == pytest.approx(want, rel=tol), m


def _close(got, want, tol: float) -> None:
    """Equal up to ``tol`` relative to the largest element (norm-wise, as rounding errors of
    a linear solve are bounded)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want))


def _loop_pivot(G):
    """_min_cholesky_pivot's general loop: G padded to four columns with unit columns
    orthogonal to it, whose pivots are exactly 1 and leave the others unchanged."""
    p = len(G)
    H = [row + [0.0] * (4 - p) for row in G]
    H += [[0.0] * p + [1.0 if j == i else 0.0 for j in range(4 - p)] for i in range(4 - p)]
    return validation._min_cholesky_pivot(H)


@pytest.mark.parametrize("p", [2, 3])
def test_unrolled_pivot_equals_the_loop(p):
    rng = np.random.default_rng(300 + p)
    for i in range(400):
        k = int(rng.integers(p, 30))
        X = _design(rng, k, p, intercept=bool(i % 2))
        if i % 4 == 0:  # nearly or exactly dependent columns
            X[:, -1] = X[:, 0] * rng.uniform(-2, 2) + rng.normal(size=k) * 10.0 ** -(i % 17)
        G = (X.T @ X).tolist()
        got = validation._min_cholesky_pivot(G)
        want = _loop_pivot(G)
        assert min(got, 1.0) == want  # bit for bit (the padding's pivots are 1)
