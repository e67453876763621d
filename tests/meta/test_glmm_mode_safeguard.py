"""The conditional modes of the binomial-normal GLMM converge where plain Newton cycles.

8 of 10 events at tau ~ 1.7 and beta ~ -2.25 (the bundled review's intrathecal adverse-event
rows, issue 18): Newton on h(u) = x·eta - n·log(1 + e^eta) - u²/2 jumps between two points
for ever; the fit then stopped on a wrong maximum (tau² 2.84 instead of metafor's 8.33). The
pinned metafor values are in tests/review/test_safety.py (metafor_safety_route.json)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sci_evidence.meta import _glmm_engine as E
from tolerances import GLMM_MODE_ATOL

XI = np.array([0, 3, 0, 0, 0, 0, 8, 2, 1], dtype=float)
NI = np.array([10, 14, 50, 11, 30, 5, 10, 9, 44], dtype=float)


def _mode_by_bisection(x, n, beta, tau):
    """The root of h'(u) = tau·(x - n·expit(beta + tau·u)) - u (decreasing in u)."""
    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if tau * (x - n * expit(beta + tau * mid)) - mid > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def test_modes_converge_where_plain_newton_cycles():
    fam = E.make_family("binomial", XI, NI)
    beta, tau = -2.2513, 1.6852
    eta0 = np.full((1, len(XI)), beta)
    u, ok = E._modes_simple(fam, eta0, np.array([[tau]]), np.zeros((1, len(XI))))
    assert ok
    want = [_mode_by_bisection(x, n, beta, tau) for x, n in zip(XI, NI, strict=True)]
    np.testing.assert_allclose(u[0], want, atol=GLMM_MODE_ATOL)
    # the general path gives the same modes (the same arithmetic)
    prob = E.GlmmProblem.build(fam, np.ones((9, 1)), np.zeros(9), np.ones(9), np.arange(9), 9, 7)
    prob.simple = False
    ug, okg = E._modes(prob, eta0, np.array([tau]), np.zeros((1, len(XI))))
    assert okg
    np.testing.assert_array_equal(ug, u)


def test_plain_newton_alone_would_not_converge_here():
    # the case above is a real one: without the safeguard the 8/10 study never settles
    fam = E.make_family("binomial", XI[6:7], NI[6:7])
    u = np.zeros((1, 1))
    tb = np.array([[1.6852]])
    seen = []
    for _ in range(E._PLAIN_NEWTON):
        _, d1, d2 = fam.derivs(-2.2513 + tb * u, 12)
        step = (tb * d1 - u) / (1.0 - tb * tb * d2)
        u = u + step
        seen.append(abs(float(step[0, 0])))
    assert min(seen[-5:]) > 1.0
