"""The lean path of pool()/fit_design() for the (RE)ML model without moderators
(meta/_lean_fit.py) against the general path, field by field.

The general path is forced by passing the default control explicitly (any ``control``
takes it); both must give the same result. The lean path must also hand every hard case
back (boundary tau² = 0, metafor's ll0check trap) and never see dirty input.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings

import numpy as np
import pytest

from sci_evidence.errors import ConvergenceWarning, DataWarning, InputError
from sci_evidence.meta import _lean_fit, fit_design, pool
from sci_evidence.meta.results import PoolResult
from tolerances import LEAN_VS_GENERAL_RTOL

GENERAL = {"threshold": 1e-10}  # the default, but any control dict takes the general path
FIELDS = [f.name for f in dataclasses.fields(PoolResult)]


def _data(seed: int, k: int, tau2: float):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k) * 10 ** rng.uniform(-1, 1, k)
    yi = 0.3 + rng.normal(0, np.sqrt(vi + tau2))
    return yi, vi


def _assert_same(lean: PoolResult, general: PoolResult) -> None:
    for name in FIELDS:
        a, b = getattr(lean, name), getattr(general, name)
        if name == "control":
            continue  # {} versus the explicit default
        if isinstance(b, np.ndarray):
            assert a.shape == b.shape, name
            np.testing.assert_allclose(a, b, rtol=LEAN_VS_GENERAL_RTOL, atol=1e-15, err_msg=name)
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=LEAN_VS_GENERAL_RTOL, abs=1e-15), name
        else:
            assert a == b, name


def _took_lean(monkeypatch) -> list:
    """Record the results the lean path builds (the general path builds its results with
    the same constructor, so only the calls made from the lean module count)."""
    built = []
    real = PoolResult._unchecked.__func__

    def spy(cls, fields):
        res = real(cls, fields)
        if sys._getframe(1).f_globals.get("__name__") == _lean_fit.__name__:
            built.append(res)
        return res

    monkeypatch.setattr(PoolResult, "_unchecked", classmethod(spy))
    return built


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
@pytest.mark.parametrize("k", [2, 3, 5, 13, 50, 200])
def test_lean_equals_general_path(monkeypatch, method, test, k):
    built = _took_lean(monkeypatch)
    n_lean = 0
    for seed in range(25):
        yi, vi = _data(seed, k, tau2=(0.0, 0.02, 0.1, 1.0)[seed % 4])
        lean = pool(yi, vi, method=method, test=test)
        general = pool(yi, vi, method=method, test=test, control=GENERAL)
        took = bool(built) and built[-1] is lean
        n_lean += took
        assert lean is not general
        _assert_same(lean, general)
        # fit_design with the intercept column takes the same path and gives the same fit
        fd = fit_design(yi, vi, np.ones((k, 1)), method=method, test=test)
        _assert_same(fd, general)
        assert (bool(built) and built[-1] is fd) == took
    assert n_lean >= 5  # data sets with an interior maximum take the lean path


def test_lean_result_sets_exactly_the_dataclass_fields(monkeypatch):
    built = _took_lean(monkeypatch)
    yi, vi = _data(3, 13, 0.1)
    res = pool(yi, vi)
    assert built and built[-1] is res
    assert sorted(vars(res)) == sorted(FIELDS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 1.0  # still frozen
    # the lazily computed parts work on it as on any result
    assert res.tau2_ci[0] < res.tau2 < res.tau2_ci[1]
    assert res.to_dict()["tau2"] == res.tau2 and "tau^2" in res.summary()


def test_result_arrays_are_copies_of_the_input(monkeypatch):
    built = _took_lean(monkeypatch)
    yi, vi = _data(3, 13, 0.1)
    res = pool(yi, vi)
    assert built[-1] is res
    yi[0] = 99.0
    assert res.yi[0] != 99.0 and not np.shares_memory(res.vi, vi)


def test_boundary_without_interior_maximum_is_lean(monkeypatch):
    """HE start 0 and the score at 0 pointing down: tau² = 0, and the grid scan of the
    general path finds no interior maximum — the lean path gives the same result."""
    yi, vi = [0.1, 0.12, 0.11, 0.1, 0.13], [0.05, 0.04, 0.06, 0.05, 0.05]
    built = _took_lean(monkeypatch)
    res = pool(yi, vi)
    assert built and built[-1] is res and res.tau2 == 0.0 and res.I2 == 0.0
    _assert_same(res, pool(yi, vi, control=GENERAL))


def test_boundary_with_interior_maximum_is_handed_back(monkeypatch):
    """tests/data/metafor_bimodal_ml.json, metafor_boundary_k3 (ML): the score at 0 points
    down, but the likelihood has a higher interior maximum, which the general path refines."""
    method = "ML"
    yi = [0.48638624, 1.55805725, 1.51781313]
    vi = [0.00929027, 0.8668619, 0.19740836]
    built = _took_lean(monkeypatch)
    res = pool(yi, vi, method=method)
    assert not built and res.tau2 > 0 and "interior maximum" in res.algorithm
    _assert_same(res, pool(yi, vi, method=method, control=GENERAL))


def test_one_study_takes_the_general_path(monkeypatch):
    built = _took_lean(monkeypatch)
    res = pool([0.2], [0.1])
    assert not built and res.k == 1


def test_trapped_estimate_is_handed_back(monkeypatch):
    """metafor's ll0check: the iteration converges to tau² = 3.91, whose restricted
    likelihood is below that at 0; the lean path must hand it back so that the general
    path warns and returns 0 (as metafor does)."""
    yi = np.array([-0.0815, 1.9873, -0.1163, -6.3087])
    vi = np.array([0.00882, 3.03538, 0.02514, 5.3693])
    assert _lean_fit.pool_lean(yi, vi, "REML", "z", 0.95, None) is None
    built = _took_lean(monkeypatch)
    with pytest.warns(ConvergenceWarning, match="lower likelihood than tau2 = 0"):
        res = pool(yi, vi)
    assert not built and res.tau2 == 0.0


def test_random_hard_cases_agree(monkeypatch):
    """Small k, variances over four decades: many boundary and trap cases; whichever path
    a data set takes, pool() equals the general path."""
    rng = np.random.default_rng(11)
    handed_back = 0
    for _ in range(300):
        k = int(rng.integers(3, 8))
        vi = 10 ** rng.uniform(-3, 1, k)
        yi = rng.normal(0, 1, k) * np.sqrt(vi) * rng.uniform(0.2, 3.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pool(yi, vi)
            general = pool(yi, vi, control=GENERAL)
        handed_back += _lean_fit.pool_lean(yi, vi, "REML", "z", 0.95, None) is None
        _assert_same(res, general)
    assert 0 < handed_back < 300


@pytest.mark.parametrize(
    "yi, vi, kind",
    [
        ([0.1, float("nan"), 0.3], [0.1, 0.1, 0.1], DataWarning),
        ([0.1, 0.2, 0.3], [0.1, -0.1, 0.1], InputError),
        ([0.1, 0.2, 0.3], [0.1, 0.0, 0.1], InputError),
        ([0.1, float("inf"), 0.3], [0.1, 0.1, 0.1], InputError),
        ([0.1, 0.2, 0.3], [0.1, float("inf"), 0.1], InputError),
        ([0.1, "x", 0.3], [0.1, 0.1, 0.1], InputError),
        ([0.1, 0.2, 0.3], [0.1, 0.1], InputError),
        ([[0.1, 0.2], [0.3, 0.4]], [[0.1, 0.1], [0.1, 0.1]], InputError),
    ],
)
def test_dirty_input_never_takes_the_lean_path(yi, vi, kind):
    assert _lean_fit.pool_lean(yi, vi, "REML", "z", 0.95, None) is None
    if kind is DataWarning:
        with pytest.warns(DataWarning, match="missing"):
            pool(yi, vi)
    else:
        with pytest.raises(InputError):
            pool(yi, vi)


@pytest.mark.parametrize(
    "X",
    [
        np.full((13, 1), 2.0),  # not the intercept: the general path (no prediction interval)
        np.ones((13, 1), dtype=int),
        np.ones((12, 1)),
        np.ones(13),
        [[1.0]] * 13,
    ],
)
def test_fit_design_takes_the_lean_path_only_for_a_float_intercept(monkeypatch, X):
    yi, vi = _data(3, 13, 0.1)
    assert _lean_fit.fit_design_lean(yi, vi, X, "REML", "z", 0.95, None) is None
    built = _took_lean(monkeypatch)
    try:
        res = fit_design(yi, vi, X)
    except InputError:
        assert np.shape(X)[0] != 13
        return
    # after the full checks, an intercept design still reaches the lean fit in _fit
    assert bool(built) == bool(np.all(np.asarray(X) == 1.0))
    _assert_same(res, fit_design(yi, vi, np.asarray(X, dtype=float), control=GENERAL))


def _score(method: str, t: float, yi, vi, X) -> float:
    """The (RE)ML score numerator from the plain matrix formulas (P built explicitly)."""
    w = 1.0 / (vi + t)
    Xw = X * w[:, None]
    P = np.diag(w) - Xw @ np.linalg.solve(X.T @ Xw, Xw.T)
    Py = P @ yi
    return float(Py @ Py) - (float(w.sum()) if method == "ML" else float(np.trace(P)))


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_score_bound_holds_where_it_claims(method, p):
    """score_negative_up_to: wherever it returns a bound B > 0, the score computed from P
    itself is negative at every tau² of a dense grid on [t0, B] (B = inf: up to 1e4 · max v),
    from t0 = 0 and restarted from t0 > 0; and it proves something for many data sets."""
    from sci_evidence.meta.tau2 import score_negative_up_to

    rng = np.random.default_rng(100 + p)
    proved = 0
    for _ in range(120):
        k = int(rng.integers(p + 2, 30))
        vi = rng.uniform(0.01, 0.2, k) * 10 ** rng.uniform(-1, 1, k)
        X = np.column_stack([np.ones(k)] + [rng.normal(size=k) for _ in range(p - 1)])
        yi = X @ rng.normal(size=p) + rng.normal(0, np.sqrt(vi)) * rng.uniform(0.2, 1.5)
        # from tau² = 0, and restarted from a tau² t0 > 0 with the sums there
        t0 = (0.0, float(rng.uniform(0.0, 0.5)))[int(rng.integers(2))]
        w0 = 1.0 / (vi + t0)
        Xw = X * w0[:, None]
        e = yi - X @ np.linalg.solve(X.T @ Xw, Xw.T @ yi)
        Q0, yPPy0 = float(w0 @ (e * e)), float((w0 * w0) @ (e * e))
        pr = p if method == "REML" else 0
        # b and its derivative at t0 for the tangent bound (half of the cases without it)
        P = np.diag(w0) - Xw @ np.linalg.solve(X.T @ Xw, Xw.T)
        b0, f0 = (np.trace(P), np.sum(P * P)) if pr else (w0.sum(), np.sum(w0 * w0))
        if rng.uniform() < 0.5:
            b0 = f0 = math.nan
        bound = score_negative_up_to(yPPy0, Q0, float(w0.sum()), float(vi.min()), pr,
                                     float(vi.max()), k, t0, float(b0), float(f0))  # fmt: skip
        if bound == t0:
            continue
        proved += 1
        top = min(bound, 1e4 * float(vi.max()))
        ts = t0 + np.geomspace(1e-6 * float(vi.min()), top - t0, 60)
        for t in np.concatenate([[t0], ts]):
            assert _score(method, float(t), yi, vi, X) < 0, (t, t0, bound)
    assert proved >= (30 if p == 1 else 20)


def test_score_bound_refuses_a_positive_score_at_zero():
    from sci_evidence.meta.tau2 import score_negative_up_to

    # y'P²y above the lower bound of tr P at 0 (score at 0 may be positive): nothing proved
    # arguments: u0 = y'P²y, Q0, Σ1/v, v_min, p', v_max, k (k = p' disables the second bound)
    # y'P²y above the lower bound of tr P at 0 (score at 0 may be positive): nothing proved
    assert score_negative_up_to(10.0, 3.0, 5.0, 1.0, 1, 1.0, 1) == 0.0
    assert score_negative_up_to(1.0, 1.0, 1.0, 1.0, 1, 1.0, 1) == 0.0  # C = 0: no bound
    assert score_negative_up_to(0.5, 1.0, 4.0, 1.0, 1, 1.0, 1) == math.inf  # slope < 0
    # slope > 0: proved only up to the root of f(t) = u Q (v + t) - C (Q + 2 t u); with
    # (u, Q, C, v) = (1, 5, 2, 1): f(t) = t - 5 (the slack makes the bound a little smaller)
    assert 5.0 * (1.0 - 1e-4) < score_negative_up_to(1.0, 5.0, 2.0, 1.0, 0, 1.0, 0) < 5.0
    # from t = 5 on the second bound, C = k - p' = 4 at v_max = 2: f(5) = 35 - 60, slope -3
    assert score_negative_up_to(1.0, 5.0, 2.0, 1.0, 0, 2.0, 4) == math.inf
    # the first bound fails at 0 (f = 0), the second alone holds: 6 - 8 < 0, slope 2 - 8
    assert score_negative_up_to(1.0, 2.0, 1.0, 1.0, 0, 3.0, 4) == math.inf
    # the tangent bound: b >= b0 - t F; u0 Q0 < (b0 - t F)(Q0 + 2 t u0) up to the root of
    # 3 + 6 t - 4 t² (u0, Q0, b0, F = 1, 1, 4, 2): t = (6 + sqrt(84)) / 8 (the others off)
    t = score_negative_up_to(1.0, 1.0, 0.0, 1.0, 0, 1.0, 0, 0.0, 4.0, 2.0)
    assert (6.0 + math.sqrt(84.0)) / 8.0 * (1.0 - 1e-5) < t < (6.0 + math.sqrt(84.0)) / 8.0


def test_boundary_proof_skips_the_grid_scan(monkeypatch):
    """At tau² = 0 the lean path scans the grid only where the bound proves nothing: data
    with similar variances need no scan; variances over 2.7 decades defeat the bounds, the
    grid is scanned (no interior maximum) and the result is still the general path's.
    (The Python reference of the iteration: the compiled one's scan cannot be watched; it
    is held to the reference in test_fit_kernel.py.)"""
    monkeypatch.setattr(_lean_fit, "_fit_kernel", None)
    scans = []
    real = _lean_fit._grid_scores

    def spy(*a):
        scans.append(1)
        return real(*a)

    monkeypatch.setattr(_lean_fit, "_grid_scores", spy)
    yi, vi = [0.1, 0.12, 0.11, 0.1, 0.13], [0.05, 0.04, 0.06, 0.05, 0.05]
    res = pool(yi, vi)
    assert res.tau2 == 0.0 and not scans
    _assert_same(res, pool(yi, vi, control=GENERAL))
    yi = [-1.057, -0.942, -0.072, -0.3, -0.674, -0.035]
    vi = [0.233, 1.534, 0.004, 0.553, 0.559, 0.003]
    res = pool(yi, vi)
    assert res.tau2 == 0.0 and scans
    _assert_same(res, pool(yi, vi, control=GENERAL))


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_many_boundary_fits_equal_the_general_path(monkeypatch, method):
    """Data shrunk towards their weighted mean end at tau² = 0; whether the bound or the
    scan decides, the lean result equals the general path field by field."""
    built = _took_lean(monkeypatch)
    rng = np.random.default_rng(7)
    n_zero = 0
    for _ in range(150):
        k = int(rng.integers(2, 60))
        vi = rng.uniform(0.01, 0.2, k) * 10 ** rng.uniform(-1.5, 1.5, k)
        yi = 0.3 + rng.normal(0, np.sqrt(vi)) * rng.uniform(0.1, 1.2)
        res = pool(yi, vi, method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            general = pool(yi, vi, method=method, control=GENERAL)
        _assert_same(res, general)
        n_zero += res.tau2 == 0.0 and bool(built) and built[-1] is res
    assert n_zero >= 40


@pytest.mark.parametrize("method", ["REML", "ML", "EB"])
@pytest.mark.parametrize("p", [2, 3])
def test_written_out_step_equals_the_matrix_formulas(method, p):
    """_Moments.parts for p = 2, 3 (tau2._small_parts) against _likelihood_parts, which
    builds the same score, Fisher and observed information from X'WX with numpy."""
    from sci_evidence.meta.tau2 import _likelihood_parts, _Moments

    rng = np.random.default_rng(40 + p)
    for _ in range(100):
        k = int(rng.integers(p + 2, 40))
        vi = rng.uniform(0.01, 0.3, k) * 10 ** rng.uniform(-1, 1, k)
        X = np.column_stack([np.ones(k)] + [rng.normal(size=k) * 3 + 1 for _ in range(p - 1)])
        yi = X @ rng.normal(size=p) + rng.normal(size=k)
        t = float(rng.uniform(0.0, 0.5))
        got = _Moments(yi, vi, X, False).parts(method, t)
        want = _likelihood_parts(method, t, yi, vi, X, False)
        n = 2 if method == "EB" else 3
        np.testing.assert_allclose(got[:n], want[:n], rtol=LEAN_VS_GENERAL_RTOL * 100)


