"""Reading and validating a trial's long exam table (CSV, Excel or Parquet).

One row per exam: ``patient_id``, ``arm``, ``visit`` (days since injury), the exam in the
ISNCSCI flat layout, and optional covariates (``age``, ``sex``, ``aetiology``, ``centre``).
Every problem is an :class:`~sci_evidence.errors.InputError` naming the file, the row as a
spreadsheet shows it (the header is row 1), the column and the value.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from sci_evidence.errors import InputError
from sci_evidence.isncsci import levels as isncsci_levels

ID_COLUMNS = ("patient_id", "arm", "visit")
COVARIATES = ("age", "sex", "aetiology", "centre")
NON_KEY_COLUMNS = tuple(isncsci_levels.NON_KEY_COLUMNS[side] for side in isncsci_levels.SIDES)
#: The exam columns a trial table must have (the flat layout without the optional non-key
#: muscle columns), as :mod:`sci_evidence.isncsci.levels` defines the layout.
REQUIRED_EXAM_COLUMNS = (
    isncsci_levels.VAC_COLUMN,
    isncsci_levels.DAP_COLUMN,
    *isncsci_levels.SCORE_COLUMNS,
)
_SENSORY = re.compile(r"^(0|1|2|NT)$|^(0|1|NT)\*{1,2}$")
_MOTOR = re.compile(r"^([0-5]|NT)$|^([0-4]|NT)\*{1,2}$")
_ANAL = {"Yes", "No", "NT"}
_NON_KEY_LEVELS = {level.name for level in isncsci_levels.KEY_MUSCLE_LEVELS}


def read_trial_table(path: str | Path) -> pd.DataFrame:
    """Read and validate a trial table; see :func:`validate_trial_table`.

    ``.csv`` (UTF-8), ``.xlsx``/``.xls`` (first sheet) and ``.parquet`` are accepted. Exam
    values are read as text so that ``NT``, ``0*`` and ``5`` keep their meaning.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", file=str(p))
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix in (".xlsx", ".xls"):
            df = pd.read_excel(p, dtype=str, keep_default_na=False)
        elif suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            raise InputError(
                "unsupported file type; use .csv, .xlsx or .parquet", file=str(p), value=suffix
            )
    except InputError:
        raise
    except Exception as exc:  # a file that is not what its name says
        raise InputError(
            f"cannot read the table: {type(exc).__name__}: {exc}", file=str(p)
        ) from None
    try:
        return validate_trial_table(df)
    except InputError as exc:
        raise exc.with_file(str(p)) from None


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _canonical(text: str) -> str:
    """Case-insensitive spellings of the vocabulary: ``nt`` → ``NT``, ``yes`` → ``Yes``."""
    low = text.lower()
    if low.startswith("nt"):
        return "NT" + text[2:]
    if low in ("yes", "no"):
        return low.capitalize()
    return text


def validate_trial_table(df: pd.DataFrame) -> pd.DataFrame:
    """Check a trial table and return a clean copy (exam values as stripped strings).

    Checks, in this order: the identifying columns and every exam column are present; no
    identifier is empty; ``visit`` is a number ≥ 0; each exam value is in the 2019
    vocabulary (sensory ``0 1 2 NT`` with ``*``/``**`` tags on ``0 1 NT``, motor ``0``–``5``
    and ``NT`` with tags on ``0``–``4`` and ``NT``, anal items ``Yes No NT``, non-key muscle
    levels among the ten key-muscle levels or empty); no patient has two exams on the same
    day; each patient stays in one arm.

    Raises
    ------
    InputError
        Naming the row (spreadsheet numbering: header = row 1), column and value.
    """
    missing = [c for c in ID_COLUMNS + REQUIRED_EXAM_COLUMNS if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise InputError(f"missing column(s): {shown}", column=missing[0])
    if len(df) == 0:
        raise InputError("the table has no exams")
    out = df.copy()
    out.index = pd.RangeIndex(len(out))
    for col in ("patient_id", "arm"):
        out[col] = [_as_text(v) for v in out[col]]
        empty = np.flatnonzero(out[col].to_numpy() == "")
        if empty.size:
            raise InputError("empty value", row=int(empty[0]) + 2, column=col)
    visits = pd.to_numeric(out["visit"].map(_as_text), errors="coerce")
    bad = np.flatnonzero(~np.isfinite(visits.to_numpy(float)) | (visits.to_numpy(float) < 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            "visit must be a number of days since injury (>= 0)",
            row=i + 2,
            column="visit",
            value=_as_text(df["visit"].iloc[i]),
        )
    out["visit"] = visits.astype(float)

    for col in REQUIRED_EXAM_COLUMNS + tuple(c for c in NON_KEY_COLUMNS if c in out.columns):
        values = [_canonical(_as_text(v)) for v in out[col]]
        out[col] = values
        if col in ("analContraction", "analSensation"):
            ok = [v in _ANAL for v in values]
            allowed = "Yes, No or NT"
        elif col in NON_KEY_COLUMNS:
            ok = [v == "" or v.upper() in _NON_KEY_LEVELS for v in values]
            allowed = "empty or a key-muscle level (C5-T1, L2-S1)"
            out[col] = [v.upper() for v in values]
        elif col.endswith("Motor"):
            ok = [bool(_MOTOR.match(v)) for v in values]
            allowed = "0-5 or NT (tags * / ** on 0-4 and NT)"
        else:
            ok = [bool(_SENSORY.match(v)) for v in values]
            allowed = "0, 1, 2 or NT (tags * / ** on 0, 1 and NT)"
        bad_rows = [i for i, good in enumerate(ok) if not good]
        if bad_rows:
            i = bad_rows[0]
            what = "missing value" if values[i] == "" else "invalid value"
            raise InputError(
                f"{what}; expected {allowed}", row=i + 2, column=col, value=values[i] or None
            )

    dup = out.duplicated(["patient_id", "visit"], keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = out.loc[rows[0]]
        same = [
            int(r) + 2
            for r in rows
            if out.at[r, "patient_id"] == first["patient_id"]
            and out.at[r, "visit"] == first["visit"]
        ]
        raise InputError(
            f"duplicated visit: patient {first['patient_id']!r} has exams on rows "
            f"{', '.join(map(str, same))} at the same day",
            row=same[1],
            column="visit",
            value=_as_text(df["visit"].iloc[same[1] - 2]),
        )
    arms = out.groupby("patient_id")["arm"].nunique()
    if (arms > 1).any():
        pid = arms[arms > 1].index[0]
        rows = np.flatnonzero(out["patient_id"].to_numpy() == pid)
        first_arm = out.at[rows[0], "arm"]
        other = next(int(r) for r in rows if out.at[r, "arm"] != first_arm)
        raise InputError(
            f"patient {pid!r} is in more than one arm (row {int(rows[0]) + 2}: {first_arm!r})",
            row=other + 2,
            column="arm",
            value=out.at[other, "arm"],
        )
    for cov in ("age",):
        if cov in out.columns:
            vals = pd.to_numeric(out[cov].map(_as_text).replace("", np.nan), errors="coerce")
            bad = np.flatnonzero(vals.isna().to_numpy() & (out[cov].map(_as_text) != "").to_numpy())
            if bad.size:
                i = int(bad[0])
                raise InputError(
                    "age must be a number", row=i + 2, column=cov, value=_as_text(out[cov].iloc[i])
                )
            out[cov] = vals
    return out
