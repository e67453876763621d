"""The ISNCSCI exam: typed, validated input of the classification.

An :class:`Exam` holds the raw scores as the 2019 worksheet writes them (strings such as
``"5"``, ``"NT"``, ``"0*"``, ``"NT**"``), because the tags are part of what the algorithm
reads: ``*`` means "impairment not due to SCI, consider **not** normal", ``**`` means "not
due to SCI, consider normal" (the reference's encoding of the examiner's decision).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.isncsci.levels import (
    ANAL_VALUES,
    DAP_COLUMN,
    KEY_MUSCLE_LEVELS,
    MOTOR_VALUES,
    NON_KEY_COLUMNS,
    SENSORY_LEVELS,
    SENSORY_VALUES,
    SIDES,
    VAC_COLUMN,
    Level,
    motor_column,
    prick_column,
    touch_column,
)

_SEGMENT_BY_NAME = {lv.name: lv for lv in Level if lv is not Level.INT}
_ANAL_CANONICAL = {v.upper(): v for v in ANAL_VALUES}


def _text(value: Any) -> str | None:
    """A cell as the reference's string, or None when empty (None, NaN, blank)."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN: an empty cell read by pandas
            return None
        if value.is_integer():
            return str(int(value))  # Excel stores 5 as 5.0
        return str(value)
    if isinstance(value, bool):
        return str(value)
    text = str(value).strip()
    return text or None


def normalize_score(value: Any) -> str | None:
    """Canonical spelling of a score (``nt*`` → ``NT*``); None for an empty cell."""
    text = _text(value)
    if text is None:
        return None
    return text.upper()


def check_score(value: Any, *, motor: bool, exam_id: Any, column: str) -> str:
    """Validate one score and return its canonical string.

    Raises
    ------
    InputError
        Empty, or not a valid 2019 value: motor ``0``–``5`` / ``NT``, sensory ``0``–``2`` /
        ``NT``, each optionally tagged ``*`` or ``**`` where the 2019 rules allow a tag.
    """
    text = normalize_score(value)
    allowed = MOTOR_VALUES if motor else SENSORY_VALUES
    if text is None:
        raise InputError(
            f"exam {exam_id}: missing score (use NT for not testable)", column=column, value=""
        )
    if text not in allowed:
        what = (
            "motor grade must be 0-5 or NT; 0-4 and NT may carry * or **"
            if motor
            else "sensory score must be 0, 1, 2 or NT; 0, 1 and NT may carry * or **"
        )
        raise InputError(f"exam {exam_id}: invalid value, {what}", column=column, value=value)
    return text


def check_anal(value: Any, *, exam_id: Any, column: str) -> str:
    """Validate VAC/DAP: ``Yes``, ``No`` or ``NT`` (any letter case)."""
    text = _text(value)
    canonical = _ANAL_CANONICAL.get(text.upper()) if text is not None else None
    if canonical is None:
        raise InputError(
            f"exam {exam_id}: invalid value, must be Yes, No or NT",
            column=column,
            value="" if value is None else value,
        )
    return canonical


def check_non_key(value: Any, *, exam_id: Any, column: str) -> Level | None:
    """Validate the lowest non-key muscle with motor function: a segment name or empty."""
    text = _text(value)
    if text is None:
        return None
    level = _SEGMENT_BY_NAME.get(text.upper())
    if level is None:
        raise InputError(
            f"exam {exam_id}: invalid value, must be a level name C1-S4_5 or empty",
            column=column,
            value=value,
        )
    return level


