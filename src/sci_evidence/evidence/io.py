"""Read and write evidence files: CSV, Excel (.xlsx) and JSON, chosen by the file extension.

- **Excel**: one sheet per frame, named as the frame (``studies``, ``arms``, ``outcomes``, …);
  the sheets ``README`` and ``vocabulary`` of the extraction template are ignored.
- **JSON**: ``{"format": "sci-evidence", "version": 1, "frames": {name: [records]}}`` (a bare
  ``{name: [records]}`` object is accepted too).
- **CSV**: either one frame (its header names the frame's columns) or all frames stacked, with
  a first column ``frame`` naming the frame of each row (what ``export x.csv`` writes).

Reading returns every cell as text so that :mod:`.validate` can report each bad cell with its
file, row, column and value. Garbage (an empty file, binary content, a header that matches no
table) raises :class:`~sci_evidence.errors.InputError` with one line.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sci_evidence.errors import InputError
from sci_evidence.evidence.columns import FRAME_NAMES, FRAMES, KEYS
from sci_evidence.outputs import atomic_write, check_output_path, csv_safe_cell

FORMAT_NAME = "sci-evidence"
FORMAT_VERSION = 1
IGNORED_SHEETS = {"readme", "vocabulary"}
#: First column of a stacked CSV: the frame each row belongs to.
STACK_COLUMN = "frame"
SUFFIXES = {".csv": "csv", ".xlsx": "excel", ".json": "json"}
#: Text that an exported CSV cell carries with one added ``'`` (see :func:`csv_text_cell`).
_QUOTED_FORMULA = re.compile(r"'+[=+\-@\t\r]")


@dataclass(frozen=True)
class RawTable:
    """One frame as read from a file, every cell as text (``""`` when empty).

    ``rows[i]`` is the row number of record ``i`` as the user sees it (spreadsheet row, with the
    header as row 1; record number for JSON); ``location`` names the file (and sheet).
    """

    name: str
    df: pd.DataFrame
    location: str
    rows: tuple[int, ...]
    extra_columns: tuple[str, ...] = ()


def file_format(path: str | Path) -> str:
    """``csv``, ``excel`` or ``json`` from the extension, else an InputError."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            "unknown file type; use .csv, .xlsx or .json", file=str(path), value=suffix or None
        )
    return SUFFIXES[suffix]


# --------------------------------------------------------------------------------- reading
def read_evidence_file(path: str | Path) -> list[RawTable]:
    """Read an evidence file into text tables (one per frame it holds).

    Raises
    ------
    InputError
        File missing, empty, binary, not parseable, or with headers that match no table.
    """
    path = Path(path)
    fmt = file_format(path)
    label = str(path)
    if not path.is_file():
        raise InputError("file not found", file=label)
    data = path.read_bytes()
    if not data.strip():
        raise InputError("file is empty", file=label)
    if fmt == "excel":
        return _read_excel(path, label)
    if b"\x00" in data:
        raise InputError("not a text file (binary content)", file=label)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})", file=label
        ) from exc
    if fmt == "json":
        return _read_json(text, label)
    return _read_csv(text, label)


