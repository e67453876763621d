"""Trial analysis end to end on synthetic trials whose truth is known by construction.

Each trial is analysed twice: with the ISNCSCI engine, and with the generator's own
classification (so a failure tells whether the engine or the analysis is at fault). Expected
numbers are computed here from the generator's truth table, independently of the analysis.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sci_evidence.errors import InputError
from sci_evidence.trials import analyze_trial
from sci_evidence.trials.outcomes import grades_text, parse_grades, parse_levels, parse_total
from support.synthetic_trials import synthetic_trial


def _by_construction(trial):
    def classify(df):
        out = trial.expected.copy()
        out.insert(0, "id", df["id"].to_numpy())
        return out

    return classify


def _engine():
    from sci_evidence.isncsci import classify_table

    return classify_table


@pytest.fixture(scope="module")
def trial():
    return synthetic_trial(
        {"control": 30, "MSC": 28},
        seed=21,
        ambiguous_rate=0.25,
        nt_rate=0.004,
        conversion={"control": 0.2, "MSC": 0.5},
    )


@pytest.fixture(scope="module")
def nh():
    from sci_evidence.evidence import load_evidence

    return load_evidence().natural_history_conversion


@pytest.fixture(scope="module", params=["construction", "engine"])
def result(request, trial, nh):
    classify = _by_construction(trial) if request.param == "construction" else _engine()
    return analyze_trial(trial.exams, natural_history=nh, classify=classify)


def test_engine_agrees_with_construction(trial):
    got = _engine()(_exam_input(trial))
    exp = trial.expected
    for col in exp.columns:
        mism = np.flatnonzero(got[col].astype(str).to_numpy() != exp[col].astype(str).to_numpy())
        assert mism.size == 0, (
            f"{col}: row {mism[:3]} got {list(got[col].iloc[mism[:3]])} expected {list(exp[col].iloc[mism[:3]])}"
        )


def _exam_input(trial):
    from support.exam_layout import EXAM_COLUMNS

    df = trial.exams[list(EXAM_COLUMNS)].copy()
    df.insert(0, "id", range(len(df)))
    return df


def test_per_arm_counts_match_truth(result, trial):
    truth = trial.truth
    for arm in ("control", "MSC"):
        t = truth[truth["arm"] == arm]
        a = result.arm(arm)
        assert a.n == len(t)
        assert a.converted == int(t["converted_lower"].sum())
        assert a.converted_upper == int(t["converted_upper"].sum())
        assert a.n_ambiguous == int((t["converted_lower"] != t["converted_upper"]).sum())
        ci = stats.binomtest(a.converted, a.n).proportion_ci(method="exact")
        assert (a.share.ci_lb, a.share.ci_ub) == pytest.approx((ci.low, ci.high), abs=1e-10)
        expected = t.groupby(["baseline_ais", "last_ais"]).size()
        got = {(b, f): c for b, row in a.transitions.items() for f, c in row.items()}
        assert got == {k: int(v) for k, v in expected.items()}
        for s in ("UEMS", "LEMS", "LT", "PP"):
            d = t[f"delta_{s}"].dropna()
            assert a.changes[s].n == len(d)
            assert a.changes[s].mean == pytest.approx(d.mean(), abs=1e-12)
            if len(d) > 1:
                half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                assert a.changes[s].ci_ub == pytest.approx(d.mean() + half, abs=1e-10)


def test_time_course_columns(result, trial):
    p = result.patients.set_index("patient_id")
    ex = result.exams[result.exams["patient_id"] == "P001"].sort_values("visit")
    assert p.loc["P001", "visits"] == "14;90;180;365"
    assert p.loc["P001", "ais_course"] == " → ".join(ex["ais_grades"])
    assert p.loc["P001", "ais_course"].split(" → ")[-1] == p.loc["P001", "last_ais"]


def test_ambiguous_patients_are_counted_both_ways(result, trial):
    p = result.patients
    amb = p[p["converted"].isna() & (p["n_exams"] > 1)]
    assert len(amb) > 0  # the fixture has ambiguous baselines that matter
    assert (~amb["converted_lower"] & amb["converted_upper"]).all()
    assert amb["baseline_ais"].str.contains(",").any()
    assert "sensitivity" in result.summary()


def test_two_arm_comparison_matches_formulas(result, trial):
    c = result.comparison
    assert (c.treated, c.control) == ("MSC", "control")
    truth = trial.truth
    a = int(truth.loc[truth.arm == "MSC", "converted_lower"].sum())
    cc = int(truth.loc[truth.arm == "control", "converted_lower"].sum())
    n1, n2 = 28, 30
    assert c.rr.yi == pytest.approx(np.log((a / n1) / (cc / n2)), abs=1e-12)
    assert c.rr.vi == pytest.approx(1 / a - 1 / n1 + 1 / cc - 1 / n2, abs=1e-12)
    assert c.rd.estimate == pytest.approx(a / n1 - cc / n2, abs=1e-12)
    # ANCOVA of delta LEMS on arm + baseline LEMS, by least squares here.
    ok = truth["delta_LEMS"].notna() & truth["baseline_LEMS"].notna()
    t = truth[ok]
    X = np.column_stack([np.ones(len(t)), (t["arm"] == "MSC").astype(float), t["baseline_LEMS"]])
    beta, *_ = np.linalg.lstsq(X, t["delta_LEMS"].to_numpy(float), rcond=None)
    assert c.ancova["LEMS"].estimate == pytest.approx(beta[1], abs=1e-9)
    assert c.ancova["LEMS"].n == len(t)


def test_natural_history_comparison(result):
    assert [r.arm for r in result.natural_history] == ["MSC", "control"]
    p = result.patients
    for r in result.natural_history:
        rows = p[(p["arm"] == r.arm) & (p["n_exams"] > 1) & p["nh_p"].notna()]
        assert r.n == len(rows)
        assert r.expected == pytest.approx(rows["nh_p"].sum())
        assert r.expected_low <= r.expected <= r.expected_high
        assert r.pval_range[0] <= r.pval <= r.pval_range[1]
    assert (p["phase"] == "acute").all()  # baseline at day 14
    assert p["nh_sources"].str.len().gt(0).all()


def test_summary_json_shape(result):
    d = json.loads(json.dumps(result.to_dict()))
    arm = {a["arm"]: a for a in d["arms"]}["MSC"]
    for key in ("arm", "n", "converted", "transitions", "UEMS", "LEMS", "LT", "PP"):
        assert key in arm
    assert all(isinstance(v, int) for row in arm["transitions"].values() for v in row.values())


def test_evidence_rows_follow_the_schema(result, tmp_path):
    from sci_evidence.evidence.io import read_evidence_file
    from sci_evidence.evidence.validate import validate_tables

    rows = result.evidence_rows("demo2026")
    tables = []
    for name, frame in rows.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        tables += read_evidence_file(tmp_path / f"{name}.csv")
    report = validate_tables(tables)
    assert [i for i in report.issues if i.severity == "error"] == []
    assert rows["arms"]["injury_phase"].eq("subacute").all()  # baseline at day 14
    out = rows["outcomes"]
    improved = out[out["outcome"] == "ais_improved"].set_index("arm_id")
    assert improved.loc["demo2026:MSC", "events"] == result.arm("MSC").converted
    assert set(rows["arms"]["role"]) == {"treated", "control"}
    lems = out[(out["outcome"] == "lems") & out["is_change"]]
    assert len(lems) == 2


def test_figures(result):
    for fig in (
        result.plot_transitions(),
        result.plot_trajectories("LEMS"),
        result.plot_natural_history(),
    ):
        assert fig.axes


def test_baseline_window_and_single_exams(trial):
    df = trial.exams.copy()
    # P001 loses its baseline, P002 keeps only its baseline.
    df = df[~((df["patient_id"] == "P001") & (df["visit"] == 14))]
    df = df[~((df["patient_id"] == "P002") & (df["visit"] > 14))]
    res = analyze_trial(df, baseline_max_day=30, classify=_engine())
    assert res.excluded["no_baseline"] == ["P001"]
    assert res.excluded["no_follow_up"] == ["P002"]
    assert res.arm("control").n == 28 and res.arm("control").n_single_exam == 1


def test_unknown_arm_name_is_an_input_error(trial):
    with pytest.raises(InputError, match="no arm named"):
        analyze_trial(trial.exams, treated="placebo", classify=_engine())


@pytest.mark.parametrize(
    "text,grades,star",
    [
        ("A", {"A"}, False),
        ("A,B", {"A", "B"}, False),
        ("C*", {"C"}, True),
        ("B,C*,D", {"B", "C", "D"}, True),
    ],
)
def test_parse_grades(text, grades, star):
    assert parse_grades(text) == (frozenset(grades), star)
    assert grades_text(frozenset(grades)) == ",".join(sorted(grades))


def test_parse_levels_and_totals():
    assert parse_levels("C5,C6*") == (4, 5)
    assert parse_levels("INT") == (29,)
    assert parse_levels("NA,T4") == (11,)
    assert parse_total("ND") != parse_total("ND")  # NaN
    assert parse_total("23") == 23.0
    with pytest.raises(ValueError):
        parse_grades("X")


def test_synthetic_long_table_round_trip(tmp_path, trial):
    # The long table written to CSV reads back to the same analysis.
    from sci_evidence.trials import read_trial_table

    trial.exams.to_csv(tmp_path / "t.csv", index=False)
    df = read_trial_table(tmp_path / "t.csv")
    res = analyze_trial(df, classify=_by_construction(trial))
    assert res.arm("MSC").converted == int(
        trial.truth.query("arm == 'MSC'")["converted_lower"].sum()
    )
    assert isinstance(res.to_frame(), pd.DataFrame)


def test_engine_classifies_every_constructed_injury():
    """Every injury type the generator builds (levels C2-S1, AIS A-E, symmetric and
    one-sided, A,B / C,D ambiguity, NT below the level) against the ISNCSCI engine."""
    from support.exam_layout import SEGMENT_INDEX
    from support.synthetic_trials import expected_result, synthetic_exam

    exams, expected = [], []
    for nli in (
        "C2",
        "C3",
        "C4",
        "C5",
        "C6",
        "C7",
        "C8",
        "T1",
        "T2",
        "T6",
        "T12",
        "L1",
        "L2",
        "L3",
        "L4",
        "L5",
        "S1",
    ):
        for ais in "ABCDE":
            for side, off in (("both", 0), ("right", 2), ("left", 1), ("right", 5)):
                if SEGMENT_INDEX[nli] + off > SEGMENT_INDEX["S1"] or (ais in "CD" and nli == "S1"):
                    continue
                for amb in (None, "AB", "CD"):
                    if (amb == "AB" and ais != "A") or (amb == "CD" and ais != "C"):
                        continue
                    for seed in range(2):
                        try:
                            ex = synthetic_exam(
                                nli,
                                ais,
                                side=side,
                                offset=off,
                                seed=seed,
                                recovery=seed / 2,
                                ambiguous=amb,
                                nt_rate=0.05 * seed,
                            )
                        except ValueError:
                            continue
                        exams.append(ex.exam)
                        expected.append(expected_result(ex))
    got = _engine()(pd.DataFrame(exams))
    exp = pd.DataFrame(expected)
    assert len(exp) > 700
    for col in exp.columns:
        mism = np.flatnonzero(got[col].to_numpy() != exp[col].to_numpy())
        assert mism.size == 0, f"{col}: {len(mism)} exams differ, first {exams[mism[0]]}"


def test_single_arm_and_three_arm_trials(nh):
    one = synthetic_trial({"MSC": 15}, seed=3, conversion={"MSC": 0.4})
    res = analyze_trial(one.exams, natural_history=nh, classify=_by_construction(one))
    assert res.comparison is None and [a.arm for a in res.arms] == ["MSC"]
    assert res.natural_history[0].n == 15
    assert res.evidence_rows("one")["studies"]["design"].iloc[0] == "single_arm_trial"
    three = synthetic_trial(
        {"control": 8, "low": 8, "high": 8},
        seed=4,
        conversion={"control": 0.2, "low": 0.3, "high": 0.5},
    )
    res = analyze_trial(three.exams, classify=_by_construction(three))
    assert res.comparison is None
    res = analyze_trial(
        three.exams, treated="high", control="control", classify=_by_construction(three)
    )
    assert (res.comparison.treated, res.comparison.control) == ("high", "control")


def test_chronic_baselines_use_chronic_benchmarks(nh):
    t = synthetic_trial(10, seed=6, visits=(400, 500, 760), baseline_mix={"A": 0.6, "C": 0.4})
    res = analyze_trial(t.exams, natural_history=nh, classify=_by_construction(t))
    p = res.patients
    assert (p["phase"] == "chronic").all()
    a = p[p["baseline_ais"] == "A"]
    # Kirshblum 2004 (MSCIS): 5.6% of complete injuries at 1 year converted by 5 years.
    assert np.allclose(a["nh_p"], 0.056)
    # No chronic benchmark exists for AIS C: those patients are counted, not guessed.
    c = p[p["baseline_ais"] == "C"]
    assert c["nh_p"].isna().all()
    assert sum(r.n_without_benchmark for r in res.natural_history) == len(c)


def test_arm_without_follow_up_warns_and_skips_comparison(trial):
    from sci_evidence.errors import DataWarning

    df = trial.exams[~((trial.exams["arm"] == "MSC") & (trial.exams["visit"] > 14))]
    with pytest.warns(DataWarning, match="no patient with a follow-up"):
        res = analyze_trial(df, classify=_engine())
    assert res.comparison is None
    assert res.arm("MSC").n == 0 and res.arm("MSC").n_single_exam == 28
    assert res.to_dict()["arms"][0]["share_converted"]["estimate"] is None
