"""The output-safety and display-safety helpers every command relies on."""

from __future__ import annotations

import os

import pytest

from sci_evidence.errors import InputError
from sci_evidence.outputs import (
    atomic_directory,
    atomic_write,
    check_output_path,
    csv_safe_cell,
    is_sqlite_file,
)
from sci_evidence.text import escape_mathtext, escape_rich, strip_control


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("good")
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:
        fh.write("half")
        raise KeyboardInterrupt
    assert target.read_text() == "good"
    assert os.listdir(tmp_path) == ["out.json"]
    with atomic_write(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.json"]


def test_atomic_directory_swaps_only_when_complete(tmp_path):
    target = tmp_path / "review"
    target.mkdir()
    (target / "report.html").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as work:
        (work / "report.html").write_text("partial")
        raise RuntimeError("crash")
    assert (target / "report.html").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["review"]
    with atomic_directory(target) as work:
        (work / "new.html").write_text("new")
    assert os.listdir(target) == ["new.html"]
    assert sorted(os.listdir(tmp_path)) == ["review"]


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("missing/out.csv", "does not exist"),
        ("file.txt/out.csv", "below a regular file"),
        ("folder", "a folder is there"),
        ("out.exe", "unsupported"),
        ("db.sqlite", "SQLite database"),
    ],
)
def test_check_output_path_refuses_unusable_places(tmp_path, relative, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "db.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    suffixes = [".exe"] if relative == "out.exe" else None
    if relative == "out.exe":
        suffixes = [".csv"]
    with pytest.raises(InputError, match=message):
        check_output_path(tmp_path / relative, suffixes=suffixes)


def test_check_output_path_protects_database_in_use(tmp_path):
    db = tmp_path / "base.db"
    db.write_text("not yet sqlite")
    with pytest.raises(InputError, match="database in use"):
        check_output_path(db, protect=[db])
    assert check_output_path(tmp_path / "ok.csv", suffixes=[".csv"]) == tmp_path / "ok.csv"


def test_is_sqlite_file(tmp_path):
    (tmp_path / "a").write_bytes(b"SQLite format 3\x00rest")
    (tmp_path / "b").write_text("hello")
    assert is_sqlite_file(tmp_path / "a")
    assert not is_sqlite_file(tmp_path / "b")
    assert not is_sqlite_file(tmp_path / "missing")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-x", "'-x"),
        ("@foo", "'@foo"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1.5", "-1.5"),
        ("+2", "+2"),
        ("plain", "plain"),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_csv_safe_cell(value, expected):
    assert csv_safe_cell(value) == expected


def test_display_escapes():
    assert escape_rich("a[/]b") == "a\\[/]b"
    assert strip_control("x\x1b[31mred\x1b]0;title\x07y\x00") == "xredy"
    assert escape_mathtext(r"Jiang $\frac{$") == r"Jiang \$\frac{\$"
