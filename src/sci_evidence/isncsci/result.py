"""The classification of one exam: typed values, and the reference's string conventions."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import pandas as pd

from sci_evidence.isncsci.levels import RESULT_COLUMNS, Level


class Possible(NamedTuple):
    """One possible value of a result.

    ``value`` is a :class:`Level` for levels (``Level.INT`` for intact), ``None`` for a zone
    of partial preservation that does not apply (``NA``), or a letter for completeness
    (``"C"``/``"I"``) and AIS (``"A"``…``"E"``). ``variable`` is the reference's ``*``: the
    value depends on a score tagged as impaired for a reason other than the SCI.
    """

    value: Level | str | None
    variable: bool = False

    def __str__(self) -> str:
        if self.value is None:
            text = "NA"
        elif isinstance(self.value, Level):
            text = self.value.name
        else:
            text = self.value
        return text + ("*" if self.variable else "")


def parse_possible(text: str, *, kind: str) -> tuple[Possible, ...]:
    """Parse the reference's comma-joined string (``"C5,C6*"``, ``"NA,T4"``, ``"A,B"``)."""
    out = []
    for part in text.split(","):
        variable = part.endswith("*")
        token = part.rstrip("*")
        if kind == "level":
            value: Level | str | None = None if token == "NA" else Level[token]
        else:
            value = token
        out.append(Possible(value, variable))
    return tuple(out)


def _join(values: tuple[Possible, ...]) -> str:
    return ",".join(str(v) for v in values)


_LEVEL_FIELDS = {
    "right_sensory": "rightSensory",
    "left_sensory": "leftSensory",
    "right_motor": "rightMotor",
    "left_motor": "leftMotor",
    "neurological_level": "neurologicalLevelOfInjury",
    "right_sensory_zpp": "rightSensoryZpp",
    "left_sensory_zpp": "leftSensoryZpp",
    "right_motor_zpp": "rightMotorZpp",
    "left_motor_zpp": "leftMotorZpp",
}
_GRADE_FIELDS = {
    "injury_complete": "injuryComplete",
    "asia_impairment_scale": "asiaImpairmentScale",
}
_TOTAL_FIELDS = {
    "right_upper_motor_total": "rightUpperMotorTotal",
    "left_upper_motor_total": "leftUpperMotorTotal",
    "right_lower_motor_total": "rightLowerMotorTotal",
    "left_lower_motor_total": "leftLowerMotorTotal",
    "right_touch_total": "rightTouchTotal",
    "left_touch_total": "leftTouchTotal",
    "right_prick_total": "rightPrickTotal",
    "left_prick_total": "leftPrickTotal",
    "right_motor_total": "rightMotorTotal",
    "left_motor_total": "leftMotorTotal",
    "upper_motor_total": "upperMotorTotal",
    "lower_motor_total": "lowerMotorTotal",
    "touch_total": "touchTotal",
    "prick_total": "prickTotal",
}
#: Attribute name → the reference's result key.
REFERENCE_KEYS: dict[str, str] = {**_LEVEL_FIELDS, **_GRADE_FIELDS, **_TOTAL_FIELDS}