@dataclass(frozen=True)
class Exam:
    """One ISNCSCI exam, validated.

    Attributes
    ----------
    right_touch, right_prick, left_touch, left_prick : tuple of str, length 28
        Light touch and pin prick at C2…S4_5 (:data:`~sci_evidence.isncsci.levels.SENSORY_LEVELS`).
    right_motor, left_motor : tuple of str, length 10
        Grades of the key muscles C5, C6, C7, C8, T1, L2, L3, L4, L5, S1.
    vac, dap : {"Yes", "No", "NT"}
        Voluntary anal contraction and deep anal pressure.
    right_non_key, left_non_key : Level or None
        Lowest non-key muscle with motor function. Like the reference, the classification
        uses it only when it names one of the ten key-muscle levels; any other level is
        ignored (with a warning when the exam is read).
    exam_id : str or None
        Identifier used in messages and output.
    """

    right_touch: tuple[str, ...]
    right_prick: tuple[str, ...]
    left_touch: tuple[str, ...]
    left_prick: tuple[str, ...]
    right_motor: tuple[str, ...]
    left_motor: tuple[str, ...]
    vac: str
    dap: str
    right_non_key: Level | None = None
    left_non_key: Level | None = None
    exam_id: str | None = None

    def __post_init__(self) -> None:
        who = repr(self.exam_id) if self.exam_id is not None else "(no id)"
        for side in SIDES:
            s = side.lower()
            for kind, column_of in (("touch", touch_column), ("prick", prick_column)):
                values = getattr(self, f"{s}_{kind}")
                if len(values) != len(SENSORY_LEVELS):
                    raise InputError(f"exam {who}: {s} {kind} needs 28 scores C2-S4_5")
                for level, v in zip(SENSORY_LEVELS, values, strict=True):
                    if v not in SENSORY_VALUES:
                        check_score(v, motor=False, exam_id=who, column=column_of(level, side))
            motor = getattr(self, f"{s}_motor")
            if len(motor) != len(KEY_MUSCLE_LEVELS):
                raise InputError(f"exam {who}: {s} motor needs 10 grades C5-T1, L2-S1")
            for level, v in zip(KEY_MUSCLE_LEVELS, motor, strict=True):
                if v not in MOTOR_VALUES:
                    check_score(v, motor=True, exam_id=who, column=motor_column(level, side))
            nk = getattr(self, f"{s}_non_key")
            if nk is not None and not isinstance(nk, Level):
                raise InputError(
                    f"exam {who}: non-key muscle must be a Level",
                    column=NON_KEY_COLUMNS[side],
                    value=nk,
                )
        if self.vac not in ANAL_VALUES:
            check_anal(self.vac, exam_id=who, column=VAC_COLUMN)
        if self.dap not in ANAL_VALUES:
            check_anal(self.dap, exam_id=who, column=DAP_COLUMN)

    # -- the reference's flat layout -------------------------------------------------------
    @classmethod
    def from_flat(cls, record: Mapping[str, Any], *, exam_id: Any = None) -> Exam:
        """Build an exam from the reference's flat keys (``c5RightMotor``, ``analSensation``…).

        Values are validated and canonicalised (``nt`` → ``NT``, ``5.0`` → ``5``). A non-key
        muscle outside C5–T1/L2–S1 is kept, with a :class:`~sci_evidence.errors.DataWarning`
        that the reference ignores it for AIS B/C.

        Raises
        ------
        InputError
            A missing or invalid value; the message names the exam id, field and value.
        """
        if exam_id is None:
            exam_id = _text(record.get("id"))
        who = repr(str(exam_id)) if exam_id is not None else "(no id)"
        fields: dict[str, Any] = {}
        for side in SIDES:
            s = side.lower()
            for kind, column_of in (("touch", touch_column), ("prick", prick_column)):
                fields[f"{s}_{kind}"] = tuple(
                    check_score(
                        record.get(column_of(lv, side)),
                        motor=False,
                        exam_id=who,
                        column=column_of(lv, side),
                    )
                    for lv in SENSORY_LEVELS
                )
            fields[f"{s}_motor"] = tuple(
                check_score(
                    record.get(motor_column(lv, side)),
                    motor=True,
                    exam_id=who,
                    column=motor_column(lv, side),
                )
                for lv in KEY_MUSCLE_LEVELS
            )
            column = NON_KEY_COLUMNS[side]
            fields[f"{s}_non_key"] = check_non_key(record.get(column), exam_id=who, column=column)
        fields["vac"] = check_anal(record.get(VAC_COLUMN), exam_id=who, column=VAC_COLUMN)
        fields["dap"] = check_anal(record.get(DAP_COLUMN), exam_id=who, column=DAP_COLUMN)
        exam = cls(**fields, exam_id=None if exam_id is None else str(exam_id))
        exam.warn_ignored_inputs()
        return exam

    def warn_ignored_inputs(self) -> None:
        """Warn about a non-key muscle level that the reference ignores for AIS B/C."""
        for side in SIDES:
            nk = getattr(self, f"{side.lower()}_non_key")
            if nk is not None and not nk.is_key_muscle:
                who = repr(self.exam_id) if self.exam_id is not None else "(no id)"
                warnings.warn(
                    f"exam {who}: {NON_KEY_COLUMNS[side]} = {nk.name} is not one of the "
                    "non-key muscle levels C5-T1, L2-S1; like the reference, the "
                    "classification ignores it",
                    DataWarning,
                    stacklevel=3,
                )

    def to_flat(self) -> dict[str, str]:
        """The exam in the reference's flat layout (``id`` first when known)."""
        out: dict[str, str] = {}
        if self.exam_id is not None:
            out["id"] = self.exam_id
        out[VAC_COLUMN] = self.vac
        out[DAP_COLUMN] = self.dap
        for side in SIDES:
            s = side.lower()
            for i, lv in enumerate(SENSORY_LEVELS):
                out[touch_column(lv, side)] = getattr(self, f"{s}_touch")[i]
                out[prick_column(lv, side)] = getattr(self, f"{s}_prick")[i]
            for i, lv in enumerate(KEY_MUSCLE_LEVELS):
                out[motor_column(lv, side)] = getattr(self, f"{s}_motor")[i]
            nk = getattr(self, f"{s}_non_key")
            out[NON_KEY_COLUMNS[side]] = "" if nk is None else nk.name
        return out

    # -- the reference's nested exam JSON ------------------------------------------------
    @classmethod
    def from_nested(cls, obj: Mapping[str, Any], *, exam_id: Any = None) -> Exam:
        """Build an exam from the reference's nested JSON (``right.motor.C5``, …).

        Raises
        ------
        InputError
            A missing part or an invalid value, naming the exam and the nested field.
        """
        who = repr(str(exam_id)) if exam_id is not None else "(no id)"
        if not isinstance(obj, Mapping):
            raise InputError(f"exam {who}: expected a JSON object", value=str(obj)[:40])
        flat: dict[str, Any] = {
            VAC_COLUMN: obj.get("voluntaryAnalContraction"),
            DAP_COLUMN: obj.get("deepAnalPressure"),
        }
        for side in SIDES:
            part = obj.get(side.lower())
            if not isinstance(part, Mapping):
                raise InputError(f"exam {who}: missing object", column=side.lower())
            for key, column_of, levels in (
                ("lightTouch", touch_column, SENSORY_LEVELS),
                ("pinPrick", prick_column, SENSORY_LEVELS),
                ("motor", motor_column, KEY_MUSCLE_LEVELS),
            ):
                scores = part.get(key)
                if not isinstance(scores, Mapping):
                    raise InputError(f"exam {who}: missing object", column=f"{side.lower()}.{key}")
                for lv in levels:
                    flat[column_of(lv, side)] = scores.get(lv.name)
            flat[NON_KEY_COLUMNS[side]] = part.get("lowestNonKeyMuscleWithMotorFunction")
        try:
            return cls.from_flat(flat, exam_id=exam_id)
        except InputError as exc:
            raise InputError(
                exc.reason,
                column=_nested_name(exc.column),
                value=exc.value,
            ) from None

    def to_nested(self) -> dict[str, Any]:
        """The exam in the reference's nested JSON layout."""
        out: dict[str, Any] = {
            "deepAnalPressure": self.dap,
            "voluntaryAnalContraction": self.vac,
        }
        for side in ("left", "right"):
            part: dict[str, Any] = {
                "lightTouch": {
                    lv.name: v
                    for lv, v in zip(SENSORY_LEVELS, getattr(self, f"{side}_touch"), strict=True)
                },
                "motor": {
                    lv.name: v
                    for lv, v in zip(KEY_MUSCLE_LEVELS, getattr(self, f"{side}_motor"), strict=True)
                },
                "pinPrick": {
                    lv.name: v
                    for lv, v in zip(SENSORY_LEVELS, getattr(self, f"{side}_prick"), strict=True)
                },
            }
            nk = getattr(self, f"{side}_non_key")
            if nk is not None:
                part["lowestNonKeyMuscleWithMotorFunction"] = nk.name
            out[side] = part
        return out


def _nested_name(column: str | None) -> str | None:
    """``c5RightMotor`` → ``right.motor.C5`` (for messages about nested input)."""
    if column is None:
        return None
    if column == VAC_COLUMN:
        return "voluntaryAnalContraction"
    if column == DAP_COLUMN:
        return "deepAnalPressure"
    for side in SIDES:
        if column == NON_KEY_COLUMNS[side]:
            return f"{side.lower()}.lowestNonKeyMuscleWithMotorFunction"
        for kind, key in (("Touch", "lightTouch"), ("Prick", "pinPrick"), ("Motor", "motor")):
            suffix = f"{side}{kind}"
            if column.endswith(suffix):
                level = column[: -len(suffix)].upper()
                return f"{side.lower()}.{key}.{level}"
    return column