def _text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as stripped text ("" when empty), built from plain lists (fast)."""
    cols = [str(c).strip() for c in df.columns]
    data = {c: [_cell_text(v) for v in df.iloc[:, j].tolist()] for j, c in enumerate(cols)}
    return pd.DataFrame(data, columns=cols, dtype=object)


def _cell_text(v: object) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).strip()


def _read_csv(text: str, label: str) -> list[RawTable]:
    import csv
    import io

    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file: {exc}", file=label) from exc
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError("the first line (header) is empty", file=label, row=1)
    header = [c.strip() for c in rows[0]]
    _check_header(header, label)
    width = len(header)
    # Plain lists until the end: pandas string operations per column were the bottleneck.
    records = []
    # Row numbers as a spreadsheet shows them: the header is row 1, one row per record.
    for row_no, r in enumerate(rows[1:], start=2):
        if not r:  # a blank line
            continue
        if len(r) != width:
            # A short or long row would shift every later cell into the wrong column.
            raise InputError(
                f"row has {len(r)} fields but the header has {width}; every row needs "
                "exactly one field per column (quote text that contains commas)",
                file=label,
                row=row_no,
            )
        cells = [(csv_unquote_cell(c) if c[:1] == "'" else c).strip() for c in r]
        if any(cells):
            records.append((row_no, cells))
    blank = [j for j, h in enumerate(header) if not h]
    for j in blank:
        for i, r in records:
            if r[j]:
                raise InputError(
                    f"field {j + 1} has a value but its column has no name in the header",
                    file=label,
                    row=i,
                    value=r[j],
                )
    if blank:
        keep_cols = [j for j in range(width) if header[j]]
        header = [header[j] for j in keep_cols]
        records = [(i, [r[j] for j in keep_cols]) for i, r in records]
    if header[0] != STACK_COLUMN:
        name = detect_frame(header, label)
        df = pd.DataFrame([r for _, r in records], columns=header, dtype=object)
        return [_make_table(name, df, label, tuple(i for i, _ in records))]
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    for i, r in records:
        groups.setdefault(r[0], []).append((i, r))
    out = []
    for name, part in groups.items():
        if name not in FRAMES:
            raise InputError(
                "unknown table", file=label, row=part[0][0], column=STACK_COLUMN, value=name
            )
        cols = {c for c, _ in FRAMES[name]}
        keep = [
            j for j, c in enumerate(header) if j > 0 and (c in cols or any(r[j] for _, r in part))
        ]
        df = pd.DataFrame(
            [[r[j] for j in keep] for _, r in part], columns=[header[j] for j in keep], dtype=object
        )
        out.append(_make_table(name, df, label, tuple(i for i, _ in part)))
    return out


def _check_header(header: list[str], label: str, sheet_row: int = 1) -> None:
    """Refuse a header that names a column twice (one of the two would be silently lost)."""
    seen: dict[str, int] = {}
    for j, h in enumerate(header, start=1):
        if not h:
            continue
        if h in seen:
            raise InputError(
                f"the column name appears twice in the header (fields {seen[h]} and {j})",
                file=label,
                row=sheet_row,
                column=_printable(h),
            )
        seen[h] = j


def detect_frame(header: list[str], label: str) -> str:
    """The frame whose columns a header names (its key columns must all be present)."""
    best, best_overlap = None, 0
    hs = set(header)
    for name in FRAME_NAMES:
        cols = {c for c, _ in FRAMES[name]}
        if not set(KEYS[name]) <= hs:
            continue
        overlap = len(hs & cols)
        if overlap > best_overlap:
            best, best_overlap = name, overlap
    if best is None or best_overlap < max(2, len(hs) // 2):
        shown = ", ".join(header[:6]) + (", …" if len(header) > 6 else "")
        raise InputError(
            "the header matches no evidence table (expected e.g. the columns of 'studies': "
            "study_id, first_author, year, …; run 'sci-evidence evidence template' for all)",
            file=label,
            row=1,
            value=shown,
        )
    return best


def _make_table(name: str, df: pd.DataFrame, location: str, rows: tuple[int, ...]) -> RawTable:
    cols = [c for c, _ in FRAMES[name]]
    extra = tuple(c for c in df.columns if c not in cols)
    return RawTable(name=name, df=df, location=location, rows=rows, extra_columns=extra)


def _read_json(text: str, label: str) -> list[RawTable]:
    try:
        obj = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InputError(
            "a key appears twice in one object (one value would be lost)",
            file=label,
            column=_printable(str(exc.args[0])),
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=label, row=exc.lineno) from exc
    except RecursionError:
        raise InputError("not usable JSON: nested too deeply", file=label) from None
    if not isinstance(obj, dict):
        raise InputError(
            'JSON must be an object of tables ({"frames": {"studies": [...], ...}})',
            file=label,
        )
    frames = obj.get("frames", obj) if "frames" in obj else obj
    if not isinstance(frames, dict):
        raise InputError("'frames' must be an object of tables", file=label)
    out = []
    for name, records in frames.items():
        if name in ("format", "version", "data_hash"):
            continue
        if name not in FRAMES:
            raise InputError("unknown table", file=label, value=name)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InputError(
                "a table must be a list of objects", file=label, column=_printable(name)
            )
        if not records:
            continue
        loc = f"{label}[{name}]"
        columns = list(dict.fromkeys(k for r in records for k in r))
        data: dict[str, list[str]] = {c.strip(): [] for c in columns}
        if len(data) != len(columns):
            raise InputError("two keys differ only by surrounding spaces", file=loc)
        for i, rec in enumerate(records, start=1):
            for c in columns:
                v = rec.get(c)
                if isinstance(v, dict | list):
                    raise InputError(
                        "a cell must be text, a number, true/false or null",
                        file=loc,
                        row=i,
                        column=_printable(c),
                    )
                data[c.strip()].append(_cell_text(v))
        df = pd.DataFrame(data, columns=list(data), dtype=object)
        out.append(_make_table(name, df, loc, tuple(range(1, len(df) + 1))))
    if not out and not any(n in FRAMES for n in frames):
        raise InputError("no evidence tables in the JSON file", file=label)
    return out


def _printable(text: str) -> str:
    """Text safe to print in a message: controls and lone surrogates as ``\\uXXXX``."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """``json.loads`` hook: a key given twice in one object would silently keep the last."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


