"""back_transform and measure_scale against metafor's transf.* functions (extra fixture and
published cases 53, 54, 56), plus inversion properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sci_evidence.errors import InputError
from sci_evidence.meta import back_transform, effect_sizes, measure_scale, pool
from sci_evidence.meta.transforms import harmonic_mean, ipft, pft

DATA = Path(__file__).resolve().parents[1] / "data"
EXTRA = json.loads((DATA / "metafor_effects_extra.json").read_text())
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}

BT = [c for c in EXTRA["cases"] if c["kind"].startswith("back_transform")]


def test_fixture_has_back_transform_cases():
    assert len(BT) == 12


@pytest.mark.parametrize("case", BT, ids=[c["name"] for c in BT])
def test_metafor_back_transformations(case):
    got = back_transform(
        case["measure"],
        case["input"]["values"],
        ni=case["input"].get("ni"),
        per_study=case["kind"] == "back_transform_per_study",
    )
    expected = np.array([np.nan if v is None else v for v in case["expected"]["values"]], float)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-12, atol=1e-14)


def rel_ok(got, expected, tol=0.01):
    """R all.equal (mean relative difference) plus the 1e-4 working tolerance."""
    got, expected = np.atleast_1d(got).astype(float), np.atleast_1d(expected).astype(float)
    assert np.mean(np.abs(got - expected)) / np.mean(np.abs(expected)) < tol
    assert np.all(np.abs(got - expected) <= 1e-4 + 1e-12), (got, expected)


def test_published_54_miller_ipft_hm():
    case = PUBLISHED[54]
    d = case["input"]["data"]
    df = effect_sizes("PFT", xi=d["xi"], ni=d["ni"])
    unweighted = float(np.mean(df["yi"]))
    weighted = pool(df["yi"], df["vi"], method="EE").estimate
    exp = case["expected"]
    rel_ok(
        [unweighted * 2, weighted * 2],
        [exp["EE_unweighted"]["estimate_times_2"], exp["EE_weighted"]["estimate_times_2"]],
    )
    rel_ok(
        back_transform("PFT", [unweighted, weighted], ni=d["ni"]),
        [exp["EE_unweighted"]["ipft_hm_proportion"], exp["EE_weighted"]["ipft_hm_proportion"]],
    )
    # additional checks: per-study inverse, and the EE fit back-transformed at the harmonic mean
    check = case["additional_checks"][0]
    xi, ni = check["input"]["xi"], check["input"]["ni"]
    dd = effect_sizes("PFT", xi=xi, ni=ni)
    per_study = back_transform("PFT", dd["yi"], ni=ni, per_study=True)
    np.testing.assert_allclose(per_study, check["expected"]["transf_ipft_per_study"], atol=1e-12)
    fit = pool(dd["yi"], dd["vi"], method="EE")
    rel_ok(
        back_transform("PFT", [fit.estimate, fit.ci_lb, fit.ci_ub], ni=dd.attrs["ni"]),
        [check["expected"][k] for k in ("EE_ipft_hm_pred", "EE_ipft_hm_ci_lb", "EE_ipft_hm_ci_ub")],
    )
    exact = case["additional_checks"][1]
    dz = effect_sizes("PFT", xi=exact["input"]["xi"], ni=exact["input"]["ni"])
    assert (
        back_transform("PFT", dz["yi"], ni=exact["input"]["ni"], per_study=True).tolist()
        == exact["expected"]["transf_ipft_per_study"]
    )


def test_published_53_plo_reml_ilogit():
    case = PUBLISHED[53]
    d = case["input"]["data"]
    df = effect_sizes("PLO", xi=d["xi"], ni=d["ni"])
    fit = pool(df["yi"], df["vi"], method="REML")
    e = case["expected"]["PLO_REML"]
    got = back_transform("PLO", [fit.estimate, fit.ci_lb, fit.ci_ub, fit.pi_lb, fit.pi_ub])
    want = [
        e[k]
        for k in ("ilogit_pred", "ilogit_ci_lb", "ilogit_ci_ub", "ilogit_pi_lb", "ilogit_pi_ub")
    ]
    assert np.all(np.abs(got - want) <= case["tolerance"]["suggested_abs"])


@pytest.mark.parametrize("arm", ["control", "treatment"])
def test_published_56_nielweise_plo_reml(arm):
    case = PUBLISHED[56]
    d = case["input"]["data"]
    x, n = (d["ci"], d["n2i"]) if arm == "control" else (d["ai"], d["n1i"])
    df = effect_sizes("PLO", xi=x, ni=n)
    fit = pool(df["yi"], df["vi"], method="REML")
    e = case["expected"][f"PLO_REML_{arm}"]
    rel_ok([fit.estimate, fit.se, fit.tau2], [e["estimate"], e["se"], e["tau2"]])
    rel_ok(
        back_transform("PLO", [fit.estimate, fit.ci_lb, fit.ci_ub]),
        [e["ilogit_pred"], e["ilogit_ci_lb"], e["ilogit_ci_ub"]],
    )


def test_log_measures_exponentiate_and_differences_stay():
    for m in ("RR", "OR", "ROM", "IRLN", "PLN", "PETO", "HR", "IRR"):
        np.testing.assert_allclose(back_transform(m, [0.0, np.log(2)]), [1.0, 2.0])
        assert measure_scale(m).transform == "exp"
    for m in ("RD", "MD", "SMD", "MC", "SMCC", "SMCR", "PR", "IR", "AS", "MN", None):
        np.testing.assert_array_equal(back_transform(m, [-0.3, 0.4]), [-0.3, 0.4])
    np.testing.assert_allclose(back_transform("PLO", [0.0, -np.inf, np.inf]), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(back_transform("PAS", [-0.1, np.pi / 4, 2.0]), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(back_transform("IRS", [-1.0, 3.0]), [0.0, 9.0])


def test_measure_scale_describes_labels_and_null_values():
    rr = measure_scale("rr")
    assert (rr.label, rr.analysis_label, rr.scale, rr.null_value) == (
        "Risk ratio",
        "Log risk ratio",
        "ratio",
        1.0,
    )
    pft_scale = measure_scale("PFT")
    assert pft_scale.scale == "proportion" and pft_scale.needs_ni and pft_scale.null_value is None
    assert measure_scale("SMD").null_value == 0.0
    assert measure_scale(None).measure == "GEN"
    assert json.loads(json.dumps(rr.to_dict()))["label"] == "Risk ratio"


def test_errors():
    with pytest.raises(InputError, match="needs the sample sizes"):
        back_transform("PFT", [0.5])
    with pytest.raises(InputError, match="unknown measure"):
        back_transform("XX", [0.5])
    with pytest.raises(InputError, match="one ni per value"):
        back_transform("PFT", [0.5, 0.6], ni=[10, 20, 30], per_study=True)
    with pytest.raises(InputError, match="no back-transformation for IRFT"):
        back_transform("IRFT", [0.5])
    with pytest.raises(InputError, match="positive"):
        harmonic_mean([10, 0])


def test_harmonic_mean_ignores_missing():
    assert harmonic_mean([10, np.nan, 40]) == pytest.approx(16.0)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 2000), data=st.data())
def test_ipft_inverts_pft_at_each_count(n, data):
    x = data.draw(st.integers(0, n))
    t = pft(x / n, n)
    np.testing.assert_allclose(ipft(t, n), x / n, atol=1e-9)
    # and through effect_sizes/back_transform with add=0 (the PFT default)
    df = effect_sizes("PFT", xi=[x], ni=[n])
    np.testing.assert_allclose(
        back_transform("PFT", df["yi"], ni=[n], per_study=True), [x / n], atol=1e-9
    )


@settings(max_examples=80, deadline=None)
@given(p=st.floats(1e-6, 1 - 1e-6))
def test_plo_and_pas_invert(p):
    np.testing.assert_allclose(back_transform("PLO", [np.log(p / (1 - p))]), [p], rtol=1e-9)
    np.testing.assert_allclose(
        back_transform("PAS", [np.arcsin(np.sqrt(p))]), [p], rtol=1e-9, atol=1e-15
    )


@settings(max_examples=60, deadline=None)
@given(t1=st.floats(0, np.pi / 2), t2=st.floats(0, np.pi / 2), n=st.integers(2, 500))
def test_ipft_is_monotone_and_in_unit_interval(t1, t2, n):
    lo, hi = sorted((t1, t2))
    a, b = ipft(lo, n), ipft(hi, n)
    if np.isnan(a) or np.isnan(b):
        return
    assert 0 <= a <= b + 1e-12 <= 1 + 1e-12
