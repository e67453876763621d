"""Leave-one-out and influence diagnostics against metafor 3.8-1 (``leave1out``,
``influence.rma.uni``).

References: ``metafor_cases.json`` (kind ``bias``: loo estimate/tau2, rstudent, Cook's
distance), published cases 22 and 23, and ``metafor_bias_extra.json`` (every column of
``leave1out`` and ``influence``, incl. DFFITS, covariance ratio, hat, weight, DFBETAS and the
influential flags, for REML/DL/EE with z and Knapp-Hartung tests and a meta-regression).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import effect_sizes, pool
from sci_evidence.meta.influence import (
    influence,
    influence_result,
    leave_one_out,
    leave_one_out_result,
)
from tolerances import DIAGNOSTICS_ATOL, DIAGNOSTICS_RTOL

DATA = Path(__file__).resolve().parents[1] / "data"
METAFOR = json.loads((DATA / "metafor_cases.json").read_text())
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}
EXTRA = json.loads((DATA / "metafor_bias_extra.json").read_text())
RTOL, ATOL = DIAGNOSTICS_RTOL, DIAGNOSTICS_ATOL
INFLUENCE_COLUMNS = (
    "rstudent",
    "dffits",
    "cooks_distance",
    "cov_ratio",
    "tau2_deleted",
    "Q_deleted",
    "hat",
    "weight",
)


def _fit(case):
    inp = case["input"]
    return pool(
        inp["yi"],
        inp["vi"],
        method=case.get("method", "REML"),
        test=case.get("test", "z"),
        mods=inp.get("mods"),
    )


@pytest.mark.parametrize(
    "case", [c for c in METAFOR if c["kind"] == "bias"], ids=lambda c: c["name"]
)
def test_loo_and_influence_match_metafor_cases(case):
    res = _fit(case)
    e = case["expected"]
    loo = leave_one_out(res).to_frame()
    assert loo["estimate"].to_numpy() == pytest.approx(e["loo_estimate"], rel=RTOL, abs=ATOL)
    assert loo["tau2"].to_numpy() == pytest.approx(e["loo_tau2"], rel=RTOL, abs=ATOL)
    inf = influence(res).to_frame()
    assert inf["rstudent"].to_numpy() == pytest.approx(e["rstudent"], rel=RTOL, abs=ATOL)
    assert inf["cooks_distance"].to_numpy() == pytest.approx(e["cooks"], rel=RTOL, abs=ATOL)


@pytest.mark.parametrize(
    "case", [c for c in EXTRA["cases"] if "mods" not in c["input"]], ids=lambda c: c["name"]
)
def test_leave_one_out_all_columns_match_metafor(case):
    loo = leave_one_out(_fit(case)).to_frame()
    ref = case["expected"]["leave1out"]
    for col in (
        "estimate",
        "se",
        "stat",
        "pval",
        "ci_lb",
        "ci_ub",
        "Q",
        "Q_pval",
        "tau2",
        "I2",
        "H2",
    ):
        assert loo[col].to_numpy() == pytest.approx(
            np.asarray(ref[col], float), rel=RTOL, abs=ATOL
        ), col


@pytest.mark.parametrize("case", EXTRA["cases"], ids=lambda c: c["name"])
def test_influence_all_columns_match_metafor(case):
    res = _fit(case)
    inf = influence(res).to_frame()
    ref = case["expected"]["influence"]
    for col in INFLUENCE_COLUMNS:
        assert inf[col].to_numpy() == pytest.approx(
            np.asarray(ref[col], float), rel=RTOL, abs=ATOL
        ), col
    assert inf["influential"].tolist() == list(np.atleast_1d(ref["influential"]))
    for j, name in enumerate(res.coef_names):
        got = inf[f"dfbetas_{name}"].to_numpy()
        want = np.asarray(list(ref["dfbetas"].values())[j], float)
        assert got == pytest.approx(want, rel=RTOL, abs=ATOL), name


def _bcg():
    d = PUBLISHED[22]["input"]["data"]
    es = effect_sizes("RR", ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])
    return pool(es.yi, es.vi, labels=d["author"])


def test_leave_one_out_published_case_22():
    loo = leave_one_out(_bcg()).to_frame()
    e = PUBLISHED[22]["expected"]
    for col, ref in (
        ("estimate", "estimate"),
        ("se", "se"),
        ("stat", "zval"),
        ("ci_lb", "ci_lb"),
        ("ci_ub", "ci_ub"),
        ("Q", "Q"),
        ("tau2", "tau2"),
        ("I2", "I2_percent"),
        ("H2", "H2"),
    ):
        assert loo[col].to_numpy() == pytest.approx(e[ref], abs=1e-4), col
    first = PUBLISHED[22]["additional_checks"][0]["expected"]
    assert loo["pval"].iloc[0] == pytest.approx(first["pval"], rel=1e-5)
    assert loo["Q_pval"].iloc[0] == pytest.approx(first["Qp"], rel=1e-5)
    assert list(loo.index) == PUBLISHED[22]["input"]["data"]["author"]


def test_influence_published_case_23():
    inf = influence(_bcg()).to_frame()
    e = PUBLISHED[23]["expected"]
    row = inf.iloc[0]
    for col, ref in (
        ("rstudent", "rstudent"),
        ("dffits", "dffits"),
        ("cooks_distance", "cook_d"),
        ("cov_ratio", "cov_r"),
        ("tau2_deleted", "tau2_del"),
        ("Q_deleted", "QE_del"),
        ("hat", "hat"),
        ("weight", "weight_percent"),
        ("dfbetas_intrcpt", "dfbetas_intrcpt"),
    ):
        assert row[col] == pytest.approx(e[ref], rel=1e-6), col
    assert bool(row["influential"]) is e["is_influential"]


def test_result_objects():
    res = _bcg()
    ir = influence_result(res)
    assert isinstance(ir.frame, pd.DataFrame) and ir.influential == []
    json.dumps(ir.to_dict())
    assert "Influential studies: none" in ir.summary()
    lr = leave_one_out_result(res)
    json.dumps(lr.to_dict())
    assert "Leave-one-out" in lr.summary()


def test_progress_is_reported():
    seen = []
    leave_one_out(_bcg(), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (13, 13) and len(seen) == 13


def test_flags_a_planted_outlier():
    rng = np.random.default_rng(5)
    vi = rng.uniform(0.02, 0.05, 12)
    yi = rng.normal(0.2, np.sqrt(vi))
    yi[3] = 3.0
    inf = influence(pool(yi, vi, method="DL")).to_frame()
    assert inf["influential"].iloc[3]
    assert inf["rstudent"].abs().idxmax() == "Study 4"


def test_leave_one_out_rejects_moderators_and_bad_input():
    res = _bcg()
    with pytest.raises(InputError, match="moderators"):
        leave_one_out(pool(res.yi, res.vi, mods={"x": np.arange(res.k, dtype=float)}))
    with pytest.raises(InputError, match="fitted model"):
        influence([1, 2, 3])


@pytest.mark.parametrize(
    "case", [c for c in EXTRA["cases"] if "baujat" in c["expected"]], ids=lambda c: c["name"]
)
def test_baujat_coordinates_match_metafor(case):
    from sci_evidence.meta.influence import baujat

    b = baujat(_fit(case)).to_frame()
    ref = case["expected"]["baujat"]
    assert b["x"].to_numpy() == pytest.approx(np.asarray(ref["x"], float), rel=RTOL, abs=ATOL)
    assert b["y"].to_numpy() == pytest.approx(np.asarray(ref["y"], float), rel=RTOL, abs=ATOL)


def test_one_api_frozen_results_with_to_frame():
    """issue 13 item 7: leave_one_out/influence/baujat return frozen result objects (the
    DataFrame subclass is gone); the former *_result names are the same functions."""
    import dataclasses

    from sci_evidence.meta import influence as influence_module
    from sci_evidence.meta.influence import BaujatResult, InfluenceResult, LeaveOneOutResult, baujat

    res = _bcg()
    for fn, cls, title in (
        (leave_one_out, LeaveOneOutResult, "Leave-one-out"),
        (influence, InfluenceResult, "Influence"),
        (baujat, BaujatResult, "Baujat"),
    ):
        result = fn(res)
        assert type(result) is cls and dataclasses.is_dataclass(result)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.frame = None
        frame = result.to_frame()
        assert type(frame) is pd.DataFrame and len(frame) == 13
        frame.iloc[0, 0] = 99.0  # a copy: the result is not changed through it
        assert result.to_frame().iloc[0, 0] != 99.0
        assert result.summary().startswith(title)
        json.dumps(result.to_dict())
    assert leave_one_out_result is leave_one_out and influence_result is influence
    assert not hasattr(influence_module, "StudyTable")
