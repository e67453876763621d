"""`sci-evidence meta` against bad input, bad output paths and machine faults (issue 12
items 2, 4, 5, 6)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta.validation import check_magnitude

from ._helpers import one_error_line, run_main

BAD = Path(__file__).parents[1] / "data" / "bad"

BAD_META_FILES = {
    "meta_ragged.csv": "row 3: this row has 2 fields but the header has 3",
    "meta_duplicate_header.csv": "column 'yi': duplicate column header",
    "meta_inf.csv": "row 3, column 'vi': the value is infinite",
    "meta_huge.csv": "row 2, column 'yi': yi = 1e+308 is too extreme to pool",
}


@pytest.mark.parametrize("name", sorted(BAD_META_FILES))
def test_bad_meta_file_is_one_line(name, capsys):
    code, out, err = run_main(["meta", str(BAD / name), "--yi", "yi", "--vi", "vi"], capsys)
    line = one_error_line(code, err, contains=BAD_META_FILES[name])
    assert name in line and out == ""


def test_surplus_field_on_every_row_does_not_shift_columns(tmp_path, capsys):
    # pandas would take the first column as an index and pool 'vi' as yi
    path = tmp_path / "shift.csv"
    path.write_text("yi,vi\n0.1,0.01,x\n0.2,0.02,y\n0.3,0.03,z\n")
    code, _, err = run_main(["meta", str(path), "--yi", "yi", "--vi", "vi"], capsys)
    one_error_line(code, err, contains="row 2: this row has 3 fields but the header has 2")


def test_yi_with_two_by_two_columns_is_refused(capsys):
    args = ["meta", str(BAD / "meta_yi_and_2x2.csv"), "--yi", "yi", "--vi", "vi"]
    args += ["--measure", "RR", "--ai", "ai", "--bi", "bi", "--ci", "ci", "--di", "di"]
    code, _, err = run_main(args, capsys)
    one_error_line(code, err, contains="give either precomputed effect sizes")


def test_vi_without_yi_is_refused(tmp_path, capsys):
    args = ["meta", str(BAD / "meta_yi_and_2x2.csv"), "--vi", "vi", "--measure", "RR"]
    code, _, err = run_main(args + ["--ai", "ai", "--bi", "bi", "--ci", "ci", "--di", "di"], capsys)
    one_error_line(code, err, contains="--vi needs --yi")


def test_nan_rows_are_dropped_with_a_warning_never_na(capsys):
    code, out, err = run_main(
        ["meta", str(BAD / "meta_nan.csv"), "--yi", "yi", "--vi", "vi"], capsys
    )
    assert code == 0, err
    assert "row 3" in err and "Warning" in err
    assert "k = 2" in out and " NA " not in out


def test_folder_as_input(tmp_path, capsys):
    code, _, err = run_main(["meta", str(tmp_path), "--yi", "yi", "--vi", "vi"], capsys)
    one_error_line(code, err, contains="is a folder")


def test_check_magnitude_names_row_and_allows_nan():
    import numpy as np

    assert np.isnan(check_magnitude("yi", [0.1, np.nan])[1])
    with pytest.raises(InputError, match=r"row 3, column 'vi'"):
        check_magnitude("vi", [0.1, 0.2, 1e-200], first_row=1, smallest=True)
    check_magnitude("vi", [0.0, 1e-5], smallest=True)  # zero variance is not "too small"


# -- output paths --------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--plot", "--gosh"])
@pytest.mark.parametrize(
    "case,message",
    [
        ("nope/f.png", "does not exist"),
        ("a_folder.png", "a folder is there"),
        ("plain_file/f.png", "below a regular file"),
        ("f.gif", "unsupported"),
    ],
)
def test_bad_plot_path_is_one_line_and_leaves_nothing(option, case, message, tmp_path, capsys):
    (tmp_path / "a_folder.png").mkdir()
    (tmp_path / "plain_file").write_text("x")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run_main(["meta", "--example", option, str(tmp_path / case)], capsys)
    one_error_line(code, err, contains=message)
    assert option in err or message != "unsupported"
    assert out == ""  # refused before any work: nothing printed
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_plot_full_disk_keeps_the_old_plot(tmp_path, capsys, monkeypatch):
    plot = tmp_path / "forest.png"
    plot.write_bytes(b"old plot")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    code, _, err = run_main(["meta", "--example", "--plot", str(plot)], capsys)
    one_error_line(code, err, contains="no space left")
    assert plot.read_bytes() == b"old plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forest.png"]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".jpg"])
def test_plot_is_written_in_the_format_of_its_suffix(tmp_path, suffix, capsys):
    plot = tmp_path / f"forest{suffix}"
    code, _, err = run_main(["meta", "--example", "--plot", str(plot)], capsys)
    assert code == 0, err
    head = plot.read_bytes()[:8]
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF", ".jpg": b"\xff\xd8"}
    assert head.startswith(magic[suffix])
    assert [p.name for p in tmp_path.iterdir()] == [plot.name]
