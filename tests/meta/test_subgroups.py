"""subgroups(): separate and common tau², the test for subgroup differences, input errors.
The published numbers (metafor, dat.bcg by alloc) are checked in test_models_published.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from meta_refcases import metafor_cases
from scipy import stats

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta import pool, subgroups

BCG = metafor_cases("fit")[0]["input"]
ALLOC = ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4


def test_separate_is_pooling_each_group_and_q_between_is_an_ee_q():
    sg = subgroups(BCG["yi"], BCG["vi"], ALLOC)
    yi, vi, g = np.asarray(BCG["yi"]), np.asarray(BCG["vi"]), np.asarray(ALLOC)
    for name in sg.groups:
        ref = pool(yi[g == name], vi[g == name])
        assert sg.results[name].estimate == ref.estimate
        assert sg.results[name].tau2 == ref.tau2
    est = np.array([sg.results[n].estimate for n in sg.groups])
    se = np.array([sg.results[n].se for n in sg.groups])
    q = pool(est, se**2, method="EE").Q
    assert sg.Q_between == pytest.approx(q, rel=1e-12)
    assert sg.Q_between_pval == pytest.approx(stats.chi2.sf(q, 2), rel=1e-10)
    assert sg.overall.estimate == pool(yi, vi).estimate


def test_common_tau2_uses_the_moderator_model():
    sg = subgroups(BCG["yi"], BCG["vi"], ALLOC, tau2="common", method="DL")
    mm = pool(BCG["yi"], BCG["vi"], mods={"group": ALLOC}, method="DL")
    assert sg.Q_between == pytest.approx(mm.QM, rel=1e-12)
    for r in sg.results.values():
        assert r.tau2 == pytest.approx(mm.tau2, rel=1e-12) and r.tau2_fixed
    # cell means = intercept + group effects of the moderator model
    ref = mm.beta[0]
    assert sg.results["alternate"].estimate == pytest.approx(ref, rel=1e-10)
    assert sg.results["random"].estimate == pytest.approx(ref + mm.beta[1], rel=1e-10)


def test_knha_common_reports_the_f_test():
    sg = subgroups(BCG["yi"], BCG["vi"], ALLOC, tau2="common", test="knha")
    assert sg.moderator_fit.QM_ddf == 10
    assert sg.Q_between_pval == pytest.approx(sg.moderator_fit.QM_pval)


def test_single_study_subgroup_and_outputs():
    g = ["a"] * 6 + ["b"] * 6 + ["c"]
    with pytest.warns(DataWarning, match="subgroup 'c' has one study"):
        sg = subgroups(BCG["yi"], BCG["vi"], g, test="knha")
    assert sg.results["c"].k == 1 and sg.results["c"].estimate == BCG["yi"][-1]
    frame = sg.to_frame()
    assert frame.index.tolist() == ["a", "b", "c", "overall"]
    json.dumps(sg.to_dict(), allow_nan=False)
    assert "Test for subgroup differences" in sg.summary()
    assert "SubgroupResult(groups=['a', 'b', 'c']" in repr(sg)


def test_errors():
    with pytest.raises(InputError, match="at least two subgroups"):
        subgroups(BCG["yi"], BCG["vi"], ["a"] * 13)
    with pytest.raises(InputError, match="study 3 has no group"):
        subgroups(BCG["yi"], BCG["vi"], ["a", "b", None] + ["a"] * 10)
    with pytest.raises(InputError, match="tau2='both' is not supported"):
        subgroups(BCG["yi"], BCG["vi"], ALLOC, tau2="both")
    with pytest.raises(InputError, match="one value per study"):
        subgroups(BCG["yi"], BCG["vi"], ALLOC[:5])
