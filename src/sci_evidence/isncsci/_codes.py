"""Integer codes of the reference's score strings, and validation of a whole table at once.

A score is coded ``digit * 3 + tag``: digit 0–5, or 6 for ``NT``; tag 0 (none), 1 (``*``,
consider not normal), 2 (``**``, consider normal). Predicates on scores are boolean lookup
tables indexed by the code, so a rule of RULES.md becomes one fancy-index per array.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sci_evidence.isncsci.exam import normalize_score
from sci_evidence.isncsci.levels import (
    ANAL_VALUES,
    DAP_COLUMN,
    KEY_MUSCLE_LEVELS,
    MOTOR_VALUES,
    NON_KEY_COLUMNS,
    SEGMENT_NAMES,
    SENSORY_LEVELS,
    SENSORY_VALUES,
    SIDES,
    VAC_COLUMN,
    motor_column,
    prick_column,
    touch_column,
)

NT_DIGIT = 6
TOKENS: tuple[str, ...] = tuple(
    ("NT" if d == NT_DIGIT else str(d)) + tag for d in range(7) for tag in ("", "*", "**")
)
CODE: dict[str, int] = {tok: i for i, tok in enumerate(TOKENS)}
N_CODES = len(TOKENS)


def lut(values: Iterable[str]) -> np.ndarray:
    """Boolean lookup table over codes: True for the given score strings."""
    table = np.zeros(N_CODES + 1, dtype=bool)  # last entry: the invalid code -1
    table[[CODE[v] for v in values]] = True
    return table


VALID_SENSORY = lut(SENSORY_VALUES)
VALID_MOTOR = lut(MOTOR_VALUES)
ANAL = ("Yes", "No", "NT")
YES, NO, NT = 0, 1, 2

#: Flat-layout score columns, in the order of the code matrix rows.
TOUCH_COLUMNS = [[touch_column(lv, s) for lv in SENSORY_LEVELS] for s in SIDES]
PRICK_COLUMNS = [[prick_column(lv, s) for lv in SENSORY_LEVELS] for s in SIDES]
MOTOR_COLUMNS = [[motor_column(lv, s) for lv in KEY_MUSCLE_LEVELS] for s in SIDES]

_SCORE_VOCAB = pa.array(list(TOKENS))
_ANAL_VOCAB = pa.array(list(ANAL))
_SEGMENT_VOCAB = pa.array([*SEGMENT_NAMES, ""])
_KEY_SEGMENTS = np.array([int(lv) for lv in KEY_MUSCLE_LEVELS])
_IS_KEY_SEGMENT = np.zeros(len(SEGMENT_NAMES) + 1, dtype=bool)
_IS_KEY_SEGMENT[_KEY_SEGMENTS] = True


@dataclass(frozen=True)
class CellError:
    """One invalid cell: row position (0-based), exam id, column, value and the reason."""

    position: int
    exam_id: str
    column: str
    value: object
    reason: str


@dataclass
class EncodedExams:
    """A table of exams as code arrays, N exams along the last axis.

    touch, prick : int8 array (2, N, 32)
        Sides (right, left) × exams × segments C1…S4_5 (C1 and the padding 29–31 coded as
        a normal 2; 32 positions so that a row packs into one uint32).
    motor : int8 array (2, N, 10)
        Key muscles C5…T1, L2…S1.
    vac, dap : int8 array (N,)
        0 Yes, 1 No, 2 NT.
    non_key : int8 array (2, N)
        Segment index of the lowest non-key muscle when it is one of the ten key-muscle
        levels, else -1 (the reference ignores other level names).
    outside_non_key : bool array (2, N)
        A non-key muscle was named outside the ten levels (ignored, warned about).
    errors : list of CellError
        The first invalid cell of each invalid row (empty when all rows are valid).
    """

    touch: np.ndarray
    prick: np.ndarray
    motor: np.ndarray
    vac: np.ndarray
    dap: np.ndarray
    non_key: np.ndarray
    outside_non_key: np.ndarray
    errors: list[CellError]

    def take(self, rows: np.ndarray) -> EncodedExams:
        """The exams at positions ``rows`` (errors are dropped)."""
        return EncodedExams(
            self.touch[:, rows],
            self.prick[:, rows],
            self.motor[:, rows],
            self.vac[rows],
            self.dap[rows],
            self.non_key[:, rows],
            self.outside_non_key[:, rows],
            [],
        )


def _arrow(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(series.map(_as_text), type=pa.string(), from_pandas=True)


def _as_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _index_in(series: pd.Series, vocab: pa.Array) -> np.ndarray:
    """Position of each value in ``vocab``; -1 where absent or empty."""
    arr = _arrow(series)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string()) if not pa.types.is_null(arr.type) else arr
    idx = pc.index_in(arr, value_set=vocab)
    return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int8)


def _index_in_columns(df: pd.DataFrame, columns: list[str], vocab: pa.Array) -> np.ndarray:
    """Codes of many columns at once (one hash lookup pass): int8 (len(columns), N)."""
    arrays = [_arrow(df[c]) for c in columns]
    types = {a.type for a in arrays}
    if len(types) != 1 or not (
        pa.types.is_string(next(iter(types))) or pa.types.is_large_string(next(iter(types)))
    ):
        return (
            np.stack([_index_in(df[c], vocab) for c in columns])
            if columns
            else np.empty((0, len(df)), dtype=np.int8)
        )
    chunks = []
    for a in arrays:
        chunks.extend(a.chunks if isinstance(a, pa.ChunkedArray) else [a])
    joined = pa.chunked_array(chunks, type=next(iter(types)))
    idx = pc.index_in(joined, value_set=vocab.cast(joined.type))
    codes = np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int8)
    return codes.reshape(len(columns), len(df))


def encode_table(df: pd.DataFrame, ids: list[str]) -> EncodedExams:
    """Code and validate every cell of a flat-layout table.

    Values outside the exact vocabulary are re-read leniently (letter case, blanks, ``5.0``);
    what is still invalid is reported in ``errors`` (first bad cell per row), never guessed.

    Raises
    ------
    InputError
        A required column is missing.
    """
    from sci_evidence.errors import InputError

    n = len(df)
    missing = [
        c
        for c in (VAC_COLUMN, DAP_COLUMN, *sum(TOUCH_COLUMNS + PRICK_COLUMNS + MOTOR_COLUMNS, []))
        if c not in df.columns
    ]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise InputError(f"missing column {missing[0]!r}{more}", column=missing[0])
    bad_pos: dict[int, CellError] = {}

    def note(position: int, column: str, value: object, reason: str) -> None:
        if position not in bad_pos:
            bad_pos[position] = CellError(position, ids[position], column, value, reason)

    def scores(column: str, valid: np.ndarray, what: str, codes: np.ndarray) -> np.ndarray:
        bad = ~valid[codes]
        if bad.any():
            for pos in np.flatnonzero(bad):
                raw = df[column].iloc[pos]
                text = normalize_score(raw)
                code = CODE.get(text, -1) if text is not None else -1
                if code >= 0 and valid[code]:
                    codes[pos] = code
                elif text is None:
                    note(int(pos), column, "", "missing score (use NT for not testable)")
                else:
                    note(int(pos), column, raw, f"invalid value, {what}")
        return codes

    sens_what = "sensory score must be 0, 1, 2 or NT; 0, 1 and NT may carry * or **"
    mot_what = "motor grade must be 0-5 or NT; 0-4 and NT may carry * or **"
    touch = np.full((2, n, 32), CODE["2"], dtype=np.int8)
    prick = np.full((2, n, 32), CODE["2"], dtype=np.int8)
    motor = np.empty((2, n, 10), dtype=np.int8)
    sensory_columns = [*TOUCH_COLUMNS[0], *TOUCH_COLUMNS[1], *PRICK_COLUMNS[0], *PRICK_COLUMNS[1]]
    motor_columns = [*MOTOR_COLUMNS[0], *MOTOR_COLUMNS[1]]
    all_codes = _index_in_columns(df, [*sensory_columns, *motor_columns], _SCORE_VOCAB)
    for k, column in enumerate(sensory_columns):
        codes = scores(column, VALID_SENSORY, sens_what, all_codes[k])
        side, kind, i = (k // 28) % 2, k // 56, k % 28
        (touch if kind == 0 else prick)[side, :, i + 1] = codes
    for k, column in enumerate(motor_columns):
        motor[k // 10, :, k % 10] = scores(
            column, VALID_MOTOR, mot_what, all_codes[len(sensory_columns) + k]
        )

    def anal(column: str) -> np.ndarray:
        codes = _index_in(df[column], _ANAL_VOCAB)
        for pos in np.flatnonzero(codes < 0):
            raw = df[column].iloc[pos]
            text = _as_text(raw)
            canonical = {v.upper(): v for v in ANAL_VALUES}.get((text or "").strip().upper())
            if canonical is None:
                note(
                    int(pos),
                    column,
                    "" if text is None else raw,
                    "invalid value, must be Yes, No or NT",
                )
            else:
                codes[pos] = ANAL.index(canonical)
        return codes

    vac = anal(VAC_COLUMN)
    dap = anal(DAP_COLUMN)
    non_key = np.full((2, n), -1, dtype=np.int8)
    outside = np.zeros((2, n), dtype=bool)
    for s, side in enumerate(SIDES):
        column = NON_KEY_COLUMNS[side]
        if column not in df.columns:
            continue
        codes = _index_in(df[column], _SEGMENT_VOCAB)
        empty_code = len(SEGMENT_NAMES)
        for pos in np.flatnonzero(codes < 0):
            raw = df[column].iloc[pos]
            text = _as_text(raw)
            text = (text or "").strip().upper()
            if text == "":
                codes[pos] = empty_code
            elif text in SEGMENT_NAMES:
                codes[pos] = SEGMENT_NAMES.index(text)
            else:
                note(int(pos), column, raw, "invalid value, must be a level name C1-S4_5 or empty")
                codes[pos] = empty_code
        named = codes != empty_code
        key = _IS_KEY_SEGMENT[codes] & named
        non_key[s] = np.where(key, codes, -1)
        outside[s] = named & ~key
    errors = [bad_pos[p] for p in sorted(bad_pos)]
    return EncodedExams(touch, prick, motor, vac, dap, non_key, outside, errors)
