"""pool_mh / pool_peto against metafor's rma.mh / rma.peto (metafor 3.8-1 full precision, and
published cases 12-15 from metafor's tests), plus sparse-data edge cases and errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta import (
    MantelHaenszelResult,
    PoolResult,
    effect_sizes,
    pool,
    pool_mh,
    pool_peto,
)

DATA = Path(__file__).resolve().parents[1] / "data"
EXTRA = json.loads((DATA / "metafor_effects_extra.json").read_text())
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}

FITS = [c for c in EXTRA["cases"] if c["kind"] in ("mh", "peto")]
FIELDS = {
    "estimate": "estimate",
    "se": "se",
    "zval": "stat",
    "pval": "pval",
    "ci_lb": "ci_lb",
    "ci_ub": "ci_ub",
    "Q": "Q",
    "Q_pval": "Q_pval",
    "I2": "I2",
    "H2": "H2",
    "CMH": "cmh",
    "CMH_pval": "cmh_pval",
    "BD": "breslow_day",
    "BD_pval": "breslow_day_pval",
    "TA": "tarone",
    "TA_pval": "tarone_pval",
}


def fit(case):
    args = dict(case["args"] or {})
    args["level"] = args.pop("level", 95) / 100
    if case["kind"] == "mh":
        return pool_mh(**case["input"], measure=case["measure"], **args)
    return pool_peto(**case["input"], **args)


def test_fixture_has_all_fits():
    assert len(FITS) == 18


@pytest.mark.parametrize("case", FITS, ids=[c["name"] for c in FITS])
def test_metafor_mh_and_peto(case):
    res = fit(case)
    exp = case["expected"]
    checked = 0
    for key, attr in FIELDS.items():
        if key in exp and exp[key] is not None:
            np.testing.assert_allclose(
                getattr(res, attr), exp[key], rtol=1e-10, atol=1e-13, err_msg=key
            )
            checked += 1
    assert checked >= 10
    assert (
        res.k_tables == exp["k"]
        and res.k == exp["k_yi"] == len(res.yi)
        and res.Q_df == exp["k_yi"] - 1
    )
    np.testing.assert_allclose(res.yi, exp["yi"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.vi, exp["vi"], rtol=1e-12, atol=1e-14)
    # metafor's weights() cover every table; ours align with the studies that have a yi
    w = np.array(exp["weights"], float)
    if len(w) == res.k:
        np.testing.assert_allclose(res.weights, w, rtol=1e-12, atol=1e-14)
    else:
        assert len(w) == res.k_tables
        assert np.isin(np.round(res.weights, 10), np.round(w, 10)).all()
    assert res.tau2 == 0 and res.method == res.model and res.test == "z"


def _bcg(case):
    d = case["input"]["data"]
    return dict(ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])


@pytest.mark.parametrize("cid, measure", [(12, "RR"), (13, "OR"), (14, "RD"), (15, "PETO")])
def test_published_bcg_mh_and_peto(cid, measure):
    case = PUBLISHED[cid]
    res = pool_peto(**_bcg(case)) if measure == "PETO" else pool_mh(**_bcg(case), measure=measure)
    exp = case["expected"]
    got = {
        "estimate": res.estimate,
        "ci_lb": res.ci_lb,
        "ci_ub": res.ci_ub,
        "zval": res.stat,
        "Q": res.Q,
        "exp_estimate": np.exp(res.estimate),
        "exp_ci_lb": np.exp(res.ci_lb),
        "exp_ci_ub": np.exp(res.ci_ub),
    }
    keys = [k for k in got if k in exp]
    g = np.array([got[k] for k in keys])
    e = np.array([exp[k] for k in keys])
    # stated tolerance: R all.equal, mean relative difference < 1%
    assert np.mean(np.abs(g - e)) / np.mean(np.abs(e)) < case["tolerance"]["value"]
    # working tolerance: printed to 4 decimals
    assert np.all(np.abs(g - e) <= 5e-5 + 1e-12), dict(zip(keys, g - e, strict=True))


def test_rd_se_is_sato_greenland_robins_not_greenland_robins():
    """Case 14's note: Stata's metan reports z = 11.56 with the Greenland-Robins SE."""
    case = PUBLISHED[14]
    res = pool_mh(**_bcg(case), measure="RD")
    assert abs(res.stat - case["expected"]["zval"]) < 5e-5
    assert abs(abs(res.stat) - 11.56) > 0.05


def test_result_is_a_pool_result_with_summary_and_json():
    d = PUBLISHED[13]["input"]["data"]
    res = pool_mh(ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"], labels=d["author"])
    assert isinstance(res, PoolResult) and isinstance(res, MantelHaenszelResult)
    text = res.summary()
    assert "Mantel-Haenszel" in text and "Breslow-Day" in text and "Cochran-Mantel-Haenszel" in text
    out = json.loads(json.dumps(res.to_dict()))
    assert out["method"] == "MH" and out["tau2"] == 0 and out["breslow_day"] > 0
    assert out["studies"][0]["label"] == "Aronson"
    assert res.pi_lb is None and res.tau2_ci is None
    assert abs(res.weights.sum() - 100) < 1e-9
    frame = res.to_frame()
    assert frame.loc["intrcpt", "estimate"] == res.estimate
    assert res.coefficients.shape == (1, 6)
    assert "Peto" in pool_peto(ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"]).summary()


def test_group_sizes_and_data_frame_input_agree_with_counts():
    d = PUBLISHED[13]["input"]["data"]
    frame = pd.DataFrame(d)
    frame["n1"] = frame.tpos + frame.tneg
    frame["n2"] = frame.cpos + frame.cneg
    a = pool_mh(ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"], measure="RR")
    b = pool_mh("tpos", ci="cpos", n1i="n1", n2i="n2", data=frame, measure="RR", labels="author")
    assert a.estimate == b.estimate and a.Q == b.Q and b.labels[0] == "Aronson"
    c = pool_peto("tpos", ci="cpos", n1i="n1", n2i="n2", data=frame)
    assert c.estimate == pytest.approx(
        pool_peto(d["tpos"], d["tneg"], d["cpos"], d["cneg"]).estimate
    )


def test_peto_equals_escalc_peto_with_equal_effects_for_integer_tables():
    """metafor#56: rma.peto and escalc('PETO') + EE agree for integer counts without zeros."""
    d = PUBLISHED[15]["input"]["data"]
    res = pool_peto(ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])
    ee = pool(res.yi, res.vi, method="EE")
    assert ee.estimate == pytest.approx(res.estimate, rel=1e-12)
    assert ee.se == pytest.approx(res.se, rel=1e-12)
    assert ee.Q == pytest.approx(res.Q, rel=1e-10)


