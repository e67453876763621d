"""Reading exam files into tables of strings: flat CSV (streamed in blocks), flat or nested
JSON and JSON lines, Excel.

Every malformed input is one :class:`~sci_evidence.errors.InputError` naming the file, row
(as a spreadsheet numbers it; the header is row 1) or cell: ragged rows, a duplicated column
header or JSON key, text that is not UTF-8, JSON nested too deeply, a lone surrogate, a
nested value where a score belongs, an Excel formula without a cached value. Validation of
the values themselves happens when the tables are encoded (:mod:`sci_evidence.isncsci._codes`).
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.isncsci.exam import Exam

__all__ = ["BLOCK_ROWS", "EXAM_SUFFIXES", "iter_tables", "load_table"]

EXAM_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson", ".xlsx", ".xlsm", ".xls")
#: Exams per streamed block (about 9 MiB of CSV text): large enough that the per-block
#: overhead is small, small enough that a block's arrays stay far below the memory goal.
BLOCK_ROWS = 32_768
#: Bytes the CSV reader parses at a time (pyarrow buffers several: larger blocks cost
#: memory, 1 MiB reads as fast as 16 MiB).
_CSV_BLOCK_BYTES = 1 << 20


def _is_nested(obj: Any) -> bool:
    return isinstance(obj, dict) and ("right" in obj or "left" in obj)


def _nested_to_flat(obj: dict, position: int, file: str) -> dict[str, Any]:
    exam_id = obj.get("id", position + 1)
    try:
        # Validation happens once, on the whole table; here only the layout is unfolded.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            flat = Exam.from_nested(obj, exam_id=exam_id).to_flat()
    except InputError as exc:
        raise InputError(
            exc.reason, file=file, row=position + 1, column=exc.column, value=exc.value
        ) from None
    except (TypeError, AttributeError, KeyError, ValueError):
        raise InputError(
            "not an exam in the nested layout (expected objects 'right' and 'left' holding "
            "'motor', 'lightTouch' and 'pinPrick')",
            file=file,
            row=position + 1,
        ) from None
    flat["id"] = str(exam_id)
    return flat


def _check_text(value: Any, file: str, row: int, column: str) -> None:
    """A string that cannot be written as UTF-8 (a lone surrogate from a JSON escape)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                "text holds a lone surrogate (an unpaired \\ud800-\\udfff escape)",
                file=file,
                row=row,
                column=column,
            ) from None


def _records_frame(records: list, file: str) -> pd.DataFrame:
    rows = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object per exam", file=file, row=i + 1)
        flat = _nested_to_flat(rec, i, file) if _is_nested(rec) else rec
        for key, value in flat.items():
            _check_text(key, file, i + 1, "(a key)")
            _check_text(value, file, i + 1, str(key))
            if isinstance(value, dict | list):
                raise InputError(
                    "expected a plain value, not a nested object or list",
                    file=file,
                    row=i + 1,
                    column=str(key),
                )
        rows.append(flat)
    return pd.DataFrame(rows)


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_loads(text: str, file: str, line: int | None = None) -> Any:
    where = f" at line {line}" if line is not None else ""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InputError(
            f"duplicate key in a JSON object{where}: each field must be given once",
            file=file,
            column=str(exc.args[0]),
        ) from None
    except json.JSONDecodeError as exc:
        at = line if line is not None else exc.lineno
        raise InputError(f"not valid JSON: {exc.msg} at line {at}", file=file) from None
    except RecursionError:
        raise InputError(f"JSON nested too deeply to read{where}", file=file) from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not valid JSON{where}: {msg}", file=file) from None


