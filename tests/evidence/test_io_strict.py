"""Readers refuse what they would silently misread (issue 12, item 4) and CSV export neutralises
formulas while importing back exactly (item 8)."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from sci_evidence.errors import InputError
from sci_evidence.evidence.io import (
    csv_text_cell,
    csv_unquote_cell,
    read_evidence_file,
    write_evidence_file,
)
from sci_evidence.evidence.validate import validate_tables

from ._builders import small_frames

HEADER = "study_id,first_author,year,design,status"


def _err(path) -> str:
    with pytest.raises(InputError) as info:
        read_evidence_file(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    return msg


@pytest.mark.parametrize(
    "body, row",
    [
        ("a2020,A,2020,rct\n", 2),  # one field short: would shift nothing visible but lose status
        ("a2020,A,2020,rct,reported\nb2021,B,2021\n", 3),
        ("a2020,A,2020,rct,reported,\n", 2),  # a trailing empty field
        ("a2020,A,2020,rct,reported,extra\n", 2),
    ],
)
def test_ragged_rows_name_file_and_row(tmp_path, body, row):
    p = tmp_path / "ragged.csv"
    p.write_text(HEADER + "\n" + body)
    msg = _err(p)
    assert f"row {row}" in msg and "fields but the header has 5" in msg


def test_ragged_row_in_a_stacked_export(tmp_path):
    p = write_evidence_file(small_frames(), tmp_path / "x.csv")
    lines = p.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # drop the last field of record 3
    p.write_text("\n".join(lines) + "\n")
    assert "row 4" in _err(p)


def test_blank_lines_are_not_rows_with_missing_fields(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text(HEADER + "\n\na2020,A,2020,rct,reported\n\n")
    (t,) = read_evidence_file(p)
    assert t.rows == (3,) and t.df.loc[0, "status"] == "reported"


def test_duplicated_header_is_an_error(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("study_id,first_author,year,year,design,status\na,A,2020,2021,rct,reported\n")
    msg = _err(p)
    assert "column 'year'" in msg and "appears twice" in msg and "row 1" in msg


def test_duplicated_header_in_excel_is_an_error(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "studies"
    ws.append(["study_id", "design", "design", "status"])
    ws.append(["a", "rct", "case_series", "reported"])
    p = tmp_path / "dup.xlsx"
    wb.save(p)
    assert "column 'design'" in _err(p)


def test_excel_formula_without_cached_value_is_an_error_naming_the_cell(tmp_path):
    p = write_evidence_file(small_frames(), tmp_path / "f.xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(p)
    ws = wb["arms"]
    header = [c.value for c in ws[1]]
    col = header.index("n") + 1
    ws.cell(row=3, column=col, value="=5+5")  # openpyxl saves formulas without a value
    wb.save(p)
    msg = _err(p)
    letter = ws.cell(row=3, column=col).column_letter
    assert f"cell {letter}3" in msg and "formula" in msg and "[arms]" in msg and "row 3" in msg


def test_excel_formula_with_cached_value_reads_the_value(tmp_path):
    import zipfile

    p = write_evidence_file(small_frames(), tmp_path / "cached.xlsx")
    # Rewrite the sheet XML as a spreadsheet program saves a computed formula: <f> plus <v>.
    with zipfile.ZipFile(p) as z:
        names = z.namelist()
        data = {n: z.read(n) for n in names}
    sheet = [n for n in names if n.startswith("xl/worksheets/sheet")][1]  # arms
    xml = data[sheet].decode()
    import re

    m = re.search(r'<c r="F2"[^>]*><v>12</v></c>', xml)
    assert m, "expected arms!F2 = 12"
    xml = xml.replace(m.group(0), '<c r="F2"><f>6+6</f><v>12</v></c>')
    data[sheet] = xml.encode()
    with zipfile.ZipFile(p, "w") as z:
        for n in names:
            z.writestr(n, data[n])
    tables = {t.name: t for t in read_evidence_file(p)}
    assert tables["arms"].df.loc[0, "n"] == "12"


def test_json_oddities(tmp_path):
    p = tmp_path / "j.json"
    p.write_text('{"studies": [{"study_id": "a", "year": 2020, "year": 2021}]}')
    assert "appears twice" in _err(p)
    p.write_text(json.dumps({"studies": [{"study_id": "a", "notes": {"x": 1}}]}))
    assert "a cell must be text" in _err(p)
    p.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in _err(p)
    p.write_text('{"studies": [{"study_id": "a", "notes": ' + "[" * 5000 + "]" * 5000 + "}]}")
    msg = _err(p)
    assert "nested too deeply" in msg or "a cell must be text" in msg


# ------------------------------------------------------------------ CSV formula injection
FORMULAS = [
    "=1+2",
    '=HYPERLINK("http://x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "'=x",
    "''+y",
    "'plain",
    "-1.5",
    "+7",
    "a=b",
    "'",
]


def test_csv_text_cell_is_reversible():
    for text in FORMULAS:
        cell = csv_text_cell(text)
        assert csv_unquote_cell(cell) == text
        assert not cell.startswith(("=", "+", "@", "\t", "\r")) or cell in ("+7",)
        if cell.startswith("-"):
            float(cell)  # only numbers may start with a minus sign


def test_csv_export_neutralises_formulas_and_imports_back_exactly(tmp_path):
    frames = small_frames()
    for i, text in enumerate(FORMULAS[:5]):
        frames["outcomes"].loc[i, "notes"] = text
    frames["studies"].loc[0, "first_author"] = "=cmd()"
    frames["arms"].loc[0, "notes"] = "'=already quoted"
    frames["arms"].loc[1, "notes"] = "-1.5"
    p = write_evidence_file(frames, tmp_path / "x.csv")
    with open(p, newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    for c in cells:
        if c[:1] in ("=", "+", "@", "\t", "\r"):
            pytest.fail(f"formula cell written raw: {c!r}")
        if c.startswith("-"):
            float(c)  # a number (e.g. -1.5) stays a number
    assert "'=cmd()" in cells and "''=already quoted" in cells and "-1.5" in cells
    rep = validate_tables(read_evidence_file(p))
    assert rep.ok, rep.summary()
    for name, df in frames.items():
        pd.testing.assert_frame_equal(rep.frames[name], df, check_exact=True, obj=name)


def test_header_names_with_line_breaks_stay_on_one_line(tmp_path):
    p = tmp_path / "nl.csv"
    p.write_text('study_id,"ye\nar","ye\nar",design,status\na,1,2,rct,reported\n')
    msg = _err(p)
    assert "appears twice" in msg and "\n" not in msg and "ye\\u000aar" in msg
