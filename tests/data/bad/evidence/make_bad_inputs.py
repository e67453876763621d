"""Write the small bad evidence files of this folder (run once; the files are committed).

Each file is one way an evidence file can be wrong; `tests/evidence/test_fuzz.py` expects
`evidence import` and `evidence validate` to end every one of them with exit 2, one line per
problem, no traceback and the database byte-identical.

Run:  python tests/data/bad/evidence/make_bad_inputs.py
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
STUDIES = "study_id,first_author,year,design,status\n"
ARMS = "study_id,arm_id,role,n,status\n"


def text(name: str, content: str) -> None:
    (HERE / name).write_text(content, encoding="utf-8", newline="")


def raw(name: str, content: bytes) -> None:
    (HERE / name).write_bytes(content)


def xlsx(name: str, sheets: dict[str, list[list]], formula_cells: bool = False) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for sheet, rows in sheets.items():
        ws = wb.create_sheet(sheet)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    raw(name, buf.getvalue())


def main() -> None:
    # CSV
    text("csv_ragged_short.csv", STUDIES + "a2020,Ann,2020,rct\n")
    text("csv_ragged_long.csv", STUDIES + "a2020,Ann,2020,rct,reported,extra\n")
    text(
        "csv_duplicate_header.csv",
        "study_id,year,year,design,status\na2020,2020,2021,rct,reported\n",
    )
    text("csv_unnamed_column_with_value.csv", "study_id,,design,status\na2020,x,rct,reported\n")
    text("csv_header_only.csv", STUDIES)
    text("csv_empty.csv", "")
    text("csv_blank_lines.csv", "\n\n  \n")
    text("csv_header_matches_nothing.csv", "name,age\nann,3\n")
    text("csv_unknown_stacked_table.csv", "frame,study_id\nbananas,a2020\n")
    text("csv_huge_integer.csv", STUDIES + "a2020,Ann,10000000000000000000,rct,reported\n")
    text("csv_integer_1e19.csv", STUDIES + "a2020,Ann,1e19,rct,reported\n")
    text(
        "csv_infinite_number.csv",
        ARMS.replace("n,", "dose_cells,") + "a2020,a2020:t,treated,1e400,reported\n",
    )
    text("csv_not_a_number.csv", STUDIES + "a2020,Ann,two thousand,rct,reported\n")
    text("csv_unknown_design.csv", STUDIES + "a2020,Ann,2020,anecdote,reported\n")
    text("csv_unknown_study_reference.csv", ARMS + "ghost1999,ghost1999:t,treated,5,reported\n")
    text("csv_unclosed_quote.csv", STUDIES + 'a2020,"Ann,2020,rct,reported\n')
    raw("csv_latin1.csv", (STUDIES + "a2020,M\xe9ndez,2020,rct,reported\n").encode("latin-1"))
    raw("csv_binary.csv", bytes(range(256)))
    raw("csv_nul_byte.csv", (STUDIES + "a2020,A\x00nn,2020,rct,reported\n").encode())
    # JSON
    text("json_truncated.json", '{"studies": [{"study_id": "a2020",')
    text("json_not_an_object.json", "[1, 2, 3]")
    text("json_unknown_table.json", '{"bananas": [{"x": 1}]}')
    text("json_table_not_a_list.json", '{"studies": {"study_id": "a2020"}}')
    text(
        "json_duplicate_key.json",
        '{"studies": [{"study_id": "a2020", "year": 2020, "year": 2021, "design": "rct", "status": "reported"}]}',
    )
    text(
        "json_cell_is_an_object.json",
        '{"studies": [{"study_id": "a2020", "notes": {"a": 1}, "design": "rct", "status": "reported"}]}',
    )
    text("json_deeply_nested.json", "[" * 3000 + "]" * 3000)
    text(
        "json_lone_surrogate.json",
        '{"studies": [{"study_id": "a2020", "first_author": "A\\ud800", "design": "rct", "status": "reported"}]}',
    )
    text(
        "json_nul_character.json",
        '{"studies": [{"study_id": "a2020", "first_author": "A\\u0000nn", "design": "rct", "status": "reported"}]}',
    )
    text(
        "json_huge_integer.json",
        '{"studies": [{"study_id": "a2020", "year": 100000000000000000000, "design": "rct", "status": "reported"}]}',
    )
    text(
        "json_nan_literal.json",
        '{"arms": [{"study_id": "a2020", "arm_id": "a2020:t", "role": "treated", "n": NaN, "dose_cells": Infinity, "status": "reported"}]}',
    )
    # Excel
    raw("xlsx_not_a_zip.xlsx", b"this is not a workbook")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "a zip file, not a workbook")
    raw("xlsx_zip_not_a_workbook.xlsx", buf.getvalue())
    xlsx("xlsx_unknown_sheet.xlsx", {"Sheet1": [["study_id"], ["a2020"]]})
    xlsx(
        "xlsx_duplicate_header.xlsx",
        {
            "studies": [
                ["study_id", "design", "design", "status"],
                ["a2020", "rct", "case_series", "reported"],
            ]
        },
    )
    xlsx(
        "xlsx_formula_without_value.xlsx",
        {
            "studies": [
                ["study_id", "year", "design", "status"],
                ["a2020", "=2000+20", "rct", "reported"],
            ]
        },
    )
    xlsx(
        "xlsx_huge_integer.xlsx",
        {"studies": [["study_id", "year", "design", "status"], ["a2020", 1e19, "rct", "reported"]]},
    )
    xlsx(
        "xlsx_unnamed_column_with_value.xlsx",
        {"studies": [["study_id", None, "design", "status"], ["a2020", "x", "rct", "reported"]]},
    )
    good = io.BytesIO()
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "studies"
    wb.active.append(["study_id", "design", "status"])
    wb.active.append(["a2020", "rct", "reported"])
    wb.save(good)
    raw("xlsx_truncated.xlsx", good.getvalue()[: len(good.getvalue()) // 2])
    # Other
    text("wrong_extension.txt", STUDIES + "a2020,Ann,2020,rct,reported\n")


if __name__ == "__main__":
    main()
