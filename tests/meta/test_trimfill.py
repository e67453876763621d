"""Trim-and-fill against metafor 3.8-1's ``trimfill``.

References: ``metafor_cases.json`` (kind ``bias``), published cases 25 (EE, L0 and R0, filled
studies) and 26 (REML), and ``metafor_bias_extra.json`` (``trimfill(res)``,
``trimfill(res, estimator="R0")``, ``side="left"/"right"``; metafor refits the trimmed data with
its default control, so REML values agree to about 1e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import effect_sizes, pool
from sci_evidence.meta.trimfill import trim_and_fill
from tolerances import TRIMFILL

DATA = Path(__file__).resolve().parents[1] / "data"
METAFOR = json.loads((DATA / "metafor_cases.json").read_text())
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}
EXTRA = json.loads((DATA / "metafor_bias_extra.json").read_text())
EXTRA_CASES = [c for c in EXTRA["cases"] if "mods" not in c["input"]]
#: metafor fits the trimmed data with its default REML threshold (1e-5)
TOL = TRIMFILL


def _fit(case, **kw):
    inp = case["input"]
    return pool(
        inp["yi"], inp["vi"], method=case.get("method", "REML"), test=case.get("test", "z"), **kw
    )


def _bcg(method):
    d = PUBLISHED[25]["input"]["data"]
    es = effect_sizes("RR", ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])
    return pool(es.yi, es.vi, method=method)


@pytest.mark.parametrize(
    "case", [c for c in METAFOR if c["kind"] == "bias"], ids=lambda c: c["name"]
)
def test_trimfill_matches_metafor_cases(case):
    tf = trim_and_fill(_fit(case))
    e = case["expected"]
    assert tf.k0 == e["trimfill_k0"]
    assert tf.side == e["trimfill_side"]
    assert tf.estimate == pytest.approx(e["trimfill_estimate"], **TOL)
    assert tf.se == pytest.approx(e["trimfill_se"], **TOL)


@pytest.mark.parametrize("case", EXTRA_CASES, ids=lambda c: c["name"])
def test_trimfill_l0_r0_and_sides_match_metafor(case):
    res = _fit(case)
    e = case["expected"]
    tf = trim_and_fill(res, test="z")  # metafor refits the filled data with a z test
    ref = e["trimfill_L0"]
    assert (tf.k0, tf.side, tf.k) == (ref["k0"], ref["side"], ref["k"])
    if ref["se_k0"] is not None:
        assert tf.se_k0 == pytest.approx(ref["se_k0"], rel=1e-9)
    assert tf.estimate == pytest.approx(ref["estimate"], **TOL)
    assert tf.se == pytest.approx(ref["se"], **TOL)
    assert tf.tau2 == pytest.approx(ref["tau2"], **TOL)
    assert tf.Q == pytest.approx(ref["Q"], **TOL)
    assert tf.filled_yi == pytest.approx(np.atleast_1d(ref.get("filled_yi", [])), **TOL)
    assert tf.filled_vi == pytest.approx(np.atleast_1d(ref.get("filled_vi", [])), rel=1e-12)
    r0 = trim_and_fill(res, "R0", test="z")
    ref = e["trimfill_R0"]
    assert (r0.k0, r0.side) == (ref["k0"], ref["side"])
    assert r0.se_k0 == pytest.approx(ref["se_k0"], rel=1e-9)
    assert r0.p_k0 == pytest.approx(ref["p_k0"], rel=1e-12)
    assert r0.estimate == pytest.approx(ref["estimate"], **TOL)
    for side in ("left", "right"):
        t = trim_and_fill(res, side=side)
        assert t.k0 == e[f"trimfill_{side}"]["k0"]
        assert t.estimate == pytest.approx(e[f"trimfill_{side}"]["estimate"], **TOL)


def test_trimfill_ee_published_case_25():
    """metafor trimfill documentation: EE model, L0 and R0, the four filled studies."""
    e = PUBLISHED[25]["expected"]
    tf = trim_and_fill(_bcg("EE"))
    assert (tf.k0, tf.side, tf.k) == (e["k0_L0"], e["side"], e["k_filled"])
    assert tf.se_k0 == pytest.approx(e["se_k0_L0"], abs=5e-5)
    assert tf.estimate == pytest.approx(e["estimate"], abs=5e-4)
    assert tf.se == pytest.approx(e["se"], abs=5e-5)
    assert tf.stat == pytest.approx(e["zval"], abs=5e-5)
    assert tf.pooled.I2 == pytest.approx(e["I2_percent"], abs=5e-3)
    assert tf.Q == pytest.approx(e["Q"], abs=5e-5)
    assert np.sort(tf.filled_yi) == pytest.approx(e["filled_yi"], abs=5e-9)
    assert sorted(tf.filled_vi) == pytest.approx(sorted(e["filled_vi"]), abs=5e-10)
    r0 = trim_and_fill(_bcg("EE"), "R0")
    assert r0.k0 == e["k0_R0"]
    assert r0.se_k0 == pytest.approx(e["se_k0_R0"], abs=5e-5)
    assert r0.p_k0 == pytest.approx(e["R0_pval_no_missing"], abs=5e-4)  # printed 0.0312 = 1/32
    # 'equal-random': REML on the 17 studies filled under EE
    er = pool(np.asarray(tf.pooled.yi), np.asarray(tf.pooled.vi))
    ref = PUBLISHED[25]["additional_checks"][0]["expected"]
    assert er.estimate == pytest.approx(ref["estimate"], abs=1e-4)
    assert er.tau2 == pytest.approx(ref["tau2"], abs=1e-4)


def test_trimfill_reml_published_case_26():
    e = PUBLISHED[26]["expected"]
    tf = trim_and_fill(_bcg("REML"))
    assert (tf.k0, tf.side, tf.k) == (e["k0"], e["side"], e["k_filled"])
    assert tf.se_k0 == pytest.approx(e["se_k0"], abs=5e-5)
    for name in ("estimate", "se", "tau2", "Q"):
        assert getattr(tf, name) == pytest.approx(e[name], abs=1e-4), name
    assert tf.pooled.I2 == pytest.approx(e["I2_percent"], abs=5e-3)
    assert tf.ci_lb == pytest.approx(e["ci_lb"], abs=1e-4)
    assert tf.ci_ub == pytest.approx(e["ci_ub"], abs=1e-4)


def test_filled_studies_mirror_the_trimmed_estimate():
    tf = trim_and_fill(_bcg("EE"))
    frame = tf.to_frame()
    assert frame["filled"].sum() == tf.k0 == len(tf.filled)
    assert list(frame.index[-tf.k0 :]) == [f"Filled {i}" for i in range(1, tf.k0 + 1)]
    # the filled values are 2 * mu0 - y_i for the k0 most extreme studies; mu0 is common
    res = _bcg("EE")
    # side "right": the smallest outcomes are mirrored, the most extreme last
    order = np.argsort(res.yi)[: tf.k0][::-1]
    mu0 = (tf.filled_yi + res.yi[order]) / 2
    assert np.ptp(mu0) < 1e-12
    json.dumps(tf.to_dict())
    assert "missing studies" in tf.summary()


def test_no_missing_studies_returns_the_model():
    case = [c for c in METAFOR if c["name"] == "normand_SMD_bias_REML"][0]
    res = _fit(case)
    tf = trim_and_fill(res)
    assert tf.k0 == 0 and tf.pooled is res and tf.filled_yi.size == 0


def test_trimfill_rejects_bad_input():
    res = _bcg("REML")
    with pytest.raises(InputError, match="estimator"):
        trim_and_fill(res, "Q1")
    with pytest.raises(InputError, match="side"):
        trim_and_fill(res, side="up")
    with pytest.raises(InputError, match="moderators"):
        trim_and_fill(pool(res.yi, res.vi, mods={"x": np.arange(res.k, dtype=float)}))
    with pytest.raises(InputError, match="test"):
        trim_and_fill(res, test="f")
    with pytest.raises(InputError, match="3 studies"):
        trim_and_fill(pool([0.1, 0.3], [0.01, 0.02]))