@dataclass(frozen=True)
class Classification:
    """The ISNCSCI classification of one exam (2019 rules, as the Praxis reference applies them).

    Every level-like result is a tuple of all possible values, rostral→caudal (more than one
    when NT or tagged scores make it ambiguous). Totals are ints, or None when not
    determinable (an NT in the column; the reference's ``ND``).

    Attributes
    ----------
    right_sensory, left_sensory, right_motor, left_motor : tuple of Possible
        Sensory and motor levels per side (``Level.INT`` when intact).
    neurological_level : tuple of Possible
        Neurological level of injury (NLI).
    injury_complete : tuple of Possible
        ``"C"`` (complete) and/or ``"I"`` (incomplete).
    asia_impairment_scale : tuple of Possible
        AIS grades ``"A"``…``"E"``.
    right_sensory_zpp, left_sensory_zpp, right_motor_zpp, left_motor_zpp : tuple of Possible
        Zones of partial preservation; ``None`` stands for ``NA`` (does not apply).
    right_upper_motor_total, …, prick_total : int or None
        The 14 totals: upper/lower extremity motor, light touch, pin prick and motor per
        side, and upper/lower motor, touch and prick for both sides.
    exam_id : str or None
        The exam's identifier, when it had one.
    """

    right_sensory: tuple[Possible, ...]
    left_sensory: tuple[Possible, ...]
    right_motor: tuple[Possible, ...]
    left_motor: tuple[Possible, ...]
    neurological_level: tuple[Possible, ...]
    injury_complete: tuple[Possible, ...]
    asia_impairment_scale: tuple[Possible, ...]
    right_sensory_zpp: tuple[Possible, ...]
    left_sensory_zpp: tuple[Possible, ...]
    right_motor_zpp: tuple[Possible, ...]
    left_motor_zpp: tuple[Possible, ...]
    right_upper_motor_total: int | None
    left_upper_motor_total: int | None
    right_lower_motor_total: int | None
    left_lower_motor_total: int | None
    right_touch_total: int | None
    left_touch_total: int | None
    right_prick_total: int | None
    left_prick_total: int | None
    right_motor_total: int | None
    left_motor_total: int | None
    upper_motor_total: int | None
    lower_motor_total: int | None
    touch_total: int | None
    prick_total: int | None
    exam_id: str | None = None

    @classmethod
    def from_reference(
        cls, values: dict[str, str], *, exam_id: str | None = None
    ) -> Classification:
        """Build from the reference's 25 result strings (keys as in :data:`RESULT_COLUMNS`)."""
        kw: dict[str, Any] = {}
        for attr, key in _LEVEL_FIELDS.items():
            kw[attr] = parse_possible(values[key], kind="level")
        for attr, key in _GRADE_FIELDS.items():
            kw[attr] = parse_possible(values[key], kind="grade")
        for attr, key in _TOTAL_FIELDS.items():
            kw[attr] = None if values[key] == "ND" else int(values[key])
        return cls(**kw, exam_id=exam_id)

    def to_reference(self) -> dict[str, str]:
        """The 25 results as the reference writes them (``"C5,C6*"``, ``"NA"``, ``"ND"``)."""
        out: dict[str, str] = {}
        for attr, key in REFERENCE_KEYS.items():
            value = getattr(self, attr)
            if attr in _TOTAL_FIELDS:
                out[key] = "ND" if value is None else str(value)
            else:
                out[key] = _join(value)
        return {key: out[key] for key in RESULT_COLUMNS}

    def to_dict(self) -> dict[str, str | None]:
        """JSON-safe: ``id`` (when known) and the 25 results in the reference's conventions."""
        out: dict[str, str | None] = {}
        if self.exam_id is not None:
            out["id"] = self.exam_id
        out.update(self.to_reference())
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row: ``id`` (when known) and the 25 result columns, as strings."""
        return pd.DataFrame([self.to_dict()])

    @property
    def is_ambiguous(self) -> bool:
        """True when any level, grade or zone has more than one possible value."""
        return any(len(getattr(self, attr)) > 1 for attr in (*_LEVEL_FIELDS, *_GRADE_FIELDS))

    def summary(self) -> str:
        """A short text report, one result per line."""
        ref = self.to_reference()
        lines = [f"ISNCSCI classification{f' of exam {self.exam_id}' if self.exam_id else ''}"]
        complete = ref["injuryComplete"]
        completeness = {"C": "complete", "I": "incomplete"}.get(complete, f"C/I: {complete}")
        lines.append(
            f"  AIS {ref['asiaImpairmentScale']}  NLI {ref['neurologicalLevelOfInjury']}"
            f"  ({completeness})"
        )
        lines.append(f"  {'':14}{'right':>12}{'left':>12}")
        for label, r, left in (
            ("sensory level", "rightSensory", "leftSensory"),
            ("motor level", "rightMotor", "leftMotor"),
            ("sensory ZPP", "rightSensoryZpp", "leftSensoryZpp"),
            ("motor ZPP", "rightMotorZpp", "leftMotorZpp"),
            ("UEMS", "rightUpperMotorTotal", "leftUpperMotorTotal"),
            ("LEMS", "rightLowerMotorTotal", "leftLowerMotorTotal"),
            ("light touch", "rightTouchTotal", "leftTouchTotal"),
            ("pin prick", "rightPrickTotal", "leftPrickTotal"),
        ):
            lines.append(f"  {label:14}{ref[r]:>12}{ref[left]:>12}")
        lines.append(
            f"  totals: UEMS {ref['upperMotorTotal']}, LEMS {ref['lowerMotorTotal']}, "
            f"LT {ref['touchTotal']}, PP {ref['prickTotal']}"
        )
        if self.is_ambiguous:
            lines.append("  (several values: NT or tagged scores leave the result open)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


assert {f.name for f in fields(Classification)} == {*REFERENCE_KEYS, "exam_id"}
