"""Property tests (hypothesis) of the trial statistics and the exam generator."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sci_evidence.trials.io import validate_trial_table
from sci_evidence.trials.stats import (
    poisson_binomial_pmf,
    poisson_binomial_test,
    proportion_ci,
    two_by_two_effect,
)
from support.exam_layout import SEGMENT_INDEX
from support.synthetic_trials import synthetic_exam

probs = st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=40)


@given(probs)
def test_poisson_binomial_is_a_distribution(p):
    pmf = poisson_binomial_pmf(np.array(p))
    assert pmf.size == len(p) + 1
    assert np.all(pmf >= -1e-15)
    assert abs(pmf.sum() - 1) < 1e-12
    assert abs(pmf @ np.arange(pmf.size) - sum(p)) < 1e-9


@given(probs.filter(len), st.data())
def test_poisson_binomial_tails_are_complementary(p, data):
    k = data.draw(st.integers(0, len(p)))
    ge = poisson_binomial_test(k, p, alternative="greater").pval
    le = poisson_binomial_test(k, p, alternative="less").pval
    pk = poisson_binomial_pmf(np.array(p))[k]
    assert abs(ge + le - 1 - pk) < 1e-12


@given(st.integers(1, 300), st.data(), st.sampled_from(["clopper-pearson", "wilson"]))
def test_interval_contains_estimate(n, data, method):
    x = data.draw(st.integers(0, n))
    ci = proportion_ci(x, n, method=method)
    assert 0 <= ci.ci_lb <= ci.estimate <= ci.ci_ub <= 1


@given(st.integers(1, 60), st.integers(1, 60), st.data())
def test_swapping_arms_negates_log_rr_and_rd(n1, n2, data):
    a = data.draw(st.integers(0, n1))
    c = data.draw(st.integers(0, n2))
    for m in ("RR", "RD"):
        fwd = two_by_two_effect(m, a, n1, c, n2)
        rev = two_by_two_effect(m, c, n2, a, n1)
        assert abs(fwd.yi + rev.yi) < 1e-12 and abs(fwd.vi - rev.vi) < 1e-12


_LEVELS = [
    "C2",
    "C3",
    "C4",
    "C5",
    "C6",
    "C7",
    "C8",
    "T1",
    "T3",
    "T7",
    "T11",
    "T12",
    "L1",
    "L2",
    "L3",
    "L5",
]


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(_LEVELS),
    st.sampled_from("ABCDE"),
    st.integers(0, 2**31),
    st.floats(0, 1),
    st.floats(0, 0.3),
)
def test_generated_exams_are_valid_and_consistent(nli, ais, seed, recovery, nt_rate):
    import pandas as pd

    ex = synthetic_exam(nli, ais, seed=seed, recovery=recovery, nt_rate=nt_rate)
    row = {"patient_id": "p", "arm": "a", "visit": 1, **ex.exam}
    validate_trial_table(pd.DataFrame([row]))
    if ais == "E":
        assert ex.nli == "INT"
        return
    assert ex.nli == nli and ex.ais == ais
    assert set(ex.sensory.values()) == {nli} == set(ex.motor.values())
    # Below T1 every upper-limb key muscle is rostral to the level, hence 5.
    if SEGMENT_INDEX[nli] > SEGMENT_INDEX["T1"]:
        assert ex.totals["UEMS"] == 50
    else:
        assert ex.totals["UEMS"] is None or ex.totals["UEMS"] < 50
