"""Edge cases against metafor (k = 1, k = 2, tau² at 0, identical yi, one huge variance, a
large scale), convergence behaviour, validation errors and result invariants."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meta_refcases import load, metafor_cases
from scipy import stats

from sci_evidence.errors import ConvergenceWarning, DataWarning, InputError
from sci_evidence.meta import fit_design, pool
from sci_evidence.meta.tau2 import q_generalised

EDGE = load("metafor_edge_cases.json")["cases"]
BCG = metafor_cases("fit")[0]["input"]


@pytest.mark.parametrize("case", EDGE, ids=[c["name"] for c in EDGE])
def test_metafor_edge_case(case):
    """Rscript tests/data/metafor_edge_cases.R (metafor 3.8-1, tol 1e-12)."""
    yi = np.atleast_1d(case["input"]["yi"])
    vi = np.atleast_1d(case["input"]["vi"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # knha with identical yi warns
        res = pool(yi, vi, method=case["method"], test=case["test"], level=case.get("level", 0.95))
    exp = case["expected"]
    for key in (
        "tau2",
        "se_tau2",
        "estimate",
        "se",
        "pval",
        "ci_lb",
        "ci_ub",
        "I2",
        "H2",
        "Q",
        "Q_pval",
        "pi_lb",
        "pi_ub",
    ):
        got, want = getattr(res, key), exp[key]
        if want is None:
            assert got is None, key
        else:
            assert got == pytest.approx(want, rel=1e-7, abs=1e-9), key
    if exp["tau2_ci"] is None:
        assert res.tau2_ci is None
        return
    # metafor finds the Q-profile bounds with uniroot (tol = eps^0.25 ≈ 1.2e-4) and stops its
    # search at tau2.max = max(100, 10·tau²), reporting that cap; we solve to ~1e-13, so we
    # check both: within metafor's tolerance, and an exact root of the Q-profile equation
    cap = max(100.0, 10.0 * exp["tau2"])
    lo, hi = exp["tau2_ci"]
    uniroot_tol = np.finfo(float).eps ** 0.25
    assert res.tau2_ci[0] == pytest.approx(lo, rel=1e-5, abs=uniroot_tol)
    if hi == pytest.approx(cap):
        assert res.tau2_ci[1] >= cap
    else:
        assert res.tau2_ci[1] == pytest.approx(hi, rel=1e-5, abs=uniroot_tol)
        assert res.I2_ci[1] == pytest.approx(exp["I2_ci"][1], rel=1e-4, abs=1e-3)
    df = res.k - res.p
    alpha = 1 - res.level
    for bound, q in zip(res.tau2_ci, (1 - alpha / 2, alpha / 2), strict=True):
        if bound > 0:
            target = stats.chi2.ppf(q, df)
            assert q_generalised(bound, res.yi, res.vi, res.X) == pytest.approx(target, rel=1e-8)


def test_edge_fixture_covers_the_issue_list():
    sets = {c["set"] for c in EDGE}
    assert {"k1", "k2", "tau2_zero", "identical_yi", "huge_variance", "bcg_level_t"} <= sets
    assert len(EDGE) == 149


def test_k1_gives_the_study_itself():
    res = pool([0.5], [0.04])
    assert res.k == 1 and res.tau2 == 0.0 and res.estimate == 0.5 and res.se == 0.2
    assert res.Q == 0 and res.Q_pval == 1 and res.tau2_ci is None
    with pytest.raises(InputError, match="test='knha' needs more studies"):
        pool([0.5], [0.04], test="knha")


def test_identical_yi_knha_warns_and_adhoc_does_not_shrink():
    yi, vi = [0.3] * 5, [0.02, 0.03, 0.025, 0.04, 0.05]
    with pytest.warns(DataWarning, match="scale factor is 0"):
        res = pool(yi, vi, test="knha")
    assert res.se == 0.0 and res.tau2 == 0.0  # metafor's behaviour
    adhoc = pool(yi, vi, test="adhoc")
    z = pool(yi, vi)
    assert adhoc.se == pytest.approx(z.se) and adhoc.s2w == 1.0


def test_huge_variance_study_gets_no_weight():
    res = pool([0.2, 0.5, 0.1, 0.4, 3.0], [0.01, 0.02, 0.015, 0.03, 1e6])
    assert res.weights[-1] < 1e-4
    four = pool([0.2, 0.5, 0.1, 0.4], [0.01, 0.02, 0.015, 0.03])
    assert res.estimate == pytest.approx(four.estimate, abs=1e-5)


# ---- convergence ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_fallback_when_iterations_run_out(method):
    ref = pool(BCG["yi"], BCG["vi"], method=method)
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 steps"):
        res = pool(BCG["yi"], BCG["vi"], method=method, control={"max_iter": 1})
    assert res.tau2 == pytest.approx(ref.tau2, rel=1e-10)
    assert res.converged and "fallback" in res.algorithm


def test_metafor_iterations_replay_default_metafor():
    """With metafor's default threshold (1e-5) the REML tau² of dat.bcg is the value metafor
    prints (0.3132, published case 5) but differs from the converged one in the 5th digit."""
    fast = pool(BCG["yi"], BCG["vi"], control={"threshold": 1e-5, "metafor_iterations": True})
    full = pool(BCG["yi"], BCG["vi"])
    assert fast.algorithm == "Fisher scoring" and full.algorithm.startswith("Newton")
    assert fast.tau2 == pytest.approx(full.tau2, rel=1e-4)
    assert full.n_iter < fast.n_iter + 5


def test_pathological_data_never_hangs_or_returns_nan():
    rng = np.random.default_rng(7)
    for _ in range(200):
        k = int(rng.integers(2, 30))
        vi = 10 ** rng.uniform(-6, 4, k)
        yi = rng.normal(0, 10 ** rng.uniform(-3, 3), k)
        for method in ("REML", "ML", "PM", "EB"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = pool(yi, vi, method=method)
            assert math.isfinite(res.tau2) and res.tau2 >= 0 and math.isfinite(res.estimate)
            assert res.converged


def test_reml_solution_is_a_root_of_the_score():
    from sci_evidence.meta.tau2 import _likelihood_parts

    res = pool(BCG["yi"], BCG["vi"])
    num, fisher, _ = _likelihood_parts("REML", res.tau2, res.yi, res.vi, res.X, True)
    assert abs(num / fisher) < 1e-10


def test_fixed_tau2_is_a_weighted_mean():
    yi, vi = np.asarray(BCG["yi"]), np.asarray(BCG["vi"])
    res = pool(yi, vi, tau2=0.2)
    w = 1 / (vi + 0.2)
    assert res.estimate == pytest.approx((w @ yi) / w.sum(), rel=1e-13)
    assert res.se == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-13)
    assert res.tau2_fixed and res.se_tau2 is None
    b = fit_design(yi, vi, np.ones((13, 1)), tau2=0.2)
    assert b.estimate == res.estimate


# ---- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "BLUP"}, r"method='BLUP' is not supported; use one of 'EE', 'DL', 'REML'"),
        ({"test": "wald"}, r"test='wald' is not supported; use one of 'z', 'knha'"),
        ({"level": 0}, "level=0 must lie in"),
        ({"level": 100}, "level=100 must lie in"),
        ({"control": {"tol": 1}}, "control key 'tol' is not known"),
        ({"tau2": -1}, "tau2=-1.0 must be"),
        ({"mods": {"x": [1.0] * 13}}, "moderator 'x' is constant"),
        ({"mods": np.ones((2, 13))}, "transpose it"),
        ({"mods": {"x": [1.0] * 3}}, "moderator 'x' has 3 values but there are 13 studies"),
        ({"labels": ["a"]}, "labels has 1 entries"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(InputError, match=match):
        pool(BCG["yi"], BCG["vi"], **kwargs)


def test_bad_values_are_named():
    with pytest.raises(InputError, match="vi must be > 0; element 2 is -0.1"):
        pool([0.1, 0.2, 0.3], [0.1, -0.1, 0.2])
    with pytest.raises(InputError, match="vi must be > 0; element 1 is 0.0"):
        pool([0.1, 0.2], [0.0, 0.1])
    with pytest.raises(InputError, match="element 2 is not a number"):
        pool([0.1, "x", 0.3], [0.1, 0.1, 0.2])
    with pytest.raises(InputError, match="yi has 3 element"):
        pool([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(InputError, match="exactly one of vi"):
        pool([0.1, 0.2], [0.1, 0.2], sei=[0.3, 0.4])
    with pytest.raises(InputError, match="yi must be finite; element 1 is inf"):
        pool([np.inf, 0.2], [0.1, 0.2])
    with pytest.raises(InputError, match="fewer studies than parameters: k=2"):
        pool([0.1, 0.2], [0.1, 0.2], mods={"a": [1.0, 2.0], "b": [3.0, 1.0]})


def test_missing_values_are_dropped_with_their_names():
    with pytest.warns(DataWarning, match="3 studies with missing values dropped: B, C, D"):
        res = pool(
            [0.1, np.nan, 0.3, 0.2, 0.5],
            [0.1, 0.1, np.nan, 0.2, 0.1],
            labels=list("ABCDE"),
            mods={"x": [1.0, 2.0, 3.0, None, 2.5]},
        )
    assert res.k == 2 and res.labels == ("A", "E")


def test_sei_is_squared():
    a = pool([0.1, 0.4, 0.2], sei=[0.2, 0.3, 0.1])
    b = pool([0.1, 0.4, 0.2], [0.04, 0.09, 0.01])
    assert a.estimate == pytest.approx(b.estimate, rel=1e-14) and a.tau2 == b.tau2


# ---- result object --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["EE", "DL", "REML", "PM"])
def test_result_presentation(method):
    mods = {"ablat": [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]}
    for m in (None, mods):
        res = pool(BCG["yi"], BCG["vi"], method=method, mods=m, measure="RR")
        d = res.to_dict()
        text = json.dumps(d, allow_nan=False)  # strict JSON
        assert json.loads(text)["k"] == 13
        assert d["provenance"]["method"] == method
        assert len(d["provenance"]["input_sha256"]) == 64
        s = res.summary()
        assert f"{res.estimate:.4f}"[:6] in s
        assert "Model Results" in s
        frame = res.to_frame()
        assert list(frame.columns[:6]) == ["estimate", "se", "stat", "pval", "ci_lb", "ci_ub"]
        assert len(frame) == res.p
        assert "<pre>" in res._repr_html_()
        assert "PoolResult(k=13" in repr(res)
        assert res.study_frame().shape == (13, 7)


def test_provenance_hash_changes_with_data():
    a = pool(BCG["yi"], BCG["vi"])
    b = pool(np.asarray(BCG["yi"]) + 1e-9, BCG["vi"])
    assert a.input_hash != b.input_hash
    assert a.input_hash == pool(BCG["yi"], BCG["vi"]).input_hash


def test_result_is_frozen():
    res = pool(BCG["yi"], BCG["vi"])
    with pytest.raises(AttributeError):
        res.tau2 = 0.0


# ---- invariants (hypothesis) ----------------------------------------------------------------
studies = st.integers(min_value=3, max_value=12).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-3, 3), min_size=k, max_size=k),
        st.lists(st.floats(0.001, 2.0), min_size=k, max_size=k),
    )
)


@settings(max_examples=40, deadline=None)
@given(studies, st.floats(-5, 5), st.floats(0.2, 5.0), st.sampled_from(["DL", "REML", "PM", "ML"]))
def test_location_scale_and_order_invariance(data, shift, scale, method):
    yi, vi = (np.asarray(x) for x in data)
    base = pool(yi, vi, method=method)
    moved = pool(scale * yi + shift, scale**2 * vi, method=method)
    assert moved.estimate == pytest.approx(scale * base.estimate + shift, rel=1e-6, abs=1e-6)
    assert moved.tau2 == pytest.approx(scale**2 * base.tau2, rel=1e-6, abs=1e-8)
    assert moved.I2 == pytest.approx(base.I2, rel=1e-6, abs=1e-6)
    order = np.arange(len(yi))[::-1]
    rev = pool(yi[order], vi[order], method=method)
    assert rev.estimate == pytest.approx(base.estimate, rel=1e-9, abs=1e-12)
    assert rev.tau2 == pytest.approx(base.tau2, rel=1e-7, abs=1e-10)
    assert base.ci_lb <= base.estimate <= base.ci_ub
    if base.pi_lb is not None:
        assert base.pi_lb <= base.ci_lb and base.ci_ub <= base.pi_ub


def test_docstring_examples():
    import doctest

    from sci_evidence.meta import models

    failed, attempted = doctest.testmod(models)
    assert attempted >= 2 and failed == 0
