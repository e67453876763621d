"""Segments, key muscles and the column names of the reference's flat layout.

Segments are numbered rostral to caudal, C1 = 0 … S4_5 = 28, as the reference algorithm
(Praxis ``isncsci`` v2.0.6) numbers them. ``INT`` (intact: normal through S4_5) sorts after
every segment, so a level's order is its integer value.
"""

from __future__ import annotations

from enum import IntEnum

SEGMENT_NAMES: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 9)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
    "S2",
    "S3",
    "S4_5",
)


class Level(IntEnum):
    """A neurological level: a segment C1…S4_5, or ``INT`` (intact), ordered rostral→caudal."""

    C1 = 0
    C2 = 1
    C3 = 2
    C4 = 3
    C5 = 4
    C6 = 5
    C7 = 6
    C8 = 7
    T1 = 8
    T2 = 9
    T3 = 10
    T4 = 11
    T5 = 12
    T6 = 13
    T7 = 14
    T8 = 15
    T9 = 16
    T10 = 17
    T11 = 18
    T12 = 19
    L1 = 20
    L2 = 21
    L3 = 22
    L4 = 23
    L5 = 24
    S1 = 25
    S2 = 26
    S3 = 27
    S4_5 = 28
    INT = 29

    def __str__(self) -> str:
        return self.name

    @property
    def is_key_muscle(self) -> bool:
        """True for the ten key-muscle segments C5–T1 and L2–S1."""
        return self in KEY_MUSCLE_LEVELS


#: Sensory key points, one per segment C2…S4_5 (index ``Level - 1``).
SENSORY_LEVELS: tuple[Level, ...] = tuple(Level(i) for i in range(1, 29))
#: Key muscles C5–T1 (upper extremity) and L2–S1 (lower extremity).
KEY_MUSCLE_LEVELS: tuple[Level, ...] = (
    Level.C5,
    Level.C6,
    Level.C7,
    Level.C8,
    Level.T1,
    Level.L2,
    Level.L3,
    Level.L4,
    Level.L5,
    Level.S1,
)
#: Position of a segment in :data:`KEY_MUSCLE_LEVELS`, or -1 where it has no key muscle.
KEY_MUSCLE_INDEX: tuple[int, ...] = tuple(
    KEY_MUSCLE_LEVELS.index(Level(i)) if Level(i) in KEY_MUSCLE_LEVELS else -1 for i in range(29)
)

SIDES = ("Right", "Left")
#: AIS grades, from complete (A) to normal (E).
AIS_GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E")


def _key(level: Level) -> str:
    return level.name.lower()


def touch_column(level: Level, side: str) -> str:
    """Flat-layout column of a light-touch score, e.g. ``c5RightTouch``."""
    return f"{_key(level)}{side}Touch"


def prick_column(level: Level, side: str) -> str:
    """Flat-layout column of a pin-prick score, e.g. ``s4_5LeftPrick``."""
    return f"{_key(level)}{side}Prick"


def motor_column(level: Level, side: str) -> str:
    """Flat-layout column of a motor grade, e.g. ``l2RightMotor``."""
    return f"{_key(level)}{side}Motor"


VAC_COLUMN = "analContraction"
DAP_COLUMN = "analSensation"
NON_KEY_COLUMNS = {
    "Right": "rightLowestNonKeyMuscleWithMotorFunction",
    "Left": "leftLowestNonKeyMuscleWithMotorFunction",
}

#: Score columns of the flat layout, in the order the reference's test data lists them.
SCORE_COLUMNS: tuple[str, ...] = tuple(
    col
    for level in SENSORY_LEVELS
    for col in (
        *(touch_column(level, s) for s in SIDES),
        *(prick_column(level, s) for s in SIDES),
        *((motor_column(level, s) for s in SIDES) if level in KEY_MUSCLE_LEVELS else ()),
    )
)
#: Every input key of the flat layout (the two non-key-muscle columns are optional).
INPUT_COLUMNS: tuple[str, ...] = (
    VAC_COLUMN,
    DAP_COLUMN,
    *SCORE_COLUMNS,
    NON_KEY_COLUMNS["Right"],
    NON_KEY_COLUMNS["Left"],
)

#: The reference's result keys, in the order the CLI writes them.
RESULT_COLUMNS: tuple[str, ...] = (
    "rightSensory",
    "leftSensory",
    "rightMotor",
    "leftMotor",
    "neurologicalLevelOfInjury",
    "injuryComplete",
    "asiaImpairmentScale",
    "rightSensoryZpp",
    "leftSensoryZpp",
    "rightMotorZpp",
    "leftMotorZpp",
    "rightUpperMotorTotal",
    "leftUpperMotorTotal",
    "rightLowerMotorTotal",
    "leftLowerMotorTotal",
    "rightTouchTotal",
    "leftTouchTotal",
    "rightPrickTotal",
    "leftPrickTotal",
    "rightMotorTotal",
    "leftMotorTotal",
    "upperMotorTotal",
    "lowerMotorTotal",
    "touchTotal",
    "prickTotal",
)

#: Valid score strings of the 2019 rules (see RULES.md §2.1).
SENSORY_VALUES: frozenset[str] = frozenset(
    {"0", "1", "2", "NT", "0*", "1*", "NT*", "0**", "1**", "NT**"}
)
MOTOR_VALUES: frozenset[str] = frozenset(
    {"0", "1", "2", "3", "4", "5", "NT"}
    | {f"{v}{t}" for v in ("0", "1", "2", "3", "4", "NT") for t in ("*", "**")}
)
ANAL_VALUES: frozenset[str] = frozenset({"Yes", "No", "NT"})
