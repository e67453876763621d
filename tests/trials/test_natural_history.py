"""Spontaneous conversion benchmarks and the observed-vs-expected test, on a hand-computed
example, and on the bundled evidence base."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sci_evidence.trials.natural_history import (
    compare_arm,
    conversion_benchmarks,
    expected_conversion,
    phase_of,
)


def _row(source, group, grade, phase, endpoint, percent, n=None, to_grade=""):
    return {
        "source": source,
        "population": group,
        "level_group": group,
        "baseline_grade": grade,
        "phase": phase,
        "window": "1 y",
        "endpoint": endpoint,
        "to_grade": to_grade,
        "n": n,
        "percent": percent,
    }


@pytest.fixture
def table():
    rows = [
        _row("S1", "all", "A", "acute", "improved", 20.0, 100),
        _row("S1", "all", "A", "acute", "to_grade", 12.0, 100, "B"),  # ignored: improved given
        _row("S2", "tetraplegia", "A", "acute", "improved", 30.0, 300),
        _row("S3", "all", "B", "acute", "motor_incomplete", 50.0),
        _row("S6", "paraplegia", "A", "acute", "unchanged", 90.0, 50, "A"),  # no share improved
        _row("S5", "all", "A", "chronic", "improved", 5.0),
    ]
    rows += [
        _row("S4", "all", "C", "acute", "to_grade", p, 40, g)
        for g, p in zip("ABCDE", (2.0, 3.0, 20.0, 70.0, 5.0), strict=True)
    ]
    return pd.DataFrame(rows)


def test_benchmarks_take_the_right_share(table):
    b = conversion_benchmarks(table).set_index(["source", "baseline_grade"])
    assert b.loc[("S1", "A"), "p"] == pytest.approx(0.20)
    assert b.loc[("S3", "B"), "p"] == pytest.approx(0.50)  # B -> C or better is >= 1 grade
    assert b.loc[("S4", "C"), "p"] == pytest.approx(0.75)  # D + E from the transition rows
    assert b.loc[("S4", "C"), "derived_from"] == "to_grade sum"
    assert ("S6", "A") not in b.index


def test_expected_conversion_hand_computed(table):
    b = conversion_benchmarks(table)
    # Tetraplegic A, acute: the tetraplegic benchmark S2 (30%) gives p (the one engine,
    # evidence.natural_history: own level group first); S1 (all, 20%) widens the range.
    e = expected_conversion("A", "tetraplegia", "acute", b)
    assert (e.p, e.p_low, e.p_high, e.k) == (pytest.approx(0.3), 0.2, 0.3, 2)
    assert e.sources == ("S1", "S2")
    e = expected_conversion("A", "paraplegia", "acute", b)
    assert (e.p, e.p_low, e.p_high) == (pytest.approx(0.2), 0.2, 0.2)
    # Subacute: acute benchmarks for p, range over acute and chronic.
    e = expected_conversion("A", "tetraplegia", "subacute", b)
    assert (e.p, e.p_low, e.p_high) == (pytest.approx(0.3), 0.05, 0.3)
    assert expected_conversion("D", "tetraplegia", "acute", b) is None


def test_compare_arm_hand_computed():
    # Bernoulli .275, .2, .5: P(0)=.29, P(1)=.4725, P(2)=.21, P(3)=.0275 -> P(X>=2)=.2375.
    r = compare_arm(
        "MSC",
        np.array([True, True, False, False]),
        np.array([True, True, True, False]),
        np.array([0.275, 0.2, 0.5, np.nan]),
        np.array([0.2, 0.2, 0.5, np.nan]),
        np.array([0.3, 0.2, 0.5, np.nan]),
    )
    assert r.n == 3 and r.n_without_benchmark == 1
    assert r.observed == 2 and r.observed_upper == 3
    assert r.expected == pytest.approx(0.975)
    assert r.pval == pytest.approx(0.2375, abs=1e-15)
    assert r.pval_upper == pytest.approx(0.0275, abs=1e-15)
    # Lowest benchmarks .2,.2,.5: P(X>=2) = .2*.2 + 2*(.2*.8)*.5 ... by hand: 1-P0-P1,
    # P0=.8*.8*.5=.32, P1=2*.2*.8*.5+.8*.8*.5=.16+.32=.48 -> .20
    assert r.pval_range[0] == pytest.approx(0.20, abs=1e-15)
    # Highest .3,.2,.5: P0=.7*.8*.5=.28, P1=.3*.8*.5+.7*.2*.5+.7*.8*.5=.12+.07+.28=.47 -> .25
    assert r.pval_range[1] == pytest.approx(0.25, abs=1e-15)
    assert r.to_dict()["pval_range"] == [r.pval_range[0], r.pval_range[1]]


@pytest.mark.parametrize(
    "day,phase",
    [(0, "acute"), (30, "acute"), (31, "subacute"), (364, "subacute"), (365, "chronic")],
)
def test_phase(day, phase):
    assert phase_of(day) == phase


def test_bundled_benchmarks():
    from sci_evidence.evidence import load_evidence

    b = conversion_benchmarks(load_evidence().natural_history_conversion)
    # Marino 1999 (SCIMS): 15.4% of 482 acute AIS A converted by 1 year (Kirshblum 2021 Table 2).
    row = b[(b["source"] == "Marino 1999 (SCIMS)") & (b["baseline_grade"] == "A")].iloc[0]
    assert (row["p"], row["n"]) == (pytest.approx(0.154), 482)
    e = expected_conversion("A", "tetraplegia", "acute", b)
    assert 0.11 <= e.p_low < e.p < e.p_high <= 0.31
    assert expected_conversion("A", "paraplegia", "chronic", b).p == pytest.approx(0.056)


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="lacks columns"):
        conversion_benchmarks(pd.DataFrame({"source": ["x"]}))


def test_hand_computed_example_end_to_end(table):
    """Three acute patients: A tetraplegia -> B, A paraplegia -> A, B paraplegia -> C.

    Benchmarks (fixture): A tetraplegia .3 (S2), A paraplegia .2, B .5.
    Observed 2; P(X >= 2) = 1 - .7*.8*.5 - (.3*.8*.5 + .7*.2*.5 + .7*.8*.5) = .25 by hand.
    """
    from sci_evidence.trials import analyze_trial
    from support.synthetic_trials import synthetic_exam

    plan = [("P1", "C5", "A", "B"), ("P2", "T8", "A", "A"), ("P3", "T8", "B", "C")]
    rows = []
    for pid, nli, g0, g1 in plan:
        for day, grade in ((7, g0), (180, g1)):
            ex = synthetic_exam(nli, grade, seed=1)
            rows.append({"patient_id": pid, "arm": "MSC", "visit": day, **ex.exam})
    res = analyze_trial(pd.DataFrame(rows), natural_history=table)
    p = res.patients.set_index("patient_id")
    assert p.loc[["P1", "P2", "P3"], "nh_p"].tolist() == pytest.approx([0.3, 0.2, 0.5])
    (nh,) = res.natural_history
    assert (nh.observed, nh.n) == (2, 3)
    assert nh.expected == pytest.approx(1.0)
    assert nh.pval == pytest.approx(0.25, abs=1e-14)
    assert nh.pval_range == pytest.approx((0.20, 0.25), abs=1e-14)
