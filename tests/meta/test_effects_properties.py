"""Invariants of the effect sizes (hypothesis): swapping groups negates differences and log
ratios, relabelling events/non-events negates the log OR, SMD is scale-free, variances are
positive, and more correlation means a smaller variance of a mean change."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sci_evidence.meta import effect_sizes
from sci_evidence.meta.effects import hedges_correction

counts = st.integers(min_value=0, max_value=500)
positive_counts = st.integers(min_value=1, max_value=500)
means = st.floats(min_value=-100, max_value=100, allow_nan=False)
sds = st.floats(min_value=0.1, max_value=50, allow_nan=False)
sizes = st.integers(min_value=2, max_value=400)

FAST = settings(max_examples=60, deadline=None)


def quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return effect_sizes(*args, **kwargs)


@FAST
@given(a=counts, b=counts, c=counts, d=counts)
def test_swapping_groups_negates_binary_measures(a, b, c, d):
    for measure in ("RR", "OR", "RD", "AS"):
        fwd = quiet(measure, ai=[a], bi=[b], ci=[c], di=[d])
        rev = quiet(measure, ai=[c], bi=[d], ci=[a], di=[b])
        y, yr = fwd["yi"][0], rev["yi"][0]
        if np.isnan(y):
            assert np.isnan(yr)
            continue
        np.testing.assert_allclose(yr, -y, atol=1e-12)
        np.testing.assert_allclose(rev["vi"][0], fwd["vi"][0], rtol=1e-12)
        assert fwd["vi"][0] >= 0


@FAST
@given(a=counts, b=counts, c=counts, d=counts)
def test_events_and_nonevents_relabelled_negate_log_or(a, b, c, d):
    fwd = quiet("OR", ai=[a], bi=[b], ci=[c], di=[d])
    rev = quiet("OR", ai=[b], bi=[a], ci=[d], di=[c])
    if np.isnan(fwd["yi"][0]):
        return
    np.testing.assert_allclose(rev["yi"][0], -fwd["yi"][0], atol=1e-12)
    np.testing.assert_allclose(rev["vi"][0], fwd["vi"][0], rtol=1e-12)


@FAST
@given(m1=means, m2=means, s1=sds, s2=sds, n1=sizes, n2=sizes)
def test_swapping_groups_negates_md_and_smd(m1, m2, s1, s2, n1, n2):
    for measure in ("MD", "SMD"):
        fwd = effect_sizes(measure, m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], n1i=[n1], n2i=[n2])
        rev = effect_sizes(measure, m1i=[m2], m2i=[m1], sd1i=[s2], sd2i=[s1], n1i=[n2], n2i=[n1])
        np.testing.assert_allclose(rev["yi"][0], -fwd["yi"][0], atol=1e-9)
        np.testing.assert_allclose(rev["vi"][0], fwd["vi"][0], rtol=1e-12)


@FAST
@given(m1=means, m2=means, s1=sds, s2=sds, n1=sizes, n2=sizes, scale=st.floats(0.01, 100))
def test_smd_is_scale_free(m1, m2, s1, s2, n1, n2, scale):
    a = effect_sizes("SMD", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], n1i=[n1], n2i=[n2])
    b = effect_sizes(
        "SMD",
        m1i=[m1 * scale + 7],
        m2i=[m2 * scale + 7],
        sd1i=[s1 * scale],
        sd2i=[s2 * scale],
        n1i=[n1],
        n2i=[n2],
    )
    np.testing.assert_allclose(b["yi"][0], a["yi"][0], rtol=1e-9, atol=1e-9)


@FAST
@given(m1=st.floats(1, 100), m2=st.floats(1, 100), s1=sds, s2=sds, n1=sizes, n2=sizes)
def test_rom_swaps_and_correction_is_small_for_large_samples(m1, m2, s1, s2, n1, n2):
    fwd = effect_sizes("ROM", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], n1i=[n1], n2i=[n2])
    rev = effect_sizes("ROM", m1i=[m2], m2i=[m1], sd1i=[s2], sd2i=[s1], n1i=[n2], n2i=[n1])
    np.testing.assert_allclose(rev["yi"][0], -fwd["yi"][0], atol=1e-12)
    classic = effect_sizes(
        "ROM", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], n1i=[n1], n2i=[n2], bias_correct=False
    )
    np.testing.assert_allclose(classic["yi"][0], np.log(m1 / m2), rtol=1e-12, atol=1e-12)
    # the correction is half the difference of the squared CV/n terms, i.e. vi-sized
    assert abs(fwd["yi"][0] - classic["yi"][0]) <= fwd["vi"][0] / 2 + 1e-15


@FAST
@given(
    m1=means,
    m2=means,
    s1=sds,
    s2=sds,
    n=st.integers(3, 400),
    r1=st.floats(-1, 1),
    r2=st.floats(-1, 1),
)
def test_more_correlation_means_smaller_change_variance(m1, m2, s1, s2, n, r1, r2):
    lo, hi = sorted((r1, r2))
    a = effect_sizes("MC", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], ni=[n], ri=[lo])
    b = effect_sizes("MC", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], ni=[n], ri=[hi])
    assert b["vi"][0] <= a["vi"][0] + 1e-12
    np.testing.assert_allclose(a["yi"][0], m1 - m2)
    r = effect_sizes("SMCR", m1i=[m1], m2i=[m2], sd1i=[s1], ni=[n], ri=[lo])
    r2_ = effect_sizes("SMCR", m1i=[m1], m2i=[m2], sd1i=[s1], ni=[n], ri=[hi])
    np.testing.assert_allclose(r["yi"][0], r2_["yi"][0])
    assert r2_["vi"][0] <= r["vi"][0] + 1e-12


@FAST
@given(x=counts, extra=counts)
def test_proportion_measures_are_monotone_transforms(x, extra):
    n = x + extra
    if n == 0:
        return
    pr = quiet("PR", xi=[x], ni=[n], add=0)
    assert 0 <= pr["yi"][0] <= 1
    for measure in ("PAS", "PFT"):
        df = quiet(measure, xi=[x], ni=[n])
        assert 0 <= df["yi"][0] <= np.pi / 2 + 1e-12 and df["vi"][0] > 0
    if 0 < x < n:
        plo = effect_sizes("PLO", xi=[x], ni=[n])
        np.testing.assert_allclose(plo["yi"][0], np.log(x / (n - x)))
        np.testing.assert_allclose(plo["vi"][0], 1 / x + 1 / (n - x))


@FAST
@given(x=counts, t=st.floats(0.5, 1e5))
def test_rate_measures(x, t):
    ir = quiet("IR", xi=[x], ti=[t], add=0)
    np.testing.assert_allclose(ir["yi"][0], x / t)
    np.testing.assert_allclose(ir["vi"][0], x / t**2)
    if x > 0:
        ln = effect_sizes("IRLN", xi=[x], ti=[t])
        np.testing.assert_allclose(ln["yi"][0], np.log(x / t))
        np.testing.assert_allclose(ln["vi"][0], 1 / x)


@FAST
@given(m=st.integers(2, 10**6))
def test_hedges_correction_is_below_one_and_close_to_the_approximation(m):
    j = float(hedges_correction(np.array([m]))[0])
    assert 0 < j < 1
    approx = 1 - 3 / (4 * m - 1)
    assert abs(j - approx) < 0.02 / m


def test_hedges_correction_exact_values():
    assert np.isnan(hedges_correction(np.array([1.0]))[0])
    # J(2) = Gamma(1) / (1 * Gamma(1/2)) = 1/sqrt(pi); J(3) = Gamma(3/2)/(sqrt(3/2)*Gamma(1))
    np.testing.assert_allclose(
        hedges_correction(np.array([2.0]))[0], 1 / np.sqrt(np.pi), rtol=1e-15
    )
    np.testing.assert_allclose(
        hedges_correction(np.array([3.0]))[0], (np.sqrt(np.pi) / 2) / np.sqrt(1.5), rtol=1e-15
    )
    # large m: 1 - 3/(4m - 1) is accurate to O(1/m^2); no cancellation at m = 1e9
    m = 1e9
    np.testing.assert_allclose(hedges_correction(np.array([m]))[0], 1 - 3 / (4 * m - 1), rtol=1e-15)


cell = st.one_of(
    st.integers(-3, 60),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.none(),
    st.sampled_from(["", "NA", "x", "3", "1e400"]),
)


@settings(max_examples=150, deadline=None)
@given(
    measure=st.sampled_from(["RR", "OR", "RD", "AS", "PLO", "PFT", "IR", "SMD", "MC", "GEN"]),
    data=st.data(),
)
def test_any_input_gives_a_frame_or_an_input_error(measure, data):
    """Fuzz: whatever the cells hold, the result is NaN-or-finite yi/vi, or an InputError."""
    from sci_evidence.errors import InputError

    k = data.draw(st.integers(1, 4))
    names = {
        "RR": ("ai", "bi", "ci", "di"),
        "OR": ("ai", "n1i", "ci", "n2i"),
        "RD": ("ai", "bi", "ci", "di"),
        "AS": ("ai", "bi", "ci", "di"),
        "PLO": ("xi", "ni"),
        "PFT": ("xi", "ni"),
        "IR": ("xi", "ti"),
        "SMD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
        "MC": ("m1i", "m2i", "sd1i", "sd2i", "ni"),
        "GEN": ("yi", "sei"),
    }[measure]
    cols = {n: data.draw(st.lists(cell, min_size=k, max_size=k)) for n in names}
    kwargs = {"ri": 0.5} if measure == "MC" else {}
    try:
        df = quiet(measure, **cols, **kwargs)
    except InputError as e:
        assert "\n" not in str(e) and e.column is not None
        return
    assert len(df) == k
    yi, vi = df["yi"].to_numpy(), df["vi"].to_numpy()
    assert np.array_equal(np.isnan(yi), np.isnan(vi))
    assert np.all(np.isfinite(yi[~np.isnan(yi)])) and np.all(vi[~np.isnan(vi)] >= 0)
