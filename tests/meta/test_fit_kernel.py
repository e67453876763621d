"""The compiled (RE)ML tau² iteration (meta/_fit_kernel.c) against its Python reference.

``_fit_kernel.icpt`` replaces :func:`sci_evidence.meta._lean_fit._solve_py` (the
intercept-only loop of ``pool``) and ``_fit_kernel.design`` the REML/ML branch of
:func:`sci_evidence.meta.tau2.fit_tau2` for a general design. Both must take the same
decisions as the Python code (which case they decide, tau² = 0 or interior) and give the same
numbers to rounding; cases they do not decide go back to the Python path, and without the
extension (``_fit_kernel = None``) everything still works through the Python path.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from sci_evidence.meta import _lean_fit, fit_design, pool, tau2
from sci_evidence.meta.results import PoolResult
from tolerances import FIT_KERNEL_ILL_ATOL, FIT_KERNEL_RTOL

kernel = pytest.importorskip("sci_evidence.meta._fit_kernel")

FIELDS = [f.name for f in dataclasses.fields(PoolResult)]


def _close(a: float, b: float, scale: float, rtol: float = FIT_KERNEL_RTOL) -> bool:
    return abs(a - b) <= rtol * max(abs(b), scale)


def _icpt_data(rng, extreme: bool):
    """k = 2 … 60; true tau² 0, 0.05 or 1; some identical yi, some shrunk to the boundary."""
    k = int(rng.integers(2, 61))
    spread = (-3, 3) if extreme else (-1, 1)
    vi = rng.uniform(0.01, 0.2, k) * 10 ** rng.uniform(*spread, k)
    yi = 0.3 + rng.normal(0, np.sqrt(vi + rng.choice([0.0, 0.05, 1.0])))
    u = rng.random()
    if u < 0.1:
        yi = np.full(k, 0.3)
    elif u < 0.35:  # residuals about the weighted mean shrunk: REML/ML tau² = 0 mostly
        mu = float((yi / vi).sum() / (1 / vi).sum())
        yi = mu + 0.3 * (yi - mu)
    return yi, vi


def _design_data(rng, extreme: bool):
    """p = 1 … 4, with an intercept column (80 %) or without; k from p + 2 (p + 1 extreme)."""
    p = int(rng.integers(1, 5))
    k = int(rng.integers(p + 1 if extreme else p + 2, 61))
    spread = (-3, 3) if extreme else (-1, 1)
    vi = rng.uniform(0.01, 0.2, k) * 10 ** rng.uniform(*spread, k)
    scales = [10 ** rng.uniform(-2, 3) if extreme else 1.0 for _ in range(p - 1)]
    if rng.random() < 0.8:
        X = np.column_stack([np.ones(k)] + [rng.normal(size=k) * s for s in scales])
    else:
        X = rng.normal(size=(k, p))
    yi = X @ rng.normal(0, 0.3, p) + rng.normal(0, np.sqrt(vi + rng.choice([0.0, 0.05, 1.0])))
    u = rng.random()
    if u < 0.1:
        yi = np.full(k, 0.3)
    elif u < 0.35:  # residuals about the weighted fit shrunk: tau² = 0 mostly
        w = 1 / vi
        beta = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * yi))
        yi = X @ beta + 0.3 * (yi - X @ beta)
    return yi, vi, X


def _reference_design(monkeypatch, method, yi, vi, X):
    """fit_tau2 through the Python path, and the Python Q, tr P, Σw at tau² = 0."""
    with monkeypatch.context() as m:
        m.setattr(tau2, "_fit_kernel", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the general-design iteration, as the kernel's (also for a lone intercept column)
            ref = tau2.fit_tau2(method, yi, vi, X, intercept_only=False)
    return ref, tau2._Moments(yi, vi, X, False).at_zero()


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_icpt_kernel_equals_the_python_loop(method):
    rng = np.random.default_rng(20261208)
    decided = zero = 0
    for _ in range(1500):
        yi, vi = _icpt_data(rng, extreme=False)
        got, ref = _lean_fit._solve(yi, vi, method), _lean_fit._solve_py(yi, vi, method)
        assert (got is None) == (ref is None)
        if ref is None:
            continue
        decided += 1
        t, n_iter, fisher, sw, est, w, Q, trP0 = got
        zero += ref[0] == 0.0
        assert (t == 0.0) == (ref[0] == 0.0)
        assert n_iter == ref[1]  # the same steps
        assert _close(t, ref[0], float(vi.mean()))
        for a, b in ((fisher, ref[2]), (sw, ref[3]), (trP0, ref[7])):
            assert _close(a, b, 0.0)
        assert _close(est, ref[4], float(np.sqrt(vi.max())))
        assert _close(Q, ref[6], yi.shape[0])
        np.testing.assert_allclose(w, ref[5], rtol=FIT_KERNEL_RTOL)
    assert decided > 1200 and 200 < zero < decided  # both sides of the boundary


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_icpt_kernel_on_extreme_variances(method):
    """Variances over six decades: the same decisions, tau² within the stopping rule."""
    rng = np.random.default_rng(16)
    handed_back = 0
    for _ in range(1000):
        yi, vi = _icpt_data(rng, extreme=True)
        got, ref = _lean_fit._solve(yi, vi, method), _lean_fit._solve_py(yi, vi, method)
        assert (got is None) == (ref is None)
        if ref is None:
            handed_back += 1
            continue
        assert (got[0] == 0.0) == (ref[0] == 0.0)
        assert abs(got[0] - ref[0]) <= FIT_KERNEL_ILL_ATOL * max(1.0, ref[0])
    assert 0 < handed_back < 1000


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_design_kernel_equals_fit_tau2(monkeypatch, method):
    rng = np.random.default_rng(4)
    decided = zero = 0
    for _ in range(700):
        yi, vi, X = _design_data(rng, extreme=False)
        k = X.shape[0]
        got = kernel.design(yi, vi, X, method == "REML", 1e-10, 100)
        ref, (Q0, trP0, sw0) = _reference_design(monkeypatch, method, yi, vi, X)
        if got is None:
            continue  # a hard case: fit_tau2 runs the Python path (test below)
        decided += 1
        t, se, n_iter, Q, trP, sw = got
        zero += ref.tau2 == 0.0
        assert (t == 0.0) == (ref.tau2 == 0.0)
        assert n_iter == ref.n_iter
        assert _close(t, ref.tau2, float(vi.mean()))
        assert _close(se, ref.se_tau2, 0.0)
        assert _close(Q, Q0, k) and _close(trP, trP0, 0.0) and _close(sw, sw0, 0.0)
    assert decided > 650 and 100 < zero < decided


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_design_kernel_on_extreme_data(monkeypatch, method):
    """Variances over six decades, moderators on scales 1e-2 … 1e3, k down to p + 1."""
    rng = np.random.default_rng(5)
    for _ in range(500):
        yi, vi, X = _design_data(rng, extreme=True)
        got = kernel.design(yi, vi, X, method == "REML", 1e-10, 100)
        ref, _ = _reference_design(monkeypatch, method, yi, vi, X)
        if got is not None:
            assert (got[0] == 0.0) == (ref.tau2 == 0.0)
            assert abs(got[0] - ref.tau2) <= FIT_KERNEL_ILL_ATOL * max(1.0, ref.tau2)


def test_fit_tau2_returns_the_kernel_result(monkeypatch):
    """fit_tau2 hands the kernel's tau², SE and n_iter on, without the Python sums."""
    yi, vi, X = _design_data(np.random.default_rng(9), extreme=False)

    def never(*args):
        raise AssertionError("the Python moment sums were built")

    monkeypatch.setattr(tau2, "_Moments", never)
    fit = tau2.fit_tau2("REML", yi, vi, X)
    got = kernel.design(yi, vi, X, True, 1e-10, 100)
    assert (fit.tau2, fit.se_tau2, fit.n_iter) == got[:3] and fit.converged


