"""Invariants of the classification that must hold on any exam."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sci_evidence.isncsci import Exam, Level, classify_exam, classify_table
from sci_evidence.isncsci.levels import (
    KEY_MUSCLE_LEVELS,
    NON_KEY_COLUMNS,
    SENSORY_LEVELS,
    motor_column,
    prick_column,
    touch_column,
)

from .strategies import flat_exams


def _normal_flat(vac="Yes", dap="Yes") -> dict[str, str]:
    exam = {"analContraction": vac, "analSensation": dap}
    for side in ("Right", "Left"):
        for lv in SENSORY_LEVELS:
            exam[touch_column(lv, side)] = exam[prick_column(lv, side)] = "2"
            if lv in KEY_MUSCLE_LEVELS:
                exam[motor_column(lv, side)] = "5"
    return exam


def _classify(flat):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return classify_exam(Exam.from_flat(flat))


def test_all_normal_with_vac_is_grade_e_and_intact():
    c = _classify(_normal_flat())
    ref = c.to_reference()
    assert ref["asiaImpairmentScale"] == "E"
    assert ref["neurologicalLevelOfInjury"] == "INT"
    assert c.neurological_level == ((Level.INT, False),)
    assert (c.upper_motor_total, c.lower_motor_total, c.touch_total, c.prick_total) == (
        50,
        50,
        112,
        112,
    )
    for key in ("rightSensoryZpp", "leftSensoryZpp", "rightMotorZpp", "leftMotorZpp"):
        assert ref[key] == "NA"


def test_all_normal_without_vac_is_not_e():
    ref = _classify(_normal_flat(vac="No")).to_reference()
    assert ref["rightMotor"] == ref["leftMotor"] == "S3"  # RULES.md §6.4
    assert "E" not in ref["asiaImpairmentScale"]


RANGES = {
    "UpperMotorTotal": 25,
    "LowerMotorTotal": 25,
    "TouchTotal": 56,
    "PrickTotal": 56,
    "MotorTotal": 50,
}


@settings(max_examples=100, deadline=None)
@given(flat_exams())
def test_totals_in_range_and_nd_exactly_when_column_has_nt(flat):
    ref = _classify(flat).to_reference()
    for side in ("Right", "Left"):
        s = side.lower()
        columns = {
            "UpperMotorTotal": [motor_column(lv, side) for lv in KEY_MUSCLE_LEVELS[:5]],
            "LowerMotorTotal": [motor_column(lv, side) for lv in KEY_MUSCLE_LEVELS[5:]],
            "MotorTotal": [motor_column(lv, side) for lv in KEY_MUSCLE_LEVELS],
            "TouchTotal": [touch_column(lv, side) for lv in SENSORY_LEVELS],
            "PrickTotal": [prick_column(lv, side) for lv in SENSORY_LEVELS],
        }
        for key, cols in columns.items():
            value = ref[f"{s}{key}"]
            has_nt = any(flat[c].startswith("NT") for c in cols)
            if has_nt:
                assert value == "ND"
            else:
                assert 0 <= int(value) <= RANGES[key]
                assert int(value) == sum(int(flat[c].rstrip("*")) for c in cols)
    for both, key in (
        ("upperMotorTotal", "UpperMotorTotal"),
        ("lowerMotorTotal", "LowerMotorTotal"),
        ("touchTotal", "TouchTotal"),
        ("prickTotal", "PrickTotal"),
    ):
        r, left = ref[f"right{key}"], ref[f"left{key}"]
        if "ND" in (r, left):
            assert ref[both] == "ND"
        else:
            assert int(ref[both]) == int(r) + int(left) <= 2 * RANGES[key]


def _mirror(flat: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in flat.items():
        if "Right" in key:
            out[key.replace("Right", "Left")] = value
        elif "Left" in key:
            out[key.replace("Left", "Right")] = value
        elif key.startswith("right"):
            out["left" + key[5:]] = value
        elif key.startswith("left"):
            out["right" + key[4:]] = value
        else:
            out[key] = value
    return out


@settings(max_examples=100, deadline=None)
@given(flat_exams())
def test_left_right_mirror_symmetry(flat):
    ref = _classify(flat).to_reference()
    mirrored = _classify(_mirror(flat)).to_reference()
    for key, value in ref.items():
        if key.startswith("right"):
            assert mirrored["left" + key[5:]] == value, key
        elif key.startswith("left"):
            assert mirrored["right" + key[4:]] == value, key
        else:
            assert mirrored[key] == value, key


@settings(max_examples=100, deadline=None)
@given(flat_exams())
def test_levels_are_ordered_rostral_to_caudal_and_grades_a_to_e(flat):
    c = _classify(flat)
    for attr in (
        "right_sensory",
        "left_sensory",
        "right_motor",
        "left_motor",
        "neurological_level",
    ):
        values = [int(v.value) for v in getattr(c, attr)]
        assert values == sorted(set(values)) and values
    for attr in ("right_sensory_zpp", "left_sensory_zpp", "right_motor_zpp", "left_motor_zpp"):
        values = [v.value for v in getattr(c, attr)]
        if None in values:
            assert values[0] is None
        levels = [int(v) for v in values if v is not None]
        assert levels == sorted(set(levels))
    grades = [v.value for v in c.asia_impairment_scale]
    assert grades == sorted(set(grades)) and set(grades) <= set("ABCDE") and grades


@settings(max_examples=100, deadline=None)
@given(flat_exams(), st.sampled_from(["rightLowestNonKeyMuscleWithMotorFunction"]))
def test_non_key_outside_key_levels_is_ignored_with_warning(flat, column):
    flat = dict(flat)
    flat[column] = ""
    base = _classify(flat).to_reference()
    flat[column] = "T5"
    with pytest.warns(UserWarning, match="ignores it"):
        exam = Exam.from_flat(flat)
    assert classify_exam(exam).to_reference() == base


def test_nt_in_every_column_makes_all_totals_nd():
    flat = _normal_flat()
    for side in ("Right", "Left"):
        flat[touch_column(SENSORY_LEVELS[0], side)] = "NT"
        flat[prick_column(SENSORY_LEVELS[-1], side)] = "NT*"
        flat[motor_column(KEY_MUSCLE_LEVELS[0], side)] = "NT**"
        flat[motor_column(KEY_MUSCLE_LEVELS[-1], side)] = "NT"
    out = classify_table(pd.DataFrame([flat]))
    totals = [c for c in out.columns if c.endswith("Total")]
    assert (out[totals] == "ND").all(axis=None)
    assert NON_KEY_COLUMNS["Right"] not in flat
