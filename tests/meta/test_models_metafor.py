"""pool()/fit_design() against metafor: every `fit` case of metafor_cases.json and every case of
metafor_grid_cases.json, at the tolerance stated in conftest.py / in the case."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from meta_refcases import (
    CLOSED_FORM,
    RTOL_CLOSED,
    RTOL_ITERATIVE,
    assert_close,
    grid_cases,
    metafor_cases,
)

from sci_evidence.meta import fit_design, pool

FIT_CASES = metafor_cases("fit")
SCALARS = ["k", "estimate", "se", "pval", "ci_lb", "ci_ub", "tau2", "I2", "H2", "Q", "Q_pval"]


def test_all_fit_cases_are_present():
    assert len(FIT_CASES) == 140
    assert len(grid_cases()) == 180


@pytest.mark.parametrize("case", FIT_CASES, ids=[c["name"] for c in FIT_CASES])
def test_metafor_fit_case(case):
    """rma(yi, vi, mods, method, test) in metafor 3.8-1, tol 1e-12 (generate.R)."""
    inp, exp = case["input"], case["expected"]
    rtol = RTOL_CLOSED if case["method"] in CLOSED_FORM else RTOL_ITERATIVE
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these fits should need a fallback
        res = pool(
            inp["yi"], inp["vi"], method=case["method"], test=case["test"], mods=inp.get("mods")
        )
    for key in SCALARS:
        assert_close(getattr(res, key), exp[key], rtol=rtol, what=key)
    if "mods" not in inp:
        assert_close(res.pi_lb, exp["pi_lb"], rtol=rtol, what="pi_lb")
        assert_close(res.pi_ub, exp["pi_ub"], rtol=rtol, what="pi_ub")
    else:
        names = [re.sub(r"^factor\((\w+)\)", r"\1", n) for n in exp["coef_names"]]
        assert list(res.coef_names) == names
        assert_close(res.beta, exp["coef"], rtol=rtol, what="coef")
        assert_close(res.beta_se, exp["coef_se"], rtol=rtol, what="coef_se")
        assert_close(res.beta_pval, exp["coef_pval"], rtol=rtol, what="coef_pval")
        assert_close(res.QM, exp["QM"], rtol=rtol, what="QM")
        assert_close(res.QM_pval, exp["QM_pval"], rtol=rtol, what="QM_pval")
        # the coefficient table carries the same numbers
        tab = res.coefficients
        assert list(tab.index) == names
        np.testing.assert_allclose(tab["estimate"], exp["coef"], rtol=rtol)


def _grid_inputs(case):
    d = case["input"]["data"]
    mods = {k: v for k, v in d.items() if k not in ("yi", "vi")}
    return d["yi"], d["vi"], mods


@pytest.mark.parametrize("case", grid_cases(), ids=[c["name"] for c in grid_cases()])
def test_metafor_grid_case(case):
    """PyMARE's pinned metafor 4.6.0 fits with metafor's *default* control.

    ML/REML stop at metafor's default threshold (1e-5), so they are replayed with
    ``metafor_iterations=True, threshold=1e-5`` to reproduce them step for step at the
    case's tolerance (rtol 1e-11, atol 1e-9)."""
    yi, vi, mods = _grid_inputs(case)
    m = case["method"]
    est = m["tau2_estimator"]
    control = {"threshold": 1e-5, "metafor_iterations": True} if est in ("ML", "REML") else None
    res = pool(yi, vi, method=est, test=m["test"], mods=mods or None, control=control)
    exp, tol = case["expected"], case["tolerance"]
    rtol, atol = tol["value"], tol["abs"]
    assert_close(res.tau2, exp["tau2"], rtol=rtol, atol=atol, what="tau2")
    assert_close(res.beta, exp["beta"], rtol=rtol, atol=atol, what="beta")
    assert_close(res.beta_se, exp["se"], rtol=rtol, atol=atol, what="se")
    assert_close(res.beta_pval, exp["pval"], rtol=rtol, atol=atol, what="pval")
    assert_close(res.beta_ci_lb, exp["ci_lb"], rtol=rtol, atol=atol, what="ci_lb")
    assert_close(res.beta_ci_ub, exp["ci_ub"], rtol=rtol, atol=atol, what="ci_ub")
    assert res.dof == exp["dof"]


@pytest.mark.parametrize(
    "case",
    [c for c in grid_cases() if c["method"]["tau2_estimator"] in ("ML", "REML")],
    ids=lambda c: c["name"],
)
def test_grid_fully_converged_close_to_metafor_default(case):
    """With our default (tight) convergence, ML/REML differ from metafor's default output
    only by metafor's early stop: tau² within 1e-4 relative (or 1e-6 absolute)."""
    yi, vi, mods = _grid_inputs(case)
    method = case["method"]["tau2_estimator"]
    res = pool(yi, vi, method=method, mods=mods or None)
    if case["name"].startswith(_TWO_PEAKS):
        # metafor stays at its HE start tau2 = 0 (a local maximum); the interior maximum
        # tau2 = 0.01144 has the higher likelihood (3.1705 vs 2.8860), and we return it
        from sci_evidence.meta.tau2 import _loglik

        y, v, X = np.asarray(yi), np.asarray(vi), np.asarray(res.X)
        assert case["expected"]["tau2"] == 0.0
        assert res.tau2 == pytest.approx(0.0114416, rel=1e-4)
        assert _loglik(method, res.tau2, y, v, X) > _loglik(method, 0.0, y, v, X) + 0.28
        return
    np.testing.assert_allclose(res.tau2, case["expected"]["tau2"], rtol=1e-4, atol=1e-6)


#: grid data whose ML likelihood has two maxima, where metafor keeps the lower one (tau2 = 0)
_TWO_PEAKS = "pymare_metafor_extreme_k10_one_ML_"


@pytest.mark.parametrize("case", FIT_CASES[:34], ids=[c["name"] for c in FIT_CASES[:34]])
def test_fit_design_equals_pool(case):
    """fit_design with an explicit intercept column gives the same fit as pool."""
    inp = case["input"]
    a = pool(inp["yi"], inp["vi"], method=case["method"], test=case["test"])
    X = np.ones((len(inp["yi"]), 1))
    b = fit_design(inp["yi"], inp["vi"], X, method=case["method"], test=case["test"])
    for key in SCALARS + ["pi_lb", "pi_ub", "se_tau2"]:
        assert getattr(a, key) == getattr(b, key)
