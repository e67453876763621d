"""Reading the CSV file of ``sci-evidence meta``: checks that pandas alone would not make.

Ragged rows, duplicated headers, a folder given as the file and infinite values become one
:class:`~sci_evidence.errors.InputError` naming the file, row (the header is row 1) and
column. numpy/pandas are imported inside the functions (fast ``--help``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sci_evidence.errors import InputError

EXAMPLE_NAME = "dat_bcg.csv"


def _example_path() -> Path:
    return Path(str(resources.files("sci_evidence.meta").joinpath("data", EXAMPLE_NAME)))


def _check_rows(path: Path) -> None:
    """Every row has one field per header name, and every header name is unique.

    pandas would pad short rows with NaN, take a surplus field on every row as an index
    (shifting every column by one) and rename a duplicated header to ``name.1``: each of
    those pools numbers from the wrong column, so each is an error naming the row.
    """
    import csv

    file = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = csv.reader(fh, skipinitialspace=True)
            header = next(rows, None)
            if header is None:
                raise InputError("the file is empty", file=file)
            names = [h.strip() for h in header]
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise InputError(
                        "duplicate column header: each column must be named once",
                        file=file,
                        column=name,
                    )
                seen.add(name)
            for row in rows:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line, skipped as pandas does
                if len(row) != len(names):
                    raise InputError(
                        f"this row has {len(row)} fields but the header has {len(names)}; "
                        "every row needs one value per column",
                        file=file,
                        row=rows.line_num,
                    )
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=file) from None
    except csv.Error as exc:
        raise InputError(f"cannot read as CSV ({exc})", file=file) from None


def _read_csv(path: Path):
    import pandas as pd

    if path.is_dir():
        raise InputError("is a folder, not a CSV file", file=str(path))
    if not path.exists():
        raise InputError("file not found", file=str(path))
    _check_rows(path)
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read as CSV ({msg})", file=str(path)) from None
    if df.empty:
        raise InputError("the file has no data rows", file=str(path))
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _check_finite_columns(df, columns: dict[str, str], file: str) -> None:
    """An explicit inf/-inf (or a number beyond float range) in a data column is an error
    naming the row; an empty cell or NaN is a missing value (dropped with a warning)."""
    import numpy as np
    import pandas as pd

    for col in columns.values():
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.isinf(values.to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                "the value is infinite (or beyond the range of a float); give a finite number",
                file=file,
                row=i + 2,
                column=col,
                value=str(df[col].iloc[i]),
            )


def _require_column(df, name: str, file: str, what: str) -> None:
    if name not in df.columns:
        raise InputError(
            f"{what} column not found; available: {', '.join(map(str, df.columns))}",
            file=file,
            column=name,
        )


def _moderator(df, name: str, file: str) -> list[Any]:
    """A moderator column: numeric, or text (categorical). A mostly numeric column with a
    stray word is a typo, not a factor: report its row."""
    import pandas as pd

    col = df[name]
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float).tolist()
    text = col.astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    present = text.notna() & (text != "")
    bad = present & num.isna()
    if bad.all():
        return [None if (v is pd.NA or v == "") else str(v) for v in text.tolist()]
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError("not a number", file=file, row=i + 2, column=name, value=col.iloc[i])
    return num.astype(float).tolist()
