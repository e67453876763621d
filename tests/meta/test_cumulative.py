"""Cumulative meta-analysis against metafor 3.8-1's ``cumul``.

References: published case 24 (metafor tests: dat.bcg ordered by publication year) and
``metafor_bias_extra.json`` (``cumul(res)`` in input order and ``cumul(res, order=vi)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import effect_sizes, pool
from sci_evidence.meta.cumulative import cumulative

DATA = Path(__file__).resolve().parents[1] / "data"
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}
EXTRA = json.loads((DATA / "metafor_bias_extra.json").read_text())
CASES = [c for c in EXTRA["cases"] if "mods" not in c["input"]]


def _fit(case):
    inp = case["input"]
    return pool(inp["yi"], inp["vi"], method=case["method"], test=case["test"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_cumulative_matches_metafor(case):
    res = _fit(case)
    cu = cumulative(res).to_frame()
    ref = case["expected"]["cumulative"]
    for col in ("estimate", "se", "ci_lb", "ci_ub", "Q", "I2", "tau2"):
        want = np.array([np.nan if x is None else x for x in ref[col]], float)
        got = cu[col].to_numpy()
        # with one study metafor (and we) switch a knha model to a z test
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), col
    by_vi = cumulative(res, order=np.asarray(case["input"]["vi"]))
    ref = case["expected"]["cumulative_by_vi"]
    assert list(by_vi.order + 1) == ref["order"]
    want = np.array([np.nan if x is None else x for x in ref["estimate"]], float)
    ok = ~np.isnan(want)
    assert by_vi.frame["estimate"].to_numpy()[ok] == pytest.approx(want[ok], rel=1e-6, abs=1e-9)


def test_cumulative_by_year_published_case_24():
    d = PUBLISHED[24]["input"]["data"]
    es = effect_sizes("RR", ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])
    res = pool(es.yi, es.vi, labels=d["author"])
    cu = cumulative(res, order=d["year"])
    e = PUBLISHED[24]["expected"]
    assert cu.frame["estimate"].to_numpy() == pytest.approx(e["rma_uni_REML_estimate"], abs=5e-6)
    assert np.exp(cu.frame["estimate"].to_numpy()) == pytest.approx(
        e["rma_uni_REML_exp_estimate"], abs=5e-6
    )
    # ties (1973: trials 5 and 7) keep their input order
    years = np.asarray(d["year"])[cu.order]
    assert list(years) == sorted(d["year"])
    assert list(cu.order[years == 1973]) == [4, 6]
    assert cu.frame["k"].tolist() == list(range(1, 14))
    json.dumps(cu.to_dict())
    assert "Cumulative" in cu.summary()


def test_decreasing_order_and_errors():
    case = CASES[0]
    res = _fit(case)
    vi = np.asarray(case["input"]["vi"])
    cu = cumulative(res, order=vi, decreasing=True)
    assert list(cu.order) == list(np.argsort(-vi, kind="stable"))
    assert cu.frame["estimate"].iloc[-1] == pytest.approx(res.estimate, rel=1e-9)
    with pytest.raises(InputError, match="one value per study"):
        cumulative(res, order=[1, 2, 3])
    with pytest.raises(InputError, match="missing"):
        cumulative(res, order=np.r_[np.nan, vi[1:]])
