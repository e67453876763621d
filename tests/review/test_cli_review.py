"""`sci-evidence review` on the command line: a small protocol end to end (with --pdf), and
one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

SMALL = """
title = "small review"
seed = 7
[[analyses]]
id = "ais"
outcome = "ais_improved"
design = "single_arm"
measure = "PLO"
robustness = false
"""


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sci_evidence", "review", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_here(capsys, *args):
    """The command in this process (error paths: no need to pay a Python start-up each)."""
    import pytest

    from sci_evidence.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["review", *args])
    out = capsys.readouterr()
    return _Result(exc.value.code, out.out, out.err)


def test_small_protocol_end_to_end_with_pdf(tmp_path):
    proto = tmp_path / "p.toml"
    proto.write_text(SMALL)
    out = tmp_path / "out"
    r = run("--protocol", str(proto), "--out", str(out), "--pdf", "--figures", "png,pdf")
    assert r.returncode == 0, r.stderr
    assert "Review written to" in r.stdout
    d = json.loads((out / "results.json").read_text())
    assert [e["id"] for e in d["analyses"]] == ["ais"]
    assert d["protocol"]["seed"] == 7 and d["protocol"]["source"] == str(proto)
    assert (out / "report.html").is_file() and (out / "figures" / "forest_ais.pdf").is_file()
    assert (out / "figures" / "forest_ais.png").is_file()
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_bad_protocol_is_one_line_exit_2(tmp_path):
    proto = tmp_path / "p.toml"
    proto.write_text(SMALL.replace('measure = "PLO"', 'measure = "XX"'))
    r = run("--protocol", str(proto), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "analyses[1].measure" in lines[0] and "'XX'" in lines[0] and str(proto) in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_missing_protocol_file(tmp_path, capsys):
    r = run_here(capsys, "--protocol", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "protocol file not found" in r.stderr


def test_help_has_an_example():
    r = subprocess.run(
        [sys.executable, "-m", "sci_evidence", "review", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "Example" in r.stdout


def test_review_of_a_database_records_its_data_hash(tmp_path):
    from sci_evidence.evidence import load_evidence

    db = f"sqlite:///{tmp_path / 'ev.db'}"
    init = subprocess.run(
        [sys.executable, "-m", "sci_evidence", "evidence", "init", "--db", db],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    proto = tmp_path / "p.toml"
    proto.write_text(SMALL)
    out = tmp_path / "out"
    r = run("--db", db, "--protocol", str(proto), "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    d = json.loads((out / "results.json").read_text())
    # a database initialised from the bundled set holds the same data, so the same hash
    assert d["data_hash"] == load_evidence().data_hash
    assert d["run"]["data_origin"] != "bundled"


def test_unknown_outcome_or_review_is_an_error_not_silence(tmp_path, capsys):
    proto = tmp_path / "p.toml"
    proto.write_text(SMALL.replace('outcome = "ais_improved"', 'outcome = "ais_improvd"'))
    r = run_here(capsys, "--protocol", str(proto), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "analyses[1].outcome" in r.stderr and "'ais_improvd'" in r.stderr
    proto.write_text(SMALL + '[[comparisons]]\nanalysis = "ais"\npublished = "nobody2020"\n')
    r = run_here(capsys, "--protocol", str(proto), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "comparisons[1].published" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_out_that_is_a_file_is_one_line_exit_2(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("keep me")
    r = run_here(capsys, "--out", str(f))
    assert r.returncode == 2 and "must be a folder" in r.stderr
    assert f.read_text() == "keep me"


def test_pdf_without_chromium_falls_back_to_matplotlib(bundled_run, tmp_path, monkeypatch):
    import shutil

    from sci_evidence.report import pdf

    _, out = bundled_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    assert pdf.write_pdf(copy) == "report.pdf"
    assert (copy / "report.pdf").read_bytes()[:5] == b"%PDF-"
