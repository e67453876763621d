"""The one natural-history engine (:mod:`sci_evidence.evidence.natural_history`): its tiers on
hand-made tables, every stratum of the bundled base pinned to its source value, the excess
over the expected rate against R binom.test / prop.test, and the expected score change."""

from __future__ import annotations

import pandas as pd
import pytest

from sci_evidence.evidence import natural_history as nh

NH = pd.DataFrame(
    [
        # source, population, level_group, grade, phase, endpoint, to_grade, n, percent
        ("S1", "all", "all", "A", "acute", "improved", "", 100, 20.0),
        ("S2", "all", "all", "A", "acute", "improved", "", 300, 30.0),
        ("S3", "tetra", "tetraplegia", "A", "acute", "improved", "", 50, 40.0),
        ("S4", "all", "all", "A", "chronic", "improved", "", 987, 5.6),
        ("S5", "all", "all", "C", "acute", "to_grade", "D", 159, 66.7),
        ("S5", "all", "all", "C", "acute", "to_grade", "E", 159, 3.8),
        ("S5", "all", "all", "C", "acute", "to_grade", "B", 159, 1.3),
    ],
    columns=[
        "source",
        "population",
        "level_group",
        "baseline_grade",
        "phase",
        "endpoint",
        "to_grade",
        "n",
        "percent",
    ],
)


BENCH = nh.conversion_benchmarks(NH)


def test_expected_conversion_weighted_by_n_and_level():
    # paraplegia has no rows of its own: the mixed-level cohorts, n-weighted (S3 is
    # tetraplegic and is not used for paraplegia)
    e = nh.expected_conversion("A", "paraplegia", "acute", BENCH)
    assert e.rate == pytest.approx((100 * 0.2 + 300 * 0.3) / 400)
    assert "no paraplegia benchmark" in e.note
    assert (e.p_low, e.p_high, e.n) == (0.2, 0.3, 400)
    # tetraplegia: its own cohort gives p, the mixed ones widen the range
    t = nh.expected_conversion("A", "tetraplegia", "acute", BENCH)
    assert t.rate == pytest.approx(0.4) and t.n == 50 and t.note == ""
    assert (t.p_low, t.p_high, t.k) == (0.2, 0.4, 3)
    assert t.central_sources == ("S3",)
    c = nh.expected_conversion("A", "", "chronic", BENCH)
    assert c.rate == pytest.approx(0.056)
    # grade C: the to_grade rows above C are summed (D + E), not B
    g = nh.expected_conversion("C", "", "acute", BENCH)
    assert g.rate == pytest.approx(0.705)
    assert nh.expected_conversion("D", "", "acute", BENCH) is None


def test_shorter_windows_only_without_a_one_year_benchmark():
    rows = NH.assign(window_months=12.0)
    short = pd.DataFrame(
        [("S9", "all", "all", "A", "acute", "improved", "", 1000, 10.0, 3.0)],
        columns=[*NH.columns, "window_months"],
    )
    b = nh.conversion_benchmarks(pd.concat([rows, short], ignore_index=True))
    e = nh.expected_conversion("A", "paraplegia", "acute", b)
    assert e.rate == pytest.approx(0.275) and e.p_low == 0.1  # S9 widens the range only
    only_short = nh.conversion_benchmarks(short)
    e = nh.expected_conversion("A", "paraplegia", "acute", only_short)
    assert e.rate == pytest.approx(0.1) and "shorter follow-up" in e.note


def test_study_expected_conversion_mixes_grades_and_phases():
    rate, note = nh.study_expected_conversion(
        BENCH, grade_counts={"A": 10, "C": 10}, level_group="", injury_phase="subacute"
    )
    a = (100 * 0.2 + 300 * 0.3) / 400
    assert rate == pytest.approx((a + 0.705) / 2) and note == ""
    rate, note = nh.study_expected_conversion(
        BENCH, grade_counts={"A": 5}, level_group="", injury_phase="unknown"
    )
    assert rate == pytest.approx(a) and "larger" in note
    rate, note = nh.study_expected_conversion(
        BENCH, grade_counts={"C": 5}, level_group="", injury_phase="chronic"
    )
    assert rate is None and "chronic" in note
    assert (
        nh.study_expected_conversion(BENCH, grade_counts={}, level_group="", injury_phase="acute")[
            0
        ]
        is None
    )


def test_excess_matches_binom_and_prop_test(metafor_extra):
    for case in metafor_extra["excess"]:
        ex = nh.excess_over_expected(case["x"], case["n"], case["p0"])
        assert ex.pval == pytest.approx(case["p"], abs=1e-12)
        assert ex.ci_lb + case["p0"] == pytest.approx(case["wilson_lb"], abs=1e-10)
        assert ex.ci_ub + case["p0"] == pytest.approx(case["wilson_ub"], abs=1e-10)
        assert ex.excess == pytest.approx(case["x"] / case["n"] - case["p0"])
    with pytest.raises(ValueError):
        nh.excess_over_expected(5, 3, 0.1)