def test_double_zero_tables_stay_in_the_rd_estimate():
    ai, bi, ci, di = [2, 0, 5], [48, 30, 45], [4, 0, 9], [46, 30, 41]
    res = pool_mh(ai, bi, ci, di, measure="RD")
    assert res.k_tables == 3 and res.k == 2 and res.Q_df == 1
    without = pool_mh([2, 5], [48, 45], [4, 9], [46, 41], measure="RD")
    # the 0/30 vs 0/30 table pulls the RD towards 0
    assert abs(res.estimate) < abs(without.estimate)
    # but contributes nothing to the OR
    assert pool_mh(ai, bi, ci, di).estimate == pytest.approx(
        pool_mh([2, 5], [48, 45], [4, 9], [46, 41]).estimate
    )


def test_k_equals_one():
    res = pool_mh([3], [7], [6], [4])
    assert res.k == 1 and res.Q == 0 and res.Q_pval == 1 and res.I2 == 0 and res.H2 == 1
    np.testing.assert_allclose(res.estimate, np.log(3 * 4 / (7 * 6)))
    peto = pool_peto([3], [7], [6], [4])
    assert peto.k == 1 and peto.Q_df == 0 and peto.Q_pval == 1


def test_missing_counts_are_dropped_with_a_warning():
    with pytest.warns(DataWarning, match="row 2: tables with missing counts"):
        res = pool_mh([1, None, 4], [9, 9, 6], [2, 3, 5], [8, 7, 5])
    assert res.k == 2 and res.labels == ("Study 1", "Study 3")


