"""Reading files: garbage gets one clear line (InputError), never a traceback."""

from __future__ import annotations

import json
import zipfile

import pytest

from sci_evidence.errors import InputError
from sci_evidence.evidence.io import read_evidence_file, write_evidence_file

from ._builders import small_frames


def _err(path) -> str:
    with pytest.raises(InputError) as info:
        read_evidence_file(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_empty_files(tmp_path):
    for name in ("e.csv", "e.json", "e.xlsx"):
        p = tmp_path / name
        p.write_bytes(b"")
        assert "file is empty" in _err(p)
    p = tmp_path / "ws.csv"
    p.write_text("  \n\n")
    assert "empty" in _err(p)


def test_binary_files(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(bytes(range(256)) * 4)
    assert "binary" in _err(p)
    p = tmp_path / "b.json"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "binary" in _err(p)
    p = tmp_path / "latin1.csv"
    p.write_bytes("study_id,first_author\nx,M\xe9ndez\n".encode("latin-1"))
    assert "not UTF-8" in _err(p)
    p = tmp_path / "b.xlsx"
    p.write_bytes(b"this is not a workbook")
    assert "not an Excel workbook" in _err(p)
    p = tmp_path / "zip.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "not excel")
    assert "cannot read the workbook" in _err(p)


def test_wrong_headers(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("name,age,colour\nann,3,red\n")
    msg = _err(p)
    assert "header matches no evidence table" in msg and "row 1" in msg
    p = tmp_path / "stack.csv"
    p.write_text("frame,study_id\nbananas,x\n")
    assert "unknown table" in _err(p)
    p = tmp_path / "ragged.csv"
    p.write_text("study_id,first_author,year,design\nx,A,2020,rct,EXTRA\n")
    assert "row 2" in _err(p)


def test_bad_json(tmp_path):
    p = tmp_path / "j.json"
    p.write_text('{"studies": [ {"study_id": "x",}')
    assert "not valid JSON" in _err(p)
    p.write_text("[1, 2, 3]")
    assert "JSON must be an object" in _err(p)
    p.write_text(json.dumps({"bananas": []}))
    assert "unknown table" in _err(p)
    p.write_text(json.dumps({"studies": {"a": 1}}))
    assert "list of objects" in _err(p)


def test_unknown_extension_and_missing_file(tmp_path):
    p = tmp_path / "data.txt"
    p.write_text("x")
    assert "unknown file type" in _err(p)
    assert "file not found" in _err(tmp_path / "missing.csv")


def test_unknown_sheet_and_ignored_sheets(tmp_path):
    from openpyxl import Workbook

    p = write_evidence_file(small_frames(), tmp_path / "ok.xlsx")
    tables = read_evidence_file(p)
    assert {t.name for t in tables} == {
        "studies",
        "arms",
        "outcomes",
        "adverse_events",
        "risk_of_bias",
    }
    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.active["A1"] = "x"
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    assert "unknown sheet" in _err(bad)


def test_single_frame_csv_is_detected(tmp_path):
    f = small_frames()
    p = tmp_path / "arms_only.csv"
    f["arms"].to_csv(p, index=False)
    (t,) = read_evidence_file(p)
    assert t.name == "arms" and t.rows == (2, 3)
