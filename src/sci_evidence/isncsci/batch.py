"""Classify many exams at once: ``classify_table`` (vectorised with numpy)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.isncsci._codes import CellError, EncodedExams, encode_table
from sci_evidence.isncsci._vector import INT_POS, NA_BIT, classify_codes
from sci_evidence.isncsci.levels import NON_KEY_COLUMNS, RESULT_COLUMNS, SEGMENT_NAMES

#: Exams per vectorised block: small enough for the boolean arrays to stay in cache.
CHUNK = 8192

_LEVEL_NAMES = [*SEGMENT_NAMES[:29], "INT"]
_GRADES = "ABCDE"
_AIS_TEXT = np.array(
    [
        ",".join(
            g + ("*" if code >> (5 + i) & 1 else "") for i, g in enumerate(_GRADES) if code >> i & 1
        )
        for code in range(1024)
    ],
    dtype=object,
)
_COMPLETE_TEXT = np.array(["C", "C*,I*", "I*", "C,I", "I"], dtype=object)
_TOTAL_TEXT = np.array(["ND", *(str(i) for i in range(113))], dtype=object)
_LEVEL_RESULTS = (
    ("rightSensory", "sensory", 0),
    ("leftSensory", "sensory", 1),
    ("rightMotor", "motor", 0),
    ("leftMotor", "motor", 1),
    ("neurologicalLevelOfInjury", "nli", None),
    ("rightSensoryZpp", "sensory_zpp", 0),
    ("leftSensoryZpp", "sensory_zpp", 1),
    ("rightMotorZpp", "motor_zpp", 0),
    ("leftMotorZpp", "motor_zpp", 1),
)


def _pack(cand: np.ndarray, star: np.ndarray) -> np.ndarray:
    """Candidate and star bitmasks → one uint64 key per exam (stars in the high word)."""
    return cand.astype(np.uint64) | (star.astype(np.uint64) << np.uint64(32))


_TEXT_CACHE: dict[int, str] = {}


def _level_text(key: int) -> str:
    """``cand | star << 32`` → ``"NA,T4*,T5"`` (NA first, then levels rostral→caudal)."""
    text = _TEXT_CACHE.get(key)
    if text is not None:
        return text
    cand, star = key & 0xFFFFFFFF, key >> 32
    parts = ["NA"] if cand >> NA_BIT & 1 else []
    bits = cand & ((1 << (INT_POS + 1)) - 1)
    while bits:
        low = bits & -bits
        i = low.bit_length() - 1
        parts.append(_LEVEL_NAMES[i] + "*" if star >> i & 1 else _LEVEL_NAMES[i])
        bits ^= low
    text = ",".join(parts)
    if len(_TEXT_CACHE) < 1_000_000:  # bounded: a cache, not a leak
        _TEXT_CACHE[key] = text
    return text


def _format_levels(keys: np.ndarray) -> np.ndarray:
    codes, texts = _level_codes(keys)
    return texts[codes]


def _level_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed level keys → (code per exam, text of each code)."""
    codes, uniques = pd.factorize(keys)
    return codes, np.array([_level_text(k) for k in uniques.tolist()], dtype=object)


def _classify_packed(enc: EncodedExams) -> dict[str, np.ndarray]:
    n = enc.vac.shape[0]
    out: dict[str, np.ndarray] = {}
    for start in range(0, n, CHUNK):
        rows = slice(start, min(start + CHUNK, n))
        block = EncodedExams(
            enc.touch[:, rows],
            enc.prick[:, rows],
            enc.motor[:, rows],
            enc.vac[rows],
            enc.dap[rows],
            enc.non_key[:, rows],
            enc.outside_non_key[:, rows],
            [],
        )
        res = classify_codes(block)
        packed: dict[str, np.ndarray] = {}
        for column, part, side in _LEVEL_RESULTS:
            cand, star = res[part]
            if side is not None:
                cand, star = cand[side], star[side]
            packed[column] = _pack(cand, star)
        packed["injuryComplete"] = res["complete"]
        packed["asiaImpairmentScale"] = res["ais"]
        for column, values in res["totals"].items():
            packed[column] = values
        for column, values in packed.items():
            if column not in out:
                out[column] = np.empty(n, dtype=values.dtype)
            out[column][rows] = values
    return out


