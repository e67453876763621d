r"""Weighted least squares for the few coefficients of a meta-regression, on Python floats.

For a k × p design with p of 1 to 3 (the usual meta-regression) numpy's per-call cost exceeds
the p × p arithmetic several times over, so :func:`wls` forms :math:`X^\top W X` and
:math:`X^\top W y` with two matrix products and does the rest on lists:

.. math::
    A = (X^\top W X)^{-1}, \qquad \hat\beta = A X^\top W y

with the inverse in closed form on the diagonally scaled matrix for p ≤ 3
(:func:`~sci_evidence.meta.tau2._spd_inverse_23`, the adjugate) and by
:func:`~sci_evidence.meta.tau2.spd_inverse` otherwise. :func:`q_and_trace` gives Cochran's
:math:`Q_E = \sum_i w_i (y_i - x_i^\top\hat\beta)^2` (from the residuals themselves, free of
the cancellation of expanded sums) and :math:`\operatorname{tr}P = \sum_i w_i -
\operatorname{tr}(A\,X^\top W^2 X)` at the equal-effect weights :math:`w_i = 1/v_i`
(see :mod:`sci_evidence.meta.heterogeneity`).
"""

from __future__ import annotations

import math

import numpy as np

from sci_evidence.meta.tau2 import _py_spd_inverse, _spd_inverse_23, spd_inverse

__all__ = ["wls", "q_and_trace", "quadratic_form_inverse"]

# direct references: the ndarray methods (.sum) and @ add a Python-level layer each
_dot = np.dot
_sum = np.add.reduce


def wls(
    yi: np.ndarray, w: np.ndarray, X: np.ndarray
) -> tuple[list[float], list[float], np.ndarray, float]:
    r"""``(beta, A, Xw, m00)``: the coefficients and ``A = (X'WX)⁻¹`` as lists (A flat,
    row-major), the p × k matrix ``Xw = X'W`` (for :func:`q_and_trace`) and the first element
    of X'WX, :math:`\sum_i w_i x_{i1}^2` (Σw when the first column is the intercept)."""
    p = X.shape[1]
    Xw = X.T * w
    xy = _dot(Xw, yi).tolist()
    if p == 1:
        s = float(_dot(Xw[0], X[:, 0]))
        return [xy[0] / s], [1.0 / s], Xw, s
    M = _dot(Xw, X)
    m = M.ravel().tolist()
    A = None
    if p <= 3:
        d = (m[0], m[4], m[8]) if p == 3 else (m[0], m[3])
        if min(d) > 0:
            A, _ = _spd_inverse_23(m, d)
            if A[0] != A[0]:  # NaN: nearly singular, the general inverse decides
                A = None
    if A is None:
        A = spd_inverse(M)[0].ravel().tolist()
    beta = [sum([A[i * p + j] * xy[j] for j in range(p)]) for i in range(p)]
    return beta, A, Xw, m[0]


def q_and_trace(
    yi: np.ndarray,
    w: np.ndarray,
    X: np.ndarray,
    beta: list[float],
    A: list[float],
    Xw: np.ndarray,
    sw: float | None = None,
) -> tuple[float, float]:
    """``(Q, tr P)`` at weights ``w`` from the :func:`wls` fit ``(beta, A, Xw)`` at ``w``;
    Q truncated at 0. ``sw`` is Σw when the caller has it."""
    e = yi - _dot(X, beta)
    Q = max(0.0, float(_dot(w, e * e)))
    M2 = _dot(Xw, Xw.T).ravel().tolist()  # X'W²X = (X'W)(WX)
    if sw is None:
        sw = float(_sum(w))
    return Q, sw - sum([a * m for a, m in zip(A, M2, strict=True)])


def quadratic_form_inverse(b: list[float], V: list[float], m: int) -> float:
    r""":math:`b^\top V^{-1} b` for a symmetric positive-definite m × m ``V`` (flat list):
    in plain Python for m ≤ 3, by ``numpy.linalg.solve`` otherwise (or when V is nearly
    singular, which the plain inverse refuses). m = 2 is written out on the diagonally
    scaled matrix [[1, r], [r, 1]] (as the inverse of ``_spd_inverse_23``):
    :math:`(z_1^2 - 2 r z_1 z_2 + z_2^2)/(1 - r^2)` with :math:`z_i = b_i/\sqrt{V_{ii}}`."""
    if m == 1:
        return b[0] * b[0] / V[0]
    if m == 2 and V[0] > 0 and V[3] > 0:
        s0, s1 = 1.0 / math.sqrt(V[0]), 1.0 / math.sqrt(V[3])
        r = V[1] * s0 * s1
        det = 1.0 - r * r
        if det > 1e-14:
            z0, z1 = b[0] * s0, b[1] * s1
            return (z0 * z0 - 2.0 * r * z0 * z1 + z1 * z1) / det
    if m <= 3:
        inv, _ = _py_spd_inverse(V, m)
        if inv[0] == inv[0]:
            return sum([b[i] * inv[i * m + j] * b[j] for i in range(m) for j in range(m)])
    bb = np.array(b)
    return float(bb @ np.linalg.solve(np.array(V).reshape(m, m), bb))
