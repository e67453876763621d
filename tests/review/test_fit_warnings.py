"""What the subgroup, regression and sensitivity fits say about themselves is recorded with
the analysis: non-convergence, τ² on its boundary, studies left out."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from sci_evidence import meta
from sci_evidence.review.analyses import fit_conditions


def test_boundary_tau2_is_recorded_and_equal_effects_is_not():
    yi, vi = np.array([0.1, 0.1, 0.1, 0.1]), np.array([0.04, 0.05, 0.06, 0.05])
    sink: list = []
    fit_conditions("s", meta.pool(yi, vi, method="REML"), sink)
    assert sink == [("s", "τ² estimated at the boundary (0): no heterogeneity beyond chance")]
    sink = []
    fit_conditions("s", meta.pool(yi, vi, method="EE"), sink)
    assert sink == []


def test_non_convergence_is_recorded():
    res = SimpleNamespace(converged=False, n_iter=100, method="REML", k=5, tau2=0.3)
    sink: list = []
    fit_conditions("subgroups by route: iv", res, sink)
    assert sink == [("subgroups by route: iv", "the τ² search did not converge (100 iterations)")]


def test_regression_names_the_studies_it_leaves_out(handmade_review):
    from dataclasses import replace

    from sci_evidence.review.analyses import _regression
    from sci_evidence.review.protocol import load_protocol

    a = handmade_review.analysis("ais_improved_prop")
    rows = a.main.rows.copy()
    rows.loc[0, "log_dose"] = np.nan
    spec = replace(a.spec, moderators=("log_dose",))
    sink: list = []
    res = _regression(rows, spec, load_protocol(), "log_dose", sink)
    assert res.k == len(rows) - 1
    left = [m for s, m in sink if s == "meta-regression on log_dose" and "left out" in m]
    assert left == [f"1 study without a known log_dose left out: {rows.loc[0, 'label']}"]


def test_warnings_reach_results_json_entry(handmade_review):
    a = handmade_review.analysis("ais_improved_prop")
    d = a.to_dict()["entry"]
    assert a.warnings and d["warnings"] == [{"step": s, "message": m} for s, m in a.warnings]
