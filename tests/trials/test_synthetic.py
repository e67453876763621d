"""The synthetic-exam generator: every exam obeys, by the clinical definitions checked here
independently, the classification it claims; trials carry a consistent truth table."""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.trials.io import validate_trial_table
from support.exam_layout import KEY_MUSCLES, SEGMENT_INDEX, SEGMENTS, SIDES, key
from support.synthetic_trials import synthetic_exam, synthetic_trial

S45 = SEGMENT_INDEX["S4_5"]


def _sensory_level(exam, side):
    for seg in range(1, len(SEGMENTS)):
        if exam[key(seg, side, "Touch")] != "2" or exam[key(seg, side, "Prick")] != "2":
            return seg - 1
    return len(SEGMENTS)


def _grade(exam, seg, side):
    v = exam[key(seg, side, "Motor")]
    return None if v == "NT" else int(v)


def _check_motor_level(exam, side, level):
    """Clinical definition, as far as a clean exam needs it: rostral key muscles 5, the one at
    the level >= 3, and at C4/L1 the next key muscle below 3."""
    for m in KEY_MUSCLES:
        if m < level:
            assert _grade(exam, m, side) == 5
    if level in KEY_MUSCLES:
        assert _grade(exam, level, side) >= 3
    if level in (SEGMENT_INDEX["C4"], SEGMENT_INDEX["L1"]):
        assert _grade(exam, level + 1, side) < 3


def _check_ais(ex):
    e = ex.exam
    grades = set(ex.ais.split(","))
    s45 = [e[key(S45, s, k)] for s in SIDES for k in ("Touch", "Prick")]
    nli = SEGMENT_INDEX[ex.nli]
    below = [m for m in KEY_MUSCLES if m > nli]
    if grades == {"A"}:
        assert s45 == ["0"] * 4 and e["analContraction"] == "No" and e["analSensation"] == "No"
    elif grades == {"A", "B"}:
        assert e["analContraction"] == "No" and "NT" in s45 + [e["analSensation"]]
        assert all(v in ("0", "NT") for v in s45)
    elif grades == {"B"}:
        assert e["analContraction"] == "No"
        assert any(v not in ("0",) for v in s45) or e["analSensation"] == "Yes"
        for s in SIDES:
            m_level = SEGMENT_INDEX[ex.motor[s]]
            assert all(_grade(e, m, s) == 0 for m in KEY_MUSCLES if m >= m_level + 4)
    else:
        # Motor incomplete: VAC, or sensory sparing plus contraction > 3 levels below.
        far = any(
            (_grade(e, m, s) or 0) > 0
            for s in SIDES
            for m in KEY_MUSCLES
            if m >= SEGMENT_INDEX[ex.motor[s]] + 4
        )
        assert e["analContraction"] == "Yes" or far
        graded = [_grade(e, m, s) for s in SIDES for m in below]
        high = sum(1 for g in graded if g is not None and g >= 3)
        k = len(below)
        if grades == {"C"}:
            assert high < k
        elif grades == {"D"}:
            assert high >= k
        elif grades == {"C", "D"}:
            assert high == k - 1 and graded.count(None) == 1


INJURIES = [
    (nli, ais, side, off)
    for nli in ("C2", "C4", "C5", "C6", "C8", "T1", "T2", "T6", "T12", "L1", "L2", "L4", "S1")
    for ais in "ABCD"
    for side, off in (("both", 0), ("right", 2), ("left", 1))
    if not (ais in "CD" and nli == "S1") and SEGMENT_INDEX[nli] + off <= SEGMENT_INDEX["S1"]
]


@pytest.mark.parametrize("nli,ais,side,offset", INJURIES)
def test_exam_obeys_its_classification(nli, ais, side, offset):
    for seed in range(3):
        try:
            ex = synthetic_exam(nli, ais, side=side, offset=offset, seed=seed, recovery=seed / 2)
        except ValueError:
            # Only asymmetric C injuries whose fixed muscles already reach half may be refused.
            assert ais == "C" and offset > 0
            return
        e = ex.exam
        for s in SIDES:
            assert SEGMENTS[_sensory_level(e, s)] == ex.sensory[s]
            _check_motor_level(e, s, SEGMENT_INDEX[ex.motor[s]])
        levels = [SEGMENT_INDEX[v] for v in list(ex.sensory.values()) + list(ex.motor.values())]
        assert SEGMENTS[min(levels)] == ex.nli == nli
        _check_ais(ex)
        ue = sum(_grade(e, m, s) for s in SIDES for m in KEY_MUSCLES[:5])
        le = sum(_grade(e, m, s) for s in SIDES for m in KEY_MUSCLES[5:])
        assert ex.totals["UEMS"] == ue and ex.totals["LEMS"] == le


@pytest.mark.parametrize("ambiguous,ais,expected", [("AB", "A", "A,B"), ("CD", "C", "C,D")])
def test_ambiguous_exams(ambiguous, ais, expected):
    for nli in ("C5", "T4", "L2"):
        ex = synthetic_exam(nli, ais, ambiguous=ambiguous, seed=1)
        assert ex.ais == expected
        _check_ais(ex)
        if ambiguous == "CD":
            assert ex.totals["UEMS"] is None or ex.totals["LEMS"] is None


def test_nt_below_level_makes_sensory_totals_nd_only():
    ex = synthetic_exam("C6", "B", nt_rate=0.5, seed=2)
    assert ex.totals["LT"] is None or ex.totals["PP"] is None
    assert ex.totals["UEMS"] is not None
    assert ex.sensory == {"Right": "C6", "Left": "C6"}


def test_normal_exam_is_e():
    ex = synthetic_exam("C5", "E")
    assert ex.ais == "E" and ex.nli == "INT"
    assert ex.totals == {"UEMS": 50, "LEMS": 50, "LT": 112, "PP": 112}


def test_texture_gives_a_stable_patient():
    a = synthetic_exam("C6", "A", texture=42, recovery=0.0)
    b = synthetic_exam("C6", "A", texture=42, recovery=0.0)
    assert a.exam == b.exam


@pytest.mark.parametrize(
    "args",
    [("C5", "F"), ("X9", "A"), ("S3", "A"), ("S1", "C"), ("C5", "A", "up")],
)
def test_impossible_targets_raise(args):
    with pytest.raises(ValueError):
        synthetic_exam(*args[:2], side=args[2] if len(args) > 2 else "both")


def test_trial_truth_is_consistent():
    t = synthetic_trial(25, seed=9, ambiguous_rate=0.2)
    assert len(t.exams) == 50 * 4 == len(t.expected)
    validate_trial_table(t.exams)  # the generator writes valid tables
    truth = t.truth
    assert truth["patient_id"].is_unique
    unamb = ~truth["baseline_ais"].str.contains(",") & ~truth["last_ais"].str.contains(",")
    assert (truth.loc[unamb, "converted_lower"] == truth.loc[unamb, "converted_upper"]).all()
    # The converted count follows the arms' conversion probabilities (0.2 vs 0.4) loosely.
    by_arm = truth.groupby("arm")["grades_gained"].apply(lambda g: (g > 0).mean())
    assert by_arm["MSC"] > by_arm["control"]
    for s in ("UEMS", "LEMS"):
        d = truth[f"last_{s}"] - truth[f"baseline_{s}"]
        np.testing.assert_allclose(d, truth[f"delta_{s}"], equal_nan=True)
