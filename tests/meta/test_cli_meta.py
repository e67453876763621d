"""`sci-evidence meta`: output on the bundled example, options, and the bad-input contract
(one line `Error: ...` naming file/row/column, exit code 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sci_evidence.meta import pool
from sci_evidence.meta.effects import effect_sizes
from support.cli_run import run

BCG_HEADER = "trial,author,year,tpos,tneg,cpos,cneg,ablat,alloc"
BCG_ROWS = [
    "1,Aronson,1948,4,119,11,128,44,random",
    "2,Ferguson & Simes,1949,6,300,29,274,55,random",
    "3,Rosenthal et al,1960,3,228,11,209,42,random",
    "4,Hart & Sutherland,1977,62,13536,248,12619,52,random",
    "5,Frimodt-Moller et al,1973,33,5036,47,5761,13,alternate",
    "6,Stein & Aronson,1953,180,1361,372,1079,44,alternate",
]
RR = ["--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]


def write(tmp_path, rows, header=BCG_HEADER, name="d.csv"):
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("Warning")]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_example_runs_and_matches_library(capsys):
    code, out, err = run(["meta", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["k"] == 13 and d["method"] == "REML" and d["measure"] == "RR"
    # published case 5 (metafor docs): tau2 0.3132, estimate -0.7145
    assert d["tau2"] == pytest.approx(0.3132, abs=1e-4)
    assert d["estimate"] == pytest.approx(-0.7145, abs=1e-4)
    assert d["studies"][0]["label"] == "Aronson, 1948"
    code, out, _ = run(["meta"], capsys)
    assert code == 0 and "Random-Effects Model (k = 13; tau^2 estimator: REML)" in out
    code, out2, _ = run(["meta", "--example"], capsys)
    assert out2 == out


def test_options_mods_knha_subgroup_and_plot(capsys, tmp_path):
    code, out, err = run(["meta", "--mods", "ablat,alloc", "--test", "knha", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert [c["term"] for c in d["coefficients"]] == [
        "intrcpt",
        "ablat",
        "allocrandom",
        "allocsystematic",
    ]
    assert d["QM_ddf"] == 9 and d["dof"] == 9
    png = tmp_path / "forest.png"
    code, out, err = run(
        ["meta", "--subgroup", "alloc", "--tau2-common", "--plot", str(png)], capsys
    )
    assert code == 0, err
    assert "Q_between(df = 2) = 1.7675" in out  # published case 19: QM of factor(alloc)
    assert png.stat().st_size > 10_000


def test_file_with_raw_counts_matches_library(capsys, tmp_path):
    f = write(tmp_path, BCG_ROWS)
    code, out, err = run(["meta", str(f), *RR, "--method", "DL", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    es = effect_sizes(
        "RR",
        ai=[4, 6, 3, 62, 33, 180],
        bi=[119, 300, 228, 13536, 5036, 1361],
        ci=[11, 29, 11, 248, 47, 372],
        di=[128, 274, 209, 12619, 5761, 1079],
    )
    ref = pool(es["yi"], es["vi"], method="DL")
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    assert d["tau2"] == pytest.approx(ref.tau2, rel=1e-12)
    assert d["file"] == str(f)


def test_precomputed_yi_with_sei(capsys, tmp_path):
    f = write(tmp_path, ["a,0.1,0.2", "b,0.3,0.1", "c,-0.2,0.15"], header="study,est,se")
    code, out, err = run(
        [
            "meta",
            str(f),
            "--yi",
            "est",
            "--sei",
            "se",
            "--label",
            "study",
            "--method",
            "EE",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    d = json.loads(out)
    ref = pool([0.1, 0.3, -0.2], sei=[0.2, 0.1, 0.15], method="EE")
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    assert [s["label"] for s in d["studies"]] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("rows", "args", "fragments"),
    [
        (
            BCG_ROWS,
            ["--measure", "RR", "--ai", "nope", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"],
            ["d.csv", "column 'nope'", "not found"],
        ),
        (
            BCG_ROWS[:2] + ["3,Rosenthal et al,1960,three,228,11,209,42,random"],
            RR,
            ["d.csv", "row 4", "column 'tpos'", "three"],
        ),
        (
            BCG_ROWS[:1] + ["2,Ferguson & Simes,1949,-6,300,29,274,55,random"],
            RR,
            ["d.csv", "row 3", "column 'tpos'", "-6"],
        ),
        (
            BCG_ROWS,
            RR + ["--mods", "ablat,year,trial,tpos,cpos,tneg"],
            ["d.csv", "fewer studies than parameters"],
        ),
        (
            [
                r.replace(",44,", ",40,")
                .replace(",55,", ",40,")
                .replace(",42,", ",40,")
                .replace(",52,", ",40,")
                .replace(",13,", ",40,")
                for r in BCG_ROWS
            ],
            RR + ["--mods", "ablat"],
            ["d.csv", "column 'ablat'", "constant"],
        ),
        (
            BCG_ROWS[:3]
            + ["4,Hart & Sutherland,1977,62,13536,248,12619,fifty,random"]
            + BCG_ROWS[4:],
            RR + ["--mods", "ablat"],
            ["d.csv", "row 5", "column 'ablat'", "fifty"],
        ),
        (BCG_ROWS, RR + ["--method", "BLUP"], ["method='BLUP'", "'REML'", "'DL'"]),
        (BCG_ROWS, RR + ["--subgroup", "region"], ["d.csv", "column 'region'"]),
    ],
    ids=[
        "missing-column",
        "non-numeric",
        "negative-count",
        "too-many-parameters",
        "constant-moderator",
        "moderator-typo",
        "unknown-method",
        "missing-subgroup",
    ],
)
def test_bad_input_gives_one_line_error(capsys, tmp_path, rows, args, fragments):
    f = write(tmp_path, rows)
    code, _, err = run(["meta", str(f), *args], capsys)
    assert_one_line_error(code, err, *fragments)


def test_events_above_n_and_negative_variance(capsys, tmp_path):
    f = write(tmp_path, ["1,5,20", "2,25,20", "3,4,30"], header="id,x,n")
    code, _, err = run(["meta", str(f), "--measure", "PLO", "--xi", "x", "--ni", "n"], capsys)
    assert_one_line_error(code, err, "d.csv", "row 3", "column 'x'")
    f = write(tmp_path, ["1,0.2,0.04", "2,0.1,-0.01", "3,0.3,0.02"], header="id,y,v", name="v.csv")
    code, _, err = run(["meta", str(f), "--yi", "y", "--vi", "v"], capsys)
    assert_one_line_error(code, err, "v.csv", "row 3", "column 'v'")


def test_file_not_found(capsys, tmp_path):
    code, _, err = run(["meta", str(tmp_path / "none.csv"), *RR], capsys)
    assert_one_line_error(code, err, "none.csv", "file not found")


def test_missing_values_are_dropped_with_a_warning(capsys, tmp_path):
    rows = BCG_ROWS[:2] + ["3,Rosenthal et al,1960,3,228,11,209,,random"] + BCG_ROWS[3:]
    f = write(tmp_path, rows)
    code, out, err = run(["meta", str(f), *RR, "--mods", "ablat", "--json"], capsys)
    assert code == 0, err
    assert "Warning" in err and "rows with missing values dropped: 4 (ablat)" in err
    assert json.loads(out)["k"] == 5


def test_subprocess_has_no_traceback(tmp_path):
    f = write(tmp_path, BCG_ROWS)
    proc = subprocess.run(
        [sys.executable, "-m", "sci_evidence", "meta", str(f), "--measure", "RR", "--ai", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("Error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bias_options_are_wired(capsys):
    """--bias either runs the bias module or says clearly that it is missing."""
    code, out, err = run(["meta", "--bias"], capsys)
    if code == 2:
        assert_one_line_error(code, err, "--bias")
    else:
        assert code == 0, err


def test_json_is_strict_json_with_log_scale_numbers(capsys):
    code, out, _ = run(["meta", "--method", "EE", "--json"], capsys)
    d = json.loads(out)
    assert d["pi_lb"] is None and d["tau2_ci"] is None
    assert np.isfinite(d["Q"])


def test_back_transformed_line_and_proportion_plot(capsys, tmp_path):
    code, out, _ = run(["meta"], capsys)
    assert "Back-transformed (Risk ratio): 0.4894 [0.3441, 0.6962]" in out
    f = write(tmp_path, ["1,5,20", "2,12,40", "3,4,30", "4,9,25"], header="id,x,n")
    png = tmp_path / "pft.png"
    code, out, err = run(
        ["meta", str(f), "--measure", "PFT", "--xi", "x", "--ni", "n", "--plot", str(png)], capsys
    )
    assert code == 0, err
    assert "Back-transformed (Proportion)" in out
    assert png.stat().st_size > 10_000