class _DuplicateKey(Exception):
    pass


def _read_excel(path: Path, label: str) -> list[RawTable]:
    if not zipfile.is_zipfile(path):
        raise InputError("not an Excel workbook (.xlsx)", file=label)
    from openpyxl import load_workbook

    try:
        # data_only: the value a formula cell last computed (its cached value), if any.
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
        finally:
            wb.close()
        formulas = _formula_cells(path) if _has_formulas(path) else {}
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise InputError(f"cannot read the workbook: {exc}".splitlines()[0], file=label) from exc
    out = []
    for sheet, grid in sheets.items():
        if sheet.strip().lower() in IGNORED_SHEETS:
            continue
        loc = f"{label}[{sheet}]"
        if sheet not in FRAMES:
            raise InputError(
                f"unknown sheet; sheets must be named after tables ({', '.join(FRAME_NAMES)})",
                file=label,
                value=sheet,
            )
        # A formula whose result was never computed (the file was not saved by a spreadsheet
        # program) has no value to read: refuse it rather than read an empty cell.
        for (fsheet, ref), formula in formulas.items():
            if fsheet == sheet:
                r, c = _cell_index(ref)
                if r >= len(grid) or c >= len(grid[r]) or grid[r][c] is None:
                    raise InputError(
                        f"cell {ref} holds a formula ({formula}) without a computed value; "
                        "open and save the file in a spreadsheet program, or type the value",
                        file=loc,
                        row=r + 1,
                    )
        if not grid:
            continue
        width = max(len(r) for r in grid)
        grid = [r + [None] * (width - len(r)) for r in grid]
        header = [_cell_text(v) for v in grid[0]]
        _check_header(header, loc)
        body = [[_cell_text(v) for v in r] for r in grid[1:]]
        keep = [i for i, r in enumerate(body) if any(r)]
        for j, h in enumerate(header):
            if not h:
                for i in keep:
                    if body[i][j]:
                        raise InputError(
                            f"column {j + 1} has a value but no name in the header",
                            file=loc,
                            row=i + 2,
                            value=body[i][j],
                        )
        cols = [j for j, h in enumerate(header) if h]
        if not keep:
            continue
        df = pd.DataFrame(
            [[body[i][j] for j in cols] for i in keep],
            columns=[header[j] for j in cols],
            dtype=object,
        )
        out.append(_make_table(sheet, df, loc, tuple(i + 2 for i in keep)))
    if not out and not any(s in FRAMES for s in sheets):
        raise InputError("no evidence sheets in the workbook", file=label)
    return out


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet holds a formula (``<f>`` element): a cheap scan of the XML."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                with z.open(info) as fh:
                    while chunk := fh.read(1 << 20):
                        if b"<f>" in chunk or b"<f " in chunk or b":f>" in chunk:
                            return True
    return False


