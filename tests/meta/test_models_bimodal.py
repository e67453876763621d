"""(RE)ML on likelihoods with two maxima (tau² = 0 and an interior one): ``pool`` /
``fit_design`` return the higher maximum. Reference: ``metafor_bimodal_ml.json`` (metafor
3.8-1, see tests/data/SOURCES.md). Where metafor's Fisher scoring ends inside, we match its
tau² and coefficients; where it stays at tau² = 0 although the interior maximum is higher
(its HE start is 0), we return the interior maximum, whose log-likelihood metafor confirms."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.meta import fit_design, pool
from sci_evidence.meta.tau2 import _loglik

CASES = json.loads((Path(__file__).parents[1] / "data" / "metafor_bimodal_ml.json").read_text())[
    "cases"
]


def _design(case):
    k = len(case["input"]["yi"])
    if case["mods"]:
        return np.column_stack([np.ones(k), np.linspace(-1, 1, k)])
    return np.ones((k, 1))


def _fit(case, **kw):
    inp = case["input"]
    if case["mods"]:
        return pool(
            inp["yi"], inp["vi"], mods={"x": _design(case)[:, 1]}, method=case["method"], **kw
        )
    return pool(inp["yi"], inp["vi"], method=case["method"], **kw)


def _ids(cases):
    return [f"{c['name']}-{c['method']}" for c in cases]


AGREE = [c for c in CASES if "interior_tau2" not in c]
BOUNDARY = [c for c in CASES if "interior_tau2" in c]


def test_the_fixture_holds_two_peaked_likelihoods():
    # every ML case: metafor's interior maximum (or ours) beats tau2 = 0, so the boundary
    # is a second, lower, local maximum
    ml = [c for c in CASES if c["method"] == "ML"]
    assert len(ml) == 8
    for c in ml:
        e = c["expected"]
        assert e.get("loglik_at_interior", e["loglik"]) > e["loglik_at_0"]


@pytest.mark.parametrize("case", AGREE, ids=_ids(AGREE))
def test_pool_matches_metafor(case):
    e = case["expected"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence warnings on these data
        r = _fit(case)
    assert r.converged
    assert r.tau2 == pytest.approx(e["tau2"], rel=1e-6, abs=1e-8)
    assert r.se_tau2 == pytest.approx(e["se_tau2"], rel=1e-5)
    coef = np.atleast_1d(e["coef"])
    assert np.asarray(r.beta) == pytest.approx(coef, rel=1e-6, abs=1e-8)
    assert np.asarray(r.beta_se) == pytest.approx(np.atleast_1d(e["coef_se"]), rel=1e-6)
    assert r.estimate == pytest.approx(coef[0], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("case", BOUNDARY, ids=_ids(BOUNDARY))
def test_interior_maximum_beats_metafors_boundary_answer(case):
    e = case["expected"]
    assert e["tau2"] == pytest.approx(
        0.0, abs=1e-10
    )  # metafor's Fisher scoring stays at the boundary
    r = _fit(case)
    assert r.converged
    assert r.tau2 == pytest.approx(case["interior_tau2"], rel=1e-6)
    coef = np.atleast_1d(e["coef_at_interior"])
    assert np.asarray(r.beta) == pytest.approx(coef, rel=1e-6, abs=1e-8)
    # metafor's own log-likelihood at our tau2 is higher than at its answer tau2 = 0
    assert e["loglik_at_interior"] > e["loglik"] + 1e-3
    X = _design(case)
    yi, vi = np.asarray(case["input"]["yi"]), np.asarray(case["input"]["vi"])
    diff = _loglik("ML", r.tau2, yi, vi, X) - _loglik("ML", 0.0, yi, vi, X)
    assert diff == pytest.approx(e["loglik_at_interior"] - e["loglik_at_0"], rel=1e-6)
    # metafor's iterations, replayed step for step, keep metafor's answer
    m = _fit(case, control={"metafor_iterations": True, "threshold": 1e-5})
    assert m.tau2 == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_fit_design_equals_pool_and_no_higher_point_on_a_grid(case):
    inp = case["input"]
    yi, vi = np.asarray(inp["yi"]), np.asarray(inp["vi"])
    X = _design(case)
    f = fit_design(yi, vi, X, method=case["method"])
    assert f.tau2 == pytest.approx(_fit(case).tau2, rel=1e-12, abs=1e-14)
    best = _loglik(case["method"], f.tau2, yi, vi, X)
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 100.0, 400)])
    assert max(_loglik(case["method"], t, yi, vi, X) for t in grid) <= best + 1e-12


def test_n_iter_counts_the_interior_search():
    case = next(c for c in BOUNDARY if c["name"] == "metafor_boundary_k3")
    r = _fit(case)
    assert "interior maximum" in r.algorithm
    assert r.n_iter > 2
