"""Output files of `evidence export` and `evidence template`: never onto a database, never
half-written, one line for every unusable path (issue 12, items 2 and 6)."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from sci_evidence.cli import main
from sci_evidence.evidence.store import EvidenceStore


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(["evidence", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def db_file(tmp_path, isolated_env, capsys):
    path = tmp_path / "ev.sqlite"
    code, _, err = run(capsys, "init", "--db", str(path))
    assert code == 0, err
    return path


@pytest.mark.parametrize("name", ["ev.sqlite", "ev.json", "ev.csv", "ev.xlsx"])
def test_export_onto_the_database_in_use_is_refused(capsys, tmp_path, isolated_env, name):
    db = tmp_path / name
    # The database file may carry any name, even one an export would use.
    code, _, err = run(capsys, "init", "--db", f"sqlite:///{db}")
    assert code == 0, err
    before = _digest(db)
    for target in (str(db), f"sqlite:///{db}"):
        code, out, err = run(capsys, "export", str(db), "--db", target)
        if name.endswith(".sqlite"):
            assert "unsupported export file type" in _one_line_error(code, err)
        else:
            assert "over the database in use" in _one_line_error(code, err)
    assert _digest(db) == before
    from sci_evidence.evidence.bundled import read_bundled_frames

    assert len(EvidenceStore(str(db)).load().studies) == len(read_bundled_frames()["studies"])


def test_export_onto_another_sqlite_file_is_refused(capsys, db_file, tmp_path):
    other = tmp_path / "other.json"
    other.write_bytes(db_file.read_bytes())  # an SQLite database that happens to end in .json
    before = _digest(other)
    code, _, err = run(capsys, "export", str(other), "--db", str(db_file))
    assert "over a SQLite database" in _one_line_error(code, err)
    assert _digest(other) == before


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda t: t / "missing" / "x.json", "does not exist"),
        (lambda t: t / "afolder.json", "must be a file, but a folder is there"),
        (lambda t: t / "plain.txt" / "x.json", "below a regular file"),
        (lambda t: t / "x.parquet", "unsupported export file type"),
    ],
)
def test_bad_export_paths_are_one_line_and_leave_nothing(capsys, db_file, tmp_path, make, expected):
    (tmp_path / "plain.txt").write_text("keep me")
    (tmp_path / "afolder.json").mkdir()
    target = make(tmp_path)
    listing = sorted(os.listdir(tmp_path))
    code, _, err = run(capsys, "export", str(target), "--db", str(db_file))
    assert expected in _one_line_error(code, err)
    assert sorted(os.listdir(tmp_path)) == listing
    assert (tmp_path / "plain.txt").read_text() == "keep me"


def test_unwritable_folder_is_one_line(capsys, db_file, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write into any folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = run(capsys, "export", str(ro / "x.json"), "--db", str(db_file))
        assert "not writable" in _one_line_error(code, err)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("ext", ["json", "csv", "xlsx"])
def test_export_failing_half_way_keeps_the_previous_file(
    capsys, db_file, tmp_path, monkeypatch, ext
):
    target = tmp_path / f"previous.{ext}"
    code, _, err = run(capsys, "export", str(target), "--db", str(db_file))
    assert code == 0, err
    before = _digest(target)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    code, _, err = run(capsys, "export", str(target), "--db", str(db_file))
    assert "no space left" in _one_line_error(code, err)
    assert _digest(target) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".previous")] == []


def test_template_is_written_atomically_and_never_over_a_database(capsys, db_file, tmp_path):
    sneaky = tmp_path / "sneaky.xlsx"
    sneaky.write_bytes(db_file.read_bytes())
    before = _digest(sneaky)
    code, _, err = run(capsys, "template", str(sneaky))
    assert "over a SQLite database" in _one_line_error(code, err)
    assert _digest(sneaky) == before
    code, _, err = run(capsys, "template", str(tmp_path / "nowhere" / "t.xlsx"))
    assert "does not exist" in _one_line_error(code, err)
    assert not (tmp_path / "nowhere").exists()
    good = tmp_path / "t.xlsx"
    code, _, err = run(capsys, "template", str(good))
    assert code == 0 and good.read_bytes()[:2] == b"PK", err