def test_hard_cases_go_back_to_python(monkeypatch):
    """An interior maximum beside tau² = 0 (tests/data/metafor_bimodal_ml.json,
    metafor_boundary_k3) and metafor's ll0check trap: the kernel decides neither."""
    yi, vi = (
        np.array([0.48638624, 1.55805725, 1.51781313]),
        np.array([0.00929027, 0.8668619, 0.19740836]),
    )
    assert kernel.icpt(yi, vi, False, 1e-10, 100, np.empty(3)) is None
    res = pool(yi, vi, method="ML")
    assert res.tau2 > 0 and "interior maximum" in res.algorithm
    yi, vi = (
        np.array([-0.0815, 1.9873, -0.1163, -6.3087]),
        np.array([0.00882, 3.03538, 0.02514, 5.3693]),
    )
    assert kernel.icpt(yi, vi, True, 1e-10, 100, np.empty(4)) is None
    X = np.ones((4, 1))  # the same trap through the general-design kernel
    assert kernel.design(yi, vi, X, True, 1e-10, 100) is None
    x = np.array([0.1, 0.4, 0.2, 0.9])
    singular = np.column_stack([X, x, 2.0 * x])  # X'WX not positive definite
    assert kernel.design(yi, vi, singular, True, 1e-10, 100) is None