def _formula_cells(path: Path) -> dict[tuple[str, str], str]:
    """``(sheet, cell reference) → formula`` of every formula cell."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    out = {}
    try:
        for ws in wb:
            for row in ws.iter_rows():
                for cell in row:
                    if getattr(cell, "data_type", None) == "f":
                        out[(ws.title, cell.coordinate)] = str(cell.value)[:40]
    finally:
        wb.close()
    return out


def _cell_index(ref: str) -> tuple[int, int]:
    """``"C7"`` → ``(6, 2)`` (0-based row, column)."""
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    letters, row = coordinate_from_string(ref)
    return row - 1, column_index_from_string(letters) - 1


# --------------------------------------------------------------------------------- writing
def frame_as_text(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """A typed frame as text cells: floats in shortest round-trip form, missing as ``""``."""
    out = {}
    for col, kind in FRAMES[name]:
        s = df[col]
        if kind == "float":
            out[col] = [("" if pd.isna(v) else repr(float(v))) for v in s]
        elif kind == "int":
            out[col] = [("" if pd.isna(v) else str(int(v))) for v in s]
        elif kind == "bool":
            out[col] = [("" if pd.isna(v) else ("true" if bool(v) else "false")) for v in s]
        else:
            out[col] = [str(v) for v in s]
    return pd.DataFrame(out, columns=[c for c, _ in FRAMES[name]], dtype=object)


def write_evidence_file(
    frames: dict[str, pd.DataFrame],
    path: str | Path,
    *,
    data_hash: str = "",
    protect: Iterable[str | Path] = (),
) -> Path:
    """Write every frame to ``path`` (format by extension); returns the path.

    The path is checked first (:func:`~sci_evidence.outputs.check_output_path`): never onto a
    path in ``protect`` (the database in use) or any existing SQLite file, never below a file
    or into a missing folder. The file is written atomically: an existing file is replaced
    only once the new one is complete. CSV text cells are neutralised against formula
    injection (:func:`csv_text_cell`); reading the file back restores them exactly.
    """
    from sci_evidence.evidence.model import _records

    path = Path(path)
    fmt = file_format(path)
    check_output_path(path, suffixes=tuple(SUFFIXES), protect=protect, what="export")
    if fmt == "json":
        obj = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "data_hash": data_hash,
            "frames": {n: _records(frames[n]) for n in FRAME_NAMES if n in frames},
        }
        text = json.dumps(obj, indent=1, ensure_ascii=False) + "\n"
        with atomic_write(path, "w") as fh:
            fh.write(text)
    elif fmt == "excel":
        _write_excel(frames, path)
    else:
        parts = []
        for n in FRAME_NAMES:
            if n in frames and len(frames[n]):
                t = frame_as_text(frames[n], n)
                for col, kind in FRAMES[n]:
                    if kind == "str":
                        t[col] = [csv_text_cell(v) for v in t[col]]
                t.insert(0, STACK_COLUMN, n)
                parts.append(t)
        columns = [STACK_COLUMN]
        for p in parts:
            columns.extend(c for c in p.columns if c not in columns)
        stacked = (
            pd.concat(parts, ignore_index=True).reindex(columns=columns).fillna("")
            if parts
            else pd.DataFrame(columns=columns)
        )
        with atomic_write(path, "w", newline="") as fh:
            stacked.to_csv(fh, index=False, lineterminator="\n")
    return path


def csv_text_cell(text: str) -> str:
    """A text cell as written to CSV: neutralised so no spreadsheet runs it as a formula.

    :func:`~sci_evidence.outputs.csv_safe_cell` prefixes ``'`` to text that starts with
    ``= + - @``, tab or carriage return (OWASP). So that reading the file back is exact, text
    that already starts with one or more ``'`` followed by such a character gets one more
    ``'`` too; :func:`csv_unquote_cell` removes exactly one.
    """
    if _QUOTED_FORMULA.match(text):
        return "'" + text
    return csv_safe_cell(text)


def csv_unquote_cell(text: str) -> str:
    """Undo :func:`csv_text_cell`: one leading ``'`` goes when formula-like text follows it."""
    return text[1:] if _QUOTED_FORMULA.match(text) else text


def _write_excel(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """One sheet per frame; text cells stay text (a verbatim "=1+2" is not a formula)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from sci_evidence.evidence.model import _records

    wb = Workbook()
    wb.remove(wb.active)
    for n in FRAME_NAMES:
        if n not in frames:
            continue
        ws = wb.create_sheet(n)
        cols = [c for c, _ in FRAMES[n]]
        for j, c in enumerate(cols, start=1):
            ws.cell(row=1, column=j, value=c).font = Font(bold=True)
        for i, rec in enumerate(_records(frames[n]), start=2):
            for j, c in enumerate(cols, start=1):
                v = rec[c]
                if v is None or v == "":
                    continue
                cell = ws.cell(row=i, column=j, value=v)
                if isinstance(v, str):
                    # openpyxl turns text starting with "=" into a formula; keep it text.
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
    with atomic_write(path, "wb") as fh:
        wb.save(fh)
