"""Segment names, key muscles and the flat exam layout's column names.

A test oracle's own copy, deliberately not imported from :mod:`sci_evidence.isncsci.levels`
(the package's one home of these facts): the synthetic-exam generator works its expected
values out independently of the engine it checks. It lives with the tests, not in the
installed package.
"""

from __future__ import annotations

#: Segments C1..S4_5 in rostral→caudal order; the position is the segment index used throughout.
SEGMENTS: tuple[str, ...] = (
    ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8")
    + tuple(f"T{i}" for i in range(1, 13))
    + ("L1", "L2", "L3", "L4", "L5", "S1", "S2", "S3", "S4_5")
)
SEGMENT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SEGMENTS)}
#: Indices of the ten key muscles (C5–T1, L2–S1).
KEY_MUSCLES: tuple[int, ...] = (4, 5, 6, 7, 8, 21, 22, 23, 24, 25)
UPPER_KEY_MUSCLES: tuple[int, ...] = KEY_MUSCLES[:5]
LOWER_KEY_MUSCLES: tuple[int, ...] = KEY_MUSCLES[5:]
SIDES: tuple[str, ...] = ("Right", "Left")
#: Index of "INT" when a level is intact (one past S4_5), so that level differences stay numeric.
INT_INDEX: int = len(SEGMENTS)
#: Most caudal cervical segment: an NLI at C1–C8 is tetraplegia, T1 and below paraplegia.
LAST_CERVICAL: int = SEGMENT_INDEX["C8"]
AIS_GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E")


def key(segment: int, side: str, kind: str) -> str:
    """Flat-layout column name, e.g. ``key(4, "Right", "Motor") == "c5RightMotor"``."""
    return f"{SEGMENTS[segment].lower()}{side}{kind}"


def exam_columns() -> tuple[str, ...]:
    """All input columns of the flat layout (anal items, sensory, motor, non-key muscles)."""
    cols = ["analContraction", "analSensation"]
    for seg in range(1, len(SEGMENTS)):
        for side in SIDES:
            cols.append(key(seg, side, "Touch"))
            cols.append(key(seg, side, "Prick"))
            if seg in KEY_MUSCLES:
                cols.append(key(seg, side, "Motor"))
    cols += [
        "rightLowestNonKeyMuscleWithMotorFunction",
        "leftLowestNonKeyMuscleWithMotorFunction",
    ]
    return tuple(cols)


EXAM_COLUMNS: tuple[str, ...] = exam_columns()
#: The columns an exam must have (the non-key muscle levels are optional).
REQUIRED_EXAM_COLUMNS: tuple[str, ...] = EXAM_COLUMNS[:-2]


def level_index(name: str) -> int:
    """Index of a level name (``"C5"`` → 4, ``"INT"`` → 29); stars are ignored."""
    name = name.strip().rstrip("*").upper()
    if name == "INT":
        return INT_INDEX
    return SEGMENT_INDEX[name]
