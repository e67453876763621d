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
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sci_evidence.errors import InputError
from sci_evidence.evidence.columns import FRAME_NAMES, FRAMES, KEYS

FORMAT_NAME = "sci-evidence"
FORMAT_VERSION = 1
IGNORED_SHEETS = {"readme", "vocabulary"}
#: First column of a stacked CSV: the frame each row belongs to.
STACK_COLUMN = "frame"
SUFFIXES = {".csv": "csv", ".xlsx": "excel", ".json": "json"}


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
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file: {exc}", file=label) from exc
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError("the first line (header) is empty", file=label, row=1)
    header = [c.strip() for c in rows[0]]
    body = rows[1:]
    width = len(header)
    for i, r in enumerate(body, start=2):
        if len(r) > width and any(c.strip() for c in r[width:]):
            raise InputError(
                f"row has {len(r)} fields but the header has {width}", file=label, row=i
            )
    # Plain lists until the end: pandas string operations per column were the bottleneck.
    records = [
        (i, [c.strip() for c in (r + [""] * width)[:width]]) for i, r in enumerate(body, start=2)
    ]
    records = [(i, r) for i, r in records if any(r)]
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
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=label, row=exc.lineno) from exc
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
            raise InputError("unknown table", file=label, column=name, value=name)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InputError("a table must be a list of objects", file=label, column=name)
        if not records:
            continue
        loc = f"{label}[{name}]"
        df = _text_frame(pd.DataFrame.from_records(records))
        out.append(_make_table(name, df, loc, tuple(range(1, len(df) + 1))))
    if not out and not any(n in FRAMES for n in frames):
        raise InputError("no evidence tables in the JSON file", file=label)
    return out


def _read_excel(path: Path, label: str) -> list[RawTable]:
    if not zipfile.is_zipfile(path):
        raise InputError("not an Excel workbook (.xlsx)", file=label)
    try:
        # No NA guessing: a verbatim "NA" or "None" is text, an empty cell is empty.
        sheets = pd.read_excel(
            path, sheet_name=None, dtype=object, engine="openpyxl", keep_default_na=False
        )
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise InputError(f"cannot read the workbook: {exc}".splitlines()[0], file=label) from exc
    out = []
    for sheet, df in sheets.items():
        if sheet.strip().lower() in IGNORED_SHEETS:
            continue
        loc = f"{label}[{sheet}]"
        if sheet not in FRAMES:
            raise InputError(
                f"unknown sheet; sheets must be named after tables ({', '.join(FRAME_NAMES)})",
                file=label,
                value=sheet,
            )
        df = _text_frame(df)
        keep = [i for i in range(len(df)) if any(str(v).strip() for v in df.iloc[i])]
        rows = tuple(i + 2 for i in keep)
        df = df.iloc[keep].reset_index(drop=True)
        if df.empty:
            continue
        out.append(_make_table(sheet, df, loc, rows))
    if not out and not any(s in FRAMES for s in sheets):
        raise InputError("no evidence sheets in the workbook", file=label)
    return out


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
    frames: dict[str, pd.DataFrame], path: str | Path, *, data_hash: str = ""
) -> Path:
    """Write every frame to ``path`` (format by extension); returns the path."""
    from sci_evidence.evidence.model import _records

    path = Path(path)
    fmt = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        obj = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "data_hash": data_hash,
            "frames": {n: _records(frames[n]) for n in FRAME_NAMES if n in frames},
        }
        path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    elif fmt == "excel":
        _write_excel(frames, path)
    else:
        parts = []
        for n in FRAME_NAMES:
            if n in frames and len(frames[n]):
                t = frame_as_text(frames[n], n)
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
        stacked.to_csv(path, index=False, lineterminator="\n")
    return path


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
    wb.save(path)