@pytest.mark.parametrize(
    "call, words",
    [
        (
            lambda: pool_mh([0, 0], [10, 10], [2, 3], [8, 7], measure="RR"),
            "risk ratio does not exist",
        ),
        (
            lambda: pool_mh([0, 0], [10, 10], [2, 3], [8, 7], measure="OR"),
            "odds ratio does not exist",
        ),
        (lambda: pool_peto([0, 0], [10, 10], [0, 0], [8, 7]), "never occurs"),
        (lambda: pool_mh([1], [2], [3], [4], measure="SMD"), "supports OR, RR, RD"),
        (lambda: pool_mh([1], [2], [3], [4], level=0), "level"),
        (lambda: pool_mh([1], [2], [3], [4], to="sometimes"), "'to'"),
        (lambda: pool_mh([-1], [2], [3], [4]), "negative"),
        (lambda: pool_mh([1], [2], [3]), "di or n2i"),
        (lambda: pool_mh([1, 2], [2, 2], [3, 3], [4, 4], labels=["a"]), "labels"),
        (lambda: pool_mh([None], [2], [3], [4]), "no complete"),
        (lambda: pool_peto([0], [1], [0], [0]), "fewer than 2"),
    ],
)
def test_errors_are_input_errors(call, words):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(InputError, match=words):
            call()


def test_rd_works_when_one_arm_has_no_events_anywhere():
    res = pool_mh([0, 0, 0], [20, 25, 30], [2, 1, 3], [18, 24, 27], measure="RD")
    assert np.isfinite(res.estimate) and res.estimate < 0 and np.isfinite(res.se)
    peto = pool_peto([0, 0, 0], [20, 25, 30], [2, 1, 3], [18, 24, 27])
    assert peto.estimate < 0


def test_forest_plot_of_sparse_tables(tmp_path):
    """k == len(yi) even when a double-zero table is left out of yi, so plots work."""
    import matplotlib

    matplotlib.use("Agg")
    case = next(c for c in FITS if c["name"] == "nielweise2007_MH_OR")
    res = pool_mh(**case["input"])
    assert res.k == len(res.yi) == len(res.labels) == len(res.weights) == 17
    fig = res.plot(transf=np.exp)
    fig.savefig(tmp_path / "mh.png", dpi=50)
    assert (tmp_path / "mh.png").stat().st_size > 1000
    assert "Tables: 18 in the pooled estimate, 17 with a usable yi" in res.summary()


# ---------------------------------------------------------------- invariants (hypothesis)
tables = st.lists(st.tuples(*(st.integers(1, 80) for _ in range(4))), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(t=st.tuples(*(st.integers(1, 200) for _ in range(4))))
def test_one_table_reduces_to_its_own_effect_size(t):
    """With one stratum, MH OR/RR/RD and their SEs are the table's own estimate and
    (Woolf / large-sample) variance, and Peto is the one-step (O-E)/V."""
    a, b, c, d = ([x] for x in t)
    for measure in ("OR", "RR", "RD"):
        res = pool_mh(a, b, c, d, measure=measure)
        es = effect_sizes(measure, ai=a, bi=b, ci=c, di=d)
        np.testing.assert_allclose(res.estimate, es["yi"][0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(res.se**2, es["vi"][0], rtol=1e-9, atol=1e-15)
    if sum(t) > 1:
        peto = pool_peto(a, b, c, d)
        np.testing.assert_allclose(peto.estimate, peto.yi[0], rtol=1e-10, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(ts=tables, data=st.data())
def test_order_free_and_swapping_groups_negates(ts, data):
    a, b, c, d = (np.array(x, float) for x in zip(*ts, strict=True))
    perm = data.draw(st.permutations(range(len(ts))))
    for measure in ("OR", "RR", "RD"):
        res = pool_mh(a, b, c, d, measure=measure)
        shuffled = pool_mh(a[perm], b[perm], c[perm], d[perm], measure=measure)
        swapped = pool_mh(c, d, a, b, measure=measure)
        np.testing.assert_allclose(shuffled.estimate, res.estimate, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(shuffled.Q, res.Q, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(swapped.estimate, -res.estimate, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(swapped.se, res.se, rtol=1e-10)
        assert res.ci_lb <= res.estimate <= res.ci_ub and 0 <= res.I2 < 100
    peto = pool_peto(a, b, c, d)
    np.testing.assert_allclose(
        pool_peto(c, d, a, b).estimate, -peto.estimate, rtol=1e-12, atol=1e-14
    )