def test_moderator_result_sets_exactly_the_dataclass_fields():
    yi, vi = _data(5, 20, 0.1)
    x = np.linspace(0.0, 1.0, 20)
    res = pool(yi, vi, mods={"x": x})
    assert res.p == 2 and sorted(vars(res)) == sorted(FIELDS) and res.model == "rma.uni"
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 1.0


def _mods_data(rng, k: int, p: int, tau2: float):
    vi = rng.uniform(0.01, 0.2, k) * 10 ** rng.uniform(-1, 1, k)
    X = np.column_stack(
        [np.ones(k)] + [rng.normal(size=k) * rng.uniform(0.1, 10) for _ in range(p - 1)]
    )
    yi = X @ rng.normal(0, 0.3, p) + rng.normal(0, np.sqrt(vi + tau2))
    return yi, vi, X


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "DL"},
        {"method": "PM"},
        {"control": {"threshold": 1e-8}},
        {"tau2": 0.1},
    ],
)
def test_moderator_fits_take_the_general_path(monkeypatch, kwargs):
    rng = np.random.default_rng(3)
    yi, vi, X = _mods_data(rng, 20, 3, 0.1)
    built = _took_lean(monkeypatch)
    res = fit_design(yi, vi, X, **kwargs)
    assert not built and res.p == 3


def test_four_columns_and_unweighted_fits_take_the_general_path(monkeypatch):
    rng = np.random.default_rng(4)
    yi, vi, X = _mods_data(rng, 25, 4, 0.1)
    built = _took_lean(monkeypatch)
    assert fit_design(yi, vi, X).p == 4 and not built
    res = pool(yi, vi, mods={"x": X[:, 1]}, weighted=False)
    assert not built and res.control.get("weighted") is False
    # k = p: no residual degrees of freedom, the general path's k = p rule
    assert fit_design(yi[:2], vi[:2], X[:2, :2]).tau2 == 0.0 and not built


def test_moderator_fit_adhoc_zero_residuals_with_and_without_control():
    """All yi on the fitted line: the Knapp-Hartung factor is 0, which "adhoc" raises to 1."""
    x = np.linspace(0.0, 1.0, 8)
    yi, vi = 0.2 + 0.5 * x, np.full(8, 0.05)
    X = np.column_stack([np.ones(8), x])
    lean = fit_design(yi, vi, X, test="adhoc")
    general = fit_design(yi, vi, X, test="adhoc", control=GENERAL)
    assert lean.s2w == 1.0 and lean.tau2 == 0.0
    _assert_same(lean, general)
