"""The GLMM engine's fast paths compute what the general code computes.

* one row per study with loading 1 (PLO, IRLN, CM.AL): ``_loglik_and_grad_simple`` and
  ``_modes_simple`` against the general batched code — bit for bit;
* fit_glmm's forward-difference Hessian shortcut against the general ``hessian`` code;
* UM.RS: the batched Laplace likelihood against the one-point ``_laplace2``.
"""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.meta import _glmm_conditional as C
from sci_evidence.meta import _glmm_engine as E

XI = np.array([0.0, 3, 12, 1, 7, 25, 2])
NI = np.array([10.0, 40, 30, 8, 50, 60, 19])


def _problem(family="binomial"):
    k = len(XI)
    fam = E.make_family(family, XI, NI if family == "binomial" else None)
    off = np.zeros(k) if family == "binomial" else np.log(NI)
    return E.GlmmProblem.build(fam, np.ones((k, 1)), off, np.ones(k), np.arange(k), k, 7)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_simple_path_equals_general_path(family):
    prob = _problem(family)
    assert prob.simple
    rng = np.random.default_rng(3)
    params = np.column_stack([rng.normal(-1, 1, 6), rng.uniform(-2, 3, 6)])
    u0 = rng.normal(0, 0.3, (6, len(XI)))
    fast = E.loglik_and_grad_batch(prob, params, u0)
    prob.simple = False
    slow = E.loglik_and_grad_batch(prob, params, u0)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


def test_forward_hessian_shortcut_equals_general_code():
    prob = _problem()
    params = np.array([-1.3, 0.8])
    u = np.zeros(len(XI))
    local = np.full(2, -1)
    fast = E.hessian(prob, params, u, local, forward=True)
    # the general code: forward differences from a given base gradient
    ll, g0, *_ = E.loglik_and_grad(prob, params, u)
    general = E.hessian(prob, params, u, local, g0)
    np.testing.assert_array_equal(fast[4], general)
    assert fast[0] == ll
    np.testing.assert_array_equal(fast[1], g0)


def test_batched_laplace_equals_one_point_laplace():
    k = 5
    a = np.array([3.0, 0, 7, 2, 10])
    c = np.array([5.0, 2, 9, 1, 14])
    n1 = np.array([20.0, 15, 30, 12, 40])
    n2 = np.array([21.0, 14, 31, 10, 42])
    y = np.ravel(np.column_stack([a, c]))
    n = np.ravel(np.column_stack([n1, n2]))
    fam = E.make_family("binomial", y, n)
    group = np.repeat(np.arange(k), 2)
    z = np.tile([0.5, -0.5], k)
    X = np.column_stack([np.tile([1.0, 0.0], k), np.ones(2 * k)])
    off = np.zeros(2 * k)
    pars = np.array([[-0.4, -1.5, 0.6, 0.4], [0.1, -1.0, 0.2, 0.9], [-0.2, -2.0, 1.1, 0.05]])
    u0 = np.zeros((k, 2))
    vals, modes = C._laplace2_batch(
        fam, X, off, z, k, pars[:, :2], pars[:, 2], pars[:, 3], np.broadcast_to(u0, (3, k, 2))
    )
    for i, p in enumerate(pars):
        v1, u1 = C._laplace2(fam, X, off, z, group, k, p[:2], p[2], p[3], u0)
        assert vals[i] == pytest.approx(v1, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(modes[i], u1, rtol=1e-9, atol=1e-11)