def test_inputs_the_kernel_does_not_read():
    """Strided or non-float64 arrays and p > 8: NotImplemented, and the Python path runs."""
    rng = np.random.default_rng(2)
    yi, vi = rng.normal(size=40), rng.uniform(0.05, 0.2, 40)
    assert kernel.icpt(yi[::2], vi[::2], True, 1e-10, 100, np.empty(20)) is NotImplemented
    assert kernel.icpt(yi, vi.astype(np.float32), True, 1e-10, 100, np.empty(40)) is NotImplemented
    assert _lean_fit._solve(yi[::2], vi[::2], "REML") is not None
    X = np.column_stack([np.ones(40), rng.normal(size=(40, 8))])
    assert kernel.design(yi, vi, X, True, 1e-10, 100) is NotImplemented
    assert kernel.design(yi, vi, np.asfortranarray(X[:, :3]), True, 1e-10, 100) is NotImplemented
    fit = tau2.fit_tau2("REML", yi, vi, np.asfortranarray(X[:, :3]))
    assert fit.tau2 == pytest.approx(tau2.fit_tau2("REML", yi, vi, X[:, :3]).tau2, rel=1e-9)


def _assert_results_close(a: PoolResult, b: PoolResult) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(y, np.ndarray):
            np.testing.assert_allclose(x, y, rtol=FIT_KERNEL_RTOL, atol=1e-14, err_msg=name)
        elif isinstance(y, float):
            assert x == pytest.approx(y, rel=FIT_KERNEL_RTOL, abs=1e-14), name
        else:
            assert x == y, name


@pytest.mark.parametrize("k", [5, 13, 50])
def test_without_the_extension_the_python_path_gives_the_same_fits(monkeypatch, k):
    """The fallback when the C compiler was missing: both modules' _fit_kernel = None."""
    rng = np.random.default_rng(k)
    vi = rng.uniform(0.01, 0.2, k)
    X = np.column_stack([np.ones(k), rng.normal(size=k), rng.uniform(0, 1, k)])
    yi = X @ [0.3, 0.2, -0.1] + rng.normal(0, np.sqrt(vi + 0.05))
    mu = float((yi / vi).sum() / (1 / vi).sum())
    y0 = mu + 0.3 * (yi - mu)
    fits = [
        lambda: pool(yi, vi),
        lambda: pool(y0, vi),
        lambda: pool(yi, vi, method="ML"),
        lambda: fit_design(yi, vi, X),
        lambda: fit_design(yi, vi, X, method="ML", test="knha"),
    ]
    compiled = [f() for f in fits]
    monkeypatch.setattr(_lean_fit, "_fit_kernel", None)
    monkeypatch.setattr(tau2, "_fit_kernel", None)
    for fit, res in zip(fits, compiled, strict=True):
        _assert_results_close(res, fit())
