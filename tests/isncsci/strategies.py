"""Hypothesis strategies for ISNCSCI exams in the flat layout (NT and */** tags included)."""

from __future__ import annotations

from hypothesis import strategies as st

from sci_evidence.isncsci.levels import (
    KEY_MUSCLE_LEVELS,
    MOTOR_VALUES,
    NON_KEY_COLUMNS,
    SENSORY_LEVELS,
    SENSORY_VALUES,
    SIDES,
    motor_column,
    prick_column,
    touch_column,
)

SENSORY = sorted(SENSORY_VALUES)
MOTOR = sorted(MOTOR_VALUES)
# Mostly normal scores with a lesion, so that walks go deep; sometimes anything at all.
SENSORY_MOSTLY_NORMAL = st.one_of(st.just("2"), st.just("2"), st.sampled_from(SENSORY))
MOTOR_MOSTLY_NORMAL = st.one_of(st.just("5"), st.just("5"), st.sampled_from(MOTOR))
NON_KEY = st.one_of(st.just(""), st.sampled_from([lv.name for lv in KEY_MUSCLE_LEVELS]))


@st.composite
def flat_exams(draw: st.DrawFn) -> dict[str, str]:
    """One exam: normal above a random level per side, random (any valid value) below it."""
    exam = {
        "analContraction": draw(st.sampled_from(["Yes", "No", "NT"])),
        "analSensation": draw(st.sampled_from(["Yes", "No", "NT"])),
    }
    for side in SIDES:
        lesion = draw(st.integers(0, 29))
        for lv in SENSORY_LEVELS:
            normal = int(lv) < lesion
            for column in (touch_column(lv, side), prick_column(lv, side)):
                exam[column] = draw(SENSORY_MOSTLY_NORMAL if normal else st.sampled_from(SENSORY))
            if lv in KEY_MUSCLE_LEVELS:
                exam[motor_column(lv, side)] = draw(
                    MOTOR_MOSTLY_NORMAL if normal else st.sampled_from(MOTOR)
                )
        exam[NON_KEY_COLUMNS[side]] = draw(NON_KEY)
    return exam