def result_codes(enc: EncodedExams) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Classify coded exams: for each of the 25 result columns, (code per exam, texts).

    The text of exam i in a column is ``texts[codes[i]]``; the texts are few (levels,
    grades, totals), so a writer can quote or escape each once instead of once per exam.
    """
    n = enc.vac.shape[0]
    if not n:
        empty = np.empty(0, dtype=np.intp)
        return {column: (empty, np.empty(0, dtype=object)) for column in RESULT_COLUMNS}
    packed = _classify_packed(enc)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column in RESULT_COLUMNS:
        if column == "injuryComplete":
            out[column] = (packed[column].astype(np.intp), _COMPLETE_TEXT)
        elif column == "asiaImpairmentScale":
            out[column] = (packed[column].astype(np.intp), _AIS_TEXT)
        elif column.endswith("Total"):
            out[column] = (packed[column].astype(np.intp) + 1, _TOTAL_TEXT)
        else:
            out[column] = _level_codes(packed[column])
    return out


def frame_from_codes(
    codes: dict[str, tuple[np.ndarray, np.ndarray]], ids: list[str] | None
) -> pd.DataFrame:
    """The reference's 25 string columns (and ``id``) from :func:`result_codes`."""
    columns: dict[str, np.ndarray] = {}
    if ids is not None:
        columns["id"] = np.asarray(ids, dtype=object)
    for column in RESULT_COLUMNS:
        c, texts = codes[column]
        columns[column] = texts[c]
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})


def results_frame(enc: EncodedExams, ids: list[str] | None) -> pd.DataFrame:
    """Classify coded exams into the reference's 25 string columns (and ``id``)."""
    return frame_from_codes(result_codes(enc), ids)


def cell_error(err: CellError, *, file: str | None = None, row: int | None = None) -> InputError:
    """The one-line error for an invalid cell, naming exam id, field and value."""
    return InputError(
        f"exam {err.exam_id!r}: {err.reason}",
        file=file,
        row=row,
        column=err.column,
        value=err.value,
    )


def exam_ids(df: pd.DataFrame) -> list[str]:
    """The ``id`` column as strings, or row numbers (1-based) when there is none."""
    if "id" in df.columns:
        values = df["id"].to_numpy(dtype=object)  # fast for pyarrow-backed columns too
        return [("" if v is None or v != v else str(v)) for v in values.tolist()]
    return [f"row {i + 1}" for i in range(len(df))]


class OutsideNonKey:
    """Non-key muscles named outside C5-T1, L2-S1, gathered over blocks for one warning."""

    def __init__(self) -> None:
        self.count = [0, 0]
        self.first: list[list[str]] = [[], []]

    def add(self, enc: EncodedExams, ids: list[str]) -> None:
        for s in range(2):
            bad = np.flatnonzero(enc.outside_non_key[s])
            if bad.size:
                self.count[s] += int(bad.size)
                need = 4 - len(self.first[s])
                self.first[s].extend(ids[i] for i in bad[:need])

    def warn(self, stacklevel: int = 3) -> None:
        for s, side in enumerate(("Right", "Left")):
            n = self.count[s]
            if n:
                first = ", ".join(repr(i) for i in self.first[s][:3])
                warnings.warn(
                    f"{n} exam(s) ({first}{', …' if n > 3 else ''}) name "
                    f"{NON_KEY_COLUMNS[side]} outside C5-T1, L2-S1; like the reference, the "
                    "classification ignores it",
                    DataWarning,
                    stacklevel=stacklevel + 1,
                )


def warn_outside_non_key(enc: EncodedExams, ids: list[str]) -> None:
    """One warning for non-key muscles named outside the ten levels (ignored, as the reference)."""
    outside = OutsideNonKey()
    outside.add(enc, ids)
    outside.warn(stacklevel=3)


def classify_table(df: pd.DataFrame) -> pd.DataFrame:
    """Classify every exam of a table in the reference's flat layout (vectorised).

    Parameters
    ----------
    df : DataFrame
        One exam per row; columns are the reference's flat keys (:data:`INPUT_COLUMNS`:
        ``analContraction``, ``analSensation``, ``c2RightTouch`` … ``s1LeftMotor``, the two
        optional ``…LowestNonKeyMuscleWithMotorFunction``) holding strings as read from a CSV,
        plus an optional ``id``. Empty non-key cells mean none; an empty score is an error
        (NT is how an exam says "not testable").

    Returns
    -------
    DataFrame
        ``id`` (when given) and the 25 :data:`RESULT_COLUMNS`, as the reference writes them:
        comma-joined possible values, ``*`` for values that depend on a tagged score, ``INT``,
        ``NA``, ``ND``. Identical to :func:`classify_exam` on each row.

    Raises
    ------
    InputError
        A missing column or an invalid value (the message names exam id, field and value).

    Notes
    -----
    Each rule of the per-exam engine is restated over bitmasks: the levels of one side are
    the bits of a ``uint32``, every score predicate is one mask per exam (built from five
    packed bit-planes of the score codes), a walk over levels is a few two's-complement
    operations (lowest set bit of "stops", bits above the first "sets v"), and sets of
    possible levels stay bitmasks until formatted. Exams are processed in blocks of
    :data:`CHUNK`. A property test compares it with :func:`classify_exam` on random exams.
    """
    ids = exam_ids(df)
    enc = encode_table(df, ids)
    if enc.errors:
        err = enc.errors[0]
        raise cell_error(err, row=err.position + 1)
    warn_outside_non_key(enc, ids)
    return results_frame(enc, ids if "id" in df.columns else None)