def _read_json(path: Path) -> pd.DataFrame:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r})",
            file=file,
        ) from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records = [
            _json_loads(line, file, n)
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    else:
        data = _json_loads(text, file)
        if isinstance(data, dict) and isinstance(data.get("exams"), list):
            data = data["exams"]
        records = data if isinstance(data, list) else [data]
    return _records_frame(records, file)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the reference's string ('' for empty); numbers like 5.0 become '5'."""
    out = {}
    for column in frame.columns:
        col = frame[column]
        if (
            col.dtype == object
            or pd.api.types.is_numeric_dtype(col)
            or pd.api.types.is_bool_dtype(col)
        ):
            values = []
            for v in col.tolist():
                if v is None or (isinstance(v, float) and v != v):
                    values.append("")
                elif isinstance(v, float) and v.is_integer():
                    values.append(str(int(v)))
                else:
                    values.append(str(v))
            out[column] = pd.Series(values, index=frame.index, dtype=object)
        else:
            out[column] = col.fillna("").astype(str)
    return pd.DataFrame(out, index=frame.index)


def _check_header(names: list[str], file: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(
                "duplicate column header: each column must be named once", file=file, column=name
            )
        seen.add(name)


def _csv_header(path: Path) -> tuple[list[str], int]:
    """The header's names, and its length in bytes."""
    file = str(path)
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header is not UTF-8 text", file=file, row=1) from None
    try:
        header = next(csv.reader([text.rstrip("\r\n")]), None)
    except csv.Error as exc:
        raise InputError(f"cannot read the CSV header ({exc})", file=file, row=1) from None
    if not header or not any(h.strip() for h in header):
        raise InputError("the file is empty (no header row)", file=file)
    _check_header(header, file)
    return header, len(first)


def _first_ragged_row(path: Path, width: int) -> tuple[int, int] | None:
    """(row number, number of fields) of the first row whose width differs from the
    header's, or None. Only run after pyarrow refused the file (it names no row)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        rows = csv.reader(fh)
        try:
            for row in rows:
                if row and len(row) != width:
                    return rows.line_num, len(row)
        except csv.Error:
            return None
    return None


def _csv_blocks(path: Path) -> Iterator[pd.DataFrame]:
    """The exams of a CSV file in blocks of strings (pyarrow's streaming reader)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    file = str(path)
    header, header_bytes = _csv_header(path)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                block_size=max(_CSV_BLOCK_BYTES, 4 * header_bytes), use_threads=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        pending: list[Any] = []
        size = 0
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            if size >= BLOCK_ROWS:
                yield pa.Table.from_batches(pending).to_pandas(types_mapper=pd.ArrowDtype)
                pending, size = [], 0
        if pending:
            yield pa.Table.from_batches(pending).to_pandas(types_mapper=pd.ArrowDtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        ragged = _first_ragged_row(path, len(header))
        if ragged is not None:
            row, fields = ragged
            raise InputError(
                f"this row has {fields} fields but the header has {len(header)}; every "
                "row needs one value per column",
                file=file,
                row=row,
            ) from None
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "UTF8" in msg or "utf8" in msg.lower():
            msg = "the file is not UTF-8 text"
        raise InputError(f"cannot read CSV: {msg}", file=file) from None


def _excel_frame(path: Path) -> pd.DataFrame:
    """The first sheet of a workbook; a formula cell with no cached value is an error."""
    file = str(path)
    if path.suffix.lower() == ".xls":
        try:
            return _as_strings(pd.read_excel(path, dtype=object))
        except Exception as exc:  # xlrd raises many types for broken or unsupported files
            raise InputError(f"cannot read Excel file: {exc}".splitlines()[0], file=file) from None
    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        values_book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formula_book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise InputError(f"cannot read Excel file: {exc}".splitlines()[0], file=file) from None
    try:
        values = values_book.worksheets[0].iter_rows(values_only=True)
        formulas = formula_book.worksheets[0].iter_rows(values_only=True)
        header_row = next(values, None)
        next(formulas, None)
        if header_row is None:
            raise InputError("the first sheet is empty", file=file)
        header = ["" if h is None else str(h).strip() for h in header_row]
        width = len(header)
        while width and not header[width - 1]:
            width -= 1
        header = header[:width]
        _check_header(header, file)
        rows = []
        for r, (vals, forms) in enumerate(zip(values, formulas, strict=False), start=2):
            vals = list(vals[:width]) + [None] * (width - len(vals[:width]))
            for c, (v, f) in enumerate(zip(vals, forms, strict=False)):
                if v is None and isinstance(f, str) and f.startswith("="):
                    raise InputError(
                        f"cell {get_column_letter(c + 1)}{r} holds a formula with no saved "
                        "value; open and save the workbook in a spreadsheet program (or "
                        "paste the values) first",
                        file=file,
                        row=r,
                        column=header[c] if c < width else None,
                        value=f,
                    )
            if any(v is not None and v != "" for v in vals):
                rows.append(vals)
    finally:
        values_book.close()
        formula_book.close()
    if any(not h for h in header):
        raise InputError("a column has no header", file=file)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return _as_strings(frame)


def iter_tables(path: str | Path) -> Iterator[tuple[pd.DataFrame, int]]:
    """The raw table as strings, block by block, with the row number of each block's
    first exam (for messages)."""
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder, not an exam file", file=str(path))
    if not p.is_file():
        raise InputError("no such file", file=str(path))
    suffix = p.suffix.lower()
    if suffix == ".csv":
        row = 2
        for frame in _csv_blocks(p):
            yield frame, row
            row += len(frame)
        return
    if suffix in (".json", ".jsonl", ".ndjson"):
        frame, first = _as_strings(_read_json(p)), 1
    elif suffix in (".xlsx", ".xlsm", ".xls"):
        frame, first = _excel_frame(p), 2
    else:
        raise InputError(
            f"unknown exam file type {suffix!r}; use one of {', '.join(EXAM_SUFFIXES)}",
            file=str(p),
        )
    for start in range(0, len(frame), BLOCK_ROWS):
        yield frame.iloc[start : start + BLOCK_ROWS].reset_index(drop=True), first + start


def load_table(path: str | Path) -> tuple[pd.DataFrame, int]:
    """The whole raw table as strings, and the row number of its first exam."""
    blocks = list(iter_tables(path))
    if not blocks:
        raise InputError("no exams in file", file=str(path))
    if len(blocks) == 1:
        return blocks[0]
    return pd.concat([b for b, _ in blocks], ignore_index=True), blocks[0][1]