SCORES = pd.DataFrame(
    [
        ("EMSCI", "motor_total", "A", "paraplegia", 2, 100, 50.0, 10.0),
        ("EMSCI", "motor_total", "A", "paraplegia", 26, 80, 52.0, 12.0),
        ("EMSCI", "motor_total", "A", "paraplegia", 52, 60, 53.0, 12.0),
        ("EMSCI", "motor_total", "A", "tetraplegia", 2, 100, 20.0, 15.0),
        ("EMSCI", "motor_total", "A", "tetraplegia", 52, 70, 30.0, 15.0),
    ],
    columns=["cohort", "outcome", "baseline_grade", "level_group", "week", "n", "mean", "sd"],
)


def test_expected_score_change():
    e = nh.expected_score_change(
        SCORES,
        outcome="motor_total",
        baseline_grade="A",
        level_group="paraplegia",
        week_from=2,
        week_to=50,
    )
    assert (e.week_from, e.week_to) == (2.0, 52.0)
    assert e.change == pytest.approx(3.0)
    assert e.se == pytest.approx((10**2 / 100 + 12**2 / 60) ** 0.5)
    mixed = nh.expected_score_change(
        SCORES,
        outcome="motor_total",
        baseline_grade="A",
        level_group="mixed",
        week_from=2,
        week_to=52,
    )
    assert mixed.change == pytest.approx((3.0 + 10.0) / 2)
    chronic = nh.expected_score_change(
        SCORES,
        outcome="motor_total",
        baseline_grade="A",
        level_group="paraplegia",
        week_from=80,
        week_to=106,
    )
    assert chronic.change == 0.0 and "plateau" in chronic.source
    assert (
        nh.expected_score_change(
            SCORES,
            outcome="lt_total",
            baseline_grade="A",
            level_group="paraplegia",
            week_from=2,
            week_to=52,
        ).change
        is None
    )


# Every stratum with a benchmark, pinned to the source values of evidence/data/raw/
# natural_history.md (Kirshblum 2021 Tables 2 and 6 and the bullet lists), computed by hand.
_TABLE2_MIXED_A = (482 * 15.4 + 53 * 11.3 + 139 * 30.2 + 187 * 27.8) / (482 + 53 + 139 + 187)
BUNDLED_STRATA = {
    # Marino 2011 (SCIMS tetraplegia): "AIS A ... 30% by 1 year"
    ("A", "tetraplegia", "acute"): 30.0,
    # no paraplegic AIS A conversion figure: Table 2 mixed cohorts with n, one year
    # (Marino 1999, Burns 2003, Spiess 2009 all levels, Kirshblum 2016)
    ("A", "paraplegia", "acute"): _TABLE2_MIXED_A,
    # Marino 2011 "30% -> C, 37% -> D" and SCIMS 2011-2019 "50.0% from B" (no n): plain mean
    ("B", "tetraplegia", "acute"): (67.0 + 50.0) / 2,
    # only to rehabilitation discharge: DeVivo 2007 45.2%, Moslavac 2008 31 + 23 + 8 %
    ("B", "paraplegia", "acute"): (45.2 + 62.0) / 2,
    # Table 6: Kirshblum 2016 tetraplegia 76.9% of 78, Marino 2011 82.5% of 109
    ("C", "tetraplegia", "acute"): (78 * 76.9 + 109 * 82.5) / (78 + 109),
    # Table 6: Lee 2016 (T2-T12) 81.0 + 4.8 %
    ("C", "paraplegia", "acute"): 85.8,
    # Table 6: Marino 2011 tetraplegia D -> E 14.1%
    ("D", "tetraplegia", "acute"): 14.1,
    # Table 6: Lee 2016 D -> E 12.5%
    ("D", "paraplegia", "acute"): 12.5,
    # Kirshblum 2004: late conversion from complete to incomplete 5.6% (years 1-5)
    ("A", "tetraplegia", "chronic"): 5.6,
    ("A", "paraplegia", "chronic"): 5.6,
}


@pytest.fixture(scope="module")
def bundled_benchmarks():
    from sci_evidence.evidence import load_evidence

    return nh.conversion_benchmarks(load_evidence().natural_history_conversion)


@pytest.mark.parametrize("stratum", sorted(BUNDLED_STRATA))
def test_bundled_stratum_rate_is_its_source_value(bundled_benchmarks, stratum):
    e = nh.expected_conversion(*stratum, bundled_benchmarks)
    assert e.p == pytest.approx(BUNDLED_STRATA[stratum] / 100, abs=1e-12)
    assert e.p_low <= e.p <= e.p_high


@pytest.mark.parametrize("grade", ["B", "C", "D"])
@pytest.mark.parametrize("level", ["tetraplegia", "paraplegia"])
def test_bundled_chronic_incomplete_has_no_benchmark(bundled_benchmarks, grade, level):
    assert nh.expected_conversion(grade, level, "chronic", bundled_benchmarks) is None


def test_review_and_trials_use_the_same_engine(bundled_benchmarks):
    from sci_evidence.trials import natural_history as trials_nh

    assert trials_nh.expected_conversion is nh.expected_conversion
    assert trials_nh.conversion_benchmarks is nh.conversion_benchmarks
    import sci_evidence.review.nh_comparison as comparison

    assert comparison.nh is nh
