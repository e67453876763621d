"""`sci-evidence classify` against bad input, bad output paths, machine faults and size
(issue 12 items 2, 4, 5, 6, 8, 10; issue 16 goal 2)."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from sci_evidence.isncsci import classify_table, formats, readers
from sci_evidence.outputs import csv_safe_cell
from support.random_exams import random_exams

from ._helpers import one_error_line, run_main

BAD = Path(__file__).parents[1] / "data" / "bad"

# file -> what the one line must say (besides the file name)
BAD_EXAM_FILES = {
    "exams_ragged_short.csv": "row 3: this row has 136 fields but the header has 137",
    "exams_ragged_long.csv": "row 4: this row has 138 fields but the header has 137",
    "exams_duplicate_header.csv": "column 'c2RightTouch': duplicate column header",
    "exams_duplicate_key.json": "column 'analContraction': duplicate key",
    "exams_lone_surrogate.json": "row 1, column 'id': text holds a lone surrogate",
    "exams_deep.json": "nested too deeply",
    "exams_latin1.csv": "not UTF-8",
    "exams_empty.csv": "empty",
    "exams_header_only.csv": "no exams",
    "exams_not_object.json": "row 1: expected a JSON object",
    "exams_nested_value.json": "column 'c5RightMotor': expected a plain value",
    "exams_huge_int.json": "not valid JSON",
}


@pytest.fixture(scope="module")
def exams() -> pd.DataFrame:
    frame = random_exams(40, seed=11, p_nt=0.05, p_tag=0.1, p_non_key=0.3)
    frame["id"] = [f"x{i}" for i in range(len(frame))]
    return frame


@pytest.fixture
def exam_csv(tmp_path, exams) -> Path:
    path = tmp_path / "exams.csv"
    exams.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", sorted(BAD_EXAM_FILES))
def test_bad_exam_file_is_one_line(name, capsys, tmp_path):
    out = tmp_path / "out.csv"
    code, stdout, err = run_main(["classify", str(BAD / name), "-o", str(out)], capsys)
    line = one_error_line(code, err, contains=BAD_EXAM_FILES[name])
    assert name in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_good_file_of_the_bad_set_classifies(capsys):
    code, stdout, err = run_main(["classify", str(BAD / "exams_good.csv")], capsys)
    assert code == 0, err
    assert len(stdout.splitlines()) == 4


def test_excel_formula_without_cached_value_names_the_cell(tmp_path, exams, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "exams.xlsx"
    exams.to_excel(path, index=False)
    book = openpyxl.load_workbook(path)
    sheet = book.active
    col = [c.value for c in sheet[1]].index("c5RightMotor") + 1
    sheet.cell(row=4, column=col).value = "=2+3"  # openpyxl saves no cached value
    book.save(path)
    code, _, err = run_main(["classify", str(path)], capsys)
    letter = openpyxl.utils.get_column_letter(col)
    one_error_line(code, err, contains=f"cell {letter}4 holds a formula with no saved value")


def test_excel_duplicate_header(tmp_path, exams, capsys):
    path = tmp_path / "exams.xlsx"
    exams.rename(columns={"c3RightTouch": "c2RightTouch"}).to_excel(path, index=False)
    code, _, err = run_main(["classify", str(path)], capsys)
    one_error_line(code, err, contains="column 'c2RightTouch': duplicate column header")


def test_excel_round_trip_still_classifies(tmp_path, exams):
    path = tmp_path / "exams.xlsx"
    exams.to_excel(path, index=False)
    got = formats.classify_file(path)
    want = classify_table(exams)
    assert (got.astype(str).to_numpy() == want.astype(str).to_numpy()).all()


# -- output paths ---------------------------------------------------------------------------
def _bad_outputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "a_folder.csv").mkdir()
    (tmp_path / "plain_file").write_text("x")
    return {
        "missing folder": (tmp_path / "nope" / "out.csv", "does not exist"),
        "folder where a file is expected": (tmp_path / "a_folder.csv", "a folder is there"),
        "below a regular file": (tmp_path / "plain_file" / "out.csv", "below a regular file"),
        "unsupported type": (tmp_path / "out.xlsx", "unsupported output (-o) file type"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing folder",
        "folder where a file is expected",
        "below a regular file",
        "unsupported type",
    ],
)
def test_bad_output_path_is_one_line_and_leaves_nothing(case, tmp_path, exam_csv, capsys):
    work = tmp_path / "work"
    work.mkdir()
    target, message = _bad_outputs(work)[case]
    before = sorted(p.name for p in work.rglob("*"))
    code, stdout, err = run_main(["classify", str(exam_csv), "-o", str(target)], capsys)
    one_error_line(code, err, contains=message)
    assert sorted(p.name for p in work.rglob("*")) == before
    assert stdout == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder(tmp_path, exam_csv, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run_main(["classify", str(exam_csv), "-o", str(locked / "o.csv")], capsys)
        one_error_line(code, err, contains="not writable")
    finally:
        locked.chmod(0o700)


def test_output_over_the_input_file_is_refused(exam_csv, capsys):
    before = exam_csv.read_bytes()
    code, _, err = run_main(["classify", str(exam_csv), "-o", str(exam_csv)], capsys)
    one_error_line(code, err, contains="refusing")
    assert exam_csv.read_bytes() == before


def test_full_disk_is_one_line_and_keeps_the_old_output(tmp_path, exam_csv, capsys, monkeypatch):
    out = tmp_path / "results.csv"
    out.write_text("previous results\n")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    code, _, err = run_main(["classify", str(exam_csv), "-o", str(out)], capsys)
    one_error_line(code, err, contains="no space left")
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exams.csv", "results.csv"]


def test_error_in_a_later_block_leaves_no_partial_output(tmp_path, exams, capsys, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_ROWS", 8)
    monkeypatch.setattr(readers, "_CSV_BLOCK_BYTES", 2048)
    bad = exams.copy()
    bad.loc[35, "s1RightMotor"] = "7"
    path = tmp_path / "exams.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    code, _, err = run_main(["classify", str(path), "-o", str(out)], capsys)
    one_error_line(code, err, contains="row 37, column 's1RightMotor'")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exams.csv", "out.csv"]


# -- streaming gives the same results as the whole table ----------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_streamed_blocks_equal_the_whole_table(tmp_path, exams, suffix, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_ROWS", 7)
    monkeypatch.setattr(readers, "_CSV_BLOCK_BYTES", 1500)
    path = tmp_path / "exams.csv"
    exams.to_csv(path, index=False)
    blocks = list(formats.classify_blocks(path))
    assert len(blocks) >= 2
    out = tmp_path / f"out{suffix}"
    assert formats.classify_to(path, out) == len(exams)
    if suffix == ".csv":
        back = pd.read_csv(out, dtype=str, keep_default_na=False)
    elif suffix == ".json":
        back = pd.DataFrame(json.loads(out.read_text()))
    else:
        back = pd.read_json(out, lines=True, dtype=str)
    want = classify_table(exams)
    assert list(back.columns) == list(want.columns)
    assert (back.astype(str).to_numpy() == want.astype(str).to_numpy()).all()
    whole = pd.concat(blocks, ignore_index=True)
    assert (whole.astype(str).to_numpy() == want.astype(str).to_numpy()).all()


def test_non_key_warning_is_given_once_for_all_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_ROWS", 5)
    monkeypatch.setattr(readers, "_CSV_BLOCK_BYTES", 1024)
    frame = random_exams(30, seed=3)
    frame["rightLowestNonKeyMuscleWithMotorFunction"] = "T6"  # outside the ten levels
    path = tmp_path / "exams.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning) as record:
        formats.classify_to(path, tmp_path / "o.csv")
    texts = [str(w.message) for w in record if "outside" in str(w.message)]
    assert len(texts) == 1 and texts[0].startswith("30 exam(s)")


# -- CSV formula injection ------------------------------------------------------------------
def test_formula_like_ids_are_neutralised_and_numbers_stay(tmp_path, exams, capsys):
    ids = [
        "=1+2",
        "+SUM(A1)",
        "-cmd|' /C calc'!A0",
        "@A1",
        "\tx",
        "\rx",
        "-5",
        "3.5",
        "plain,comma",
    ]
    frame = exams.iloc[: len(ids)].copy()
    frame["id"] = ids
    path = tmp_path / "exams.csv"
    frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL)  # a bare \r would end the row
    out = tmp_path / "out.csv"
    code, _, err = run_main(["classify", str(path), "-o", str(out)], capsys)
    assert code == 0, err
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [csv_safe_cell(i) for i in ids]
    assert rows[0]["id"] == "'=1+2" and rows[6]["id"] == "-5" and rows[7]["id"] == "3.5"
    for r in rows:  # totals are still numbers (or ND)
        assert r["touchTotal"] == "ND" or r["touchTotal"].isdigit()
    # stdout CSV is neutralised the same way
    code, stdout, _ = run_main(["classify", str(path)], capsys)
    assert stdout.splitlines()[1].startswith("'=1+2,")


def test_disk_filling_up_mid_write_is_one_line(tmp_path, capsys, monkeypatch):
    """A write() that fails with ENOSPC after the first block: one line, nothing left."""
    from sci_evidence import outputs

    monkeypatch.setattr(readers, "BLOCK_ROWS", 8)
    monkeypatch.setattr(readers, "_CSV_BLOCK_BYTES", 2048)
    frame = random_exams(40, seed=4)
    path = tmp_path / "exams.csv"
    frame.to_csv(path, index=False)
    real_fdopen = os.fdopen

    class FillsUp:
        def __init__(self, fh):
            self.fh, self.writes = fh, 0

        def write(self, text):
            self.writes += 1
            if self.writes > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.fh.write(text)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

    monkeypatch.setattr(outputs.os, "fdopen", lambda *a, **k: FillsUp(real_fdopen(*a, **k)))
    out = tmp_path / "out.jsonl"
    code, _, err = run_main(["classify", str(path), "-o", str(out)], capsys)
    one_error_line(code, err, contains="no space left on the device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exams.csv"]
