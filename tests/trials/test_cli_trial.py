"""`sci-evidence trial analyze|design`: outputs, JSON shapes and one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest

from support.cli_run import run
from support.synthetic_trials import synthetic_trial


def test_design_json_shape(capsys):
    code, out, _ = run(
        [
            "trial",
            "design",
            "--odds-ratio",
            "2.5",
            "--n-per-arm",
            "20",
            "--n-per-arm",
            "60",
            "--simulations",
            "400",
            "--seed",
            "3",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    d = json.loads(out)
    assert list(d) == ["designs"]
    assert [x["n_per_arm"] for x in d["designs"]] == [20, 60]
    for x in d["designs"]:
        assert set(x) == {"n_per_arm", "power", "mc_se"}
        assert 0 <= x["power"] <= 1
    assert d["designs"][1]["power"] > d["designs"][0]["power"]
    # Same seed, same answer.
    code, out2, _ = run(
        [
            "trial",
            "design",
            "--odds-ratio",
            "2.5",
            "--n-per-arm",
            "20",
            "--n-per-arm",
            "60",
            "--simulations",
            "400",
            "--seed",
            "3",
            "--json",
        ],
        capsys,
    )
    assert json.loads(out2) == d


def test_design_mix(capsys):
    base = [
        "trial",
        "design",
        "--odds-ratio",
        "2",
        "--n-per-arm",
        "40",
        "--simulations",
        "500",
        "--json",
    ]
    _, a, _ = run(base + ["--mix", "A:tetraplegia=1"], capsys)
    _, b, _ = run(base + ["--mix", "A:tetraplegia=1", "--mix", "C:paraplegia=1"], capsys)
    assert json.loads(a) != json.loads(b)


def test_design_motor_text(capsys, tmp_path):
    code, out, _ = run(
        [
            "trial",
            "design",
            "--endpoint",
            "motor",
            "--motor-gain",
            "6",
            "--n-per-arm",
            "30",
            "--simulations",
            "300",
            "--plot",
            str(tmp_path / "power.png"),
        ],
        capsys,
    )
    assert code == 0 and "n/arm    30" in out and "ancova" in out
    code, out, _ = run(
        [
            "trial",
            "design",
            "--endpoint",
            "motor",
            "--analysis",
            "ttest",
            "--n-per-arm",
            "30",
            "--simulations",
            "200",
        ],
        capsys,
    )
    assert code == 0 and "analysis ttest" in out
    assert (tmp_path / "power.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--odds-ratio", "2", "--motor-gain", "3"], "not both"),
        (["--endpoint", "survival"], "endpoint must be one of conversion, motor"),
        (["--n-per-arm", "1"], "at least 2"),
        (["--endpoint", "conversion", "--motor-gain", "3"], "--motor-gain needs"),
        (["--odds-ratio", "-1"], "> 0"),
        (["--odds-ratio", "inf"], "odds_ratio must be a finite number > 0"),
        (["--dropout", "1.5"], "dropout must lie in [0, 1)"),
        (["--alpha", "nan"], "alpha must lie in (0, 1)"),
        (["--simulations", "0"], "n_simulations must be an integer of at least 1"),
        (["--mix", "A:foo=1"], "--mix"),
        (["--analysis", "ancova"], "analysis for the conversion endpoint must be cmh or chi2"),
        (["--endpoint", "motor", "--correlation", "1"], "correlation must lie in (-1, 1)"),
        (["--endpoint", "motor", "--score", "PP"], "score must be TMS, UEMS, LEMS"),
        (["--mix", "A-tetraplegia"], "GRADE:LEVEL=WEIGHT"),
        (["--mix", "B:paraplegia=1", "--phase", "chronic"], "no chronic conversion benchmark"),
        (["--phase", "subacute"], "phase must be acute or chronic"),
        # issue 12: these printed power 0.000, crashed with a traceback or never returned
        (["--motor-gain", "nan"], "motor_gain must be a finite number of points (value: nan)"),
        (["--seed", "-1"], "seed must be a non-negative integer (value: -1)"),
        (["--n-per-arm", "1000000000000"], "of memory to simulate 64 trials at a time"),
    ],
)
def test_design_errors_are_one_line(capsys, args, message):
    code, _, err = run(["trial", "design", *args], capsys)
    assert code == 2
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def trial_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("trial") / "demo_trial.csv"
    synthetic_trial(12, seed=8, ambiguous_rate=0.2).exams.to_csv(path, index=False)
    return path


def test_analyze_writes_everything(capsys, trial_csv, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run(["trial", "analyze", str(trial_csv), "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "Arm MSC" in out
    summary = json.loads((out_dir / "summary.json").read_text())
    arms = {a["arm"]: a for a in summary["arms"]}
    assert set(arms) == {"MSC", "control"}
    for a in arms.values():
        assert a["n"] == 12
        assert isinstance(a["converted"], int)
        assert sum(c for row in a["transitions"].values() for c in row.values()) == 12
        for s in ("UEMS", "LEMS", "LT", "PP"):
            assert s in a
    for name in (
        "index.html",
        "patients.csv",
        "exams.csv",
        "arms.csv",
        "transitions.csv",
        "natural_history.csv",
        "benchmarks.csv",
        "evidence/outcomes.csv",
        "figures/transitions.png",
        "figures/transitions.svg",
        "figures/trajectories_TMS.png",
        "figures/natural_history.svg",
    ):
        assert (out_dir / name).stat().st_size > 0, name
    html = (out_dir / "index.html").read_text()
    assert "Against spontaneous recovery" in html and "MSC vs control" in html


def test_analyze_bad_row_is_one_line_exit_2(capsys, tmp_path):
    import pandas as pd

    df = synthetic_trial(2, seed=1, visits=(10, 100)).exams
    df.loc[2, "t6LeftPrick"] = "9"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    code, _, err = run(["trial", "analyze", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert (
        err
        == f"Error: {path}, row 4, column 't6LeftPrick': invalid value; expected 0, 1, 2 or NT (tags * / ** on 0, 1 and NT) (value: '9')\n"
    )
    assert not (tmp_path / "o").exists()
    df = pd.read_csv(path, dtype=str)
    df.loc[2, "t6LeftPrick"] = "2"
    df.loc[1, "visit"] = df.loc[0, "visit"]
    df.to_csv(path, index=False)
    code, _, err = run(["trial", "analyze", str(path)], capsys)
    assert code == 2 and "duplicated visit" in err and err.count("\n") == 1


def test_analyze_missing_file(capsys, tmp_path):
    code, _, err = run(["trial", "analyze", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "file not found" in err


def test_help_has_examples(capsys):
    for cmd in ("analyze", "design"):
        code, out, _ = run(["trial", cmd, "--help"], capsys)
        assert code == 0 and "Example:" in out


# ---- issue 12: output paths, formula injection, Ctrl-C -------------------------------------
_DESIGN = ["trial", "design", "--n-per-arm", "20", "--simulations", "50"]


@pytest.mark.parametrize(
    "name,message",
    [
        ("missing/power.png", "does not exist"),
        ("power.gif", "unsupported plot file type '.gif'"),
        ("a_folder.png", "must be a file, but a folder is there"),
        ("regular.txt/power.png", "below a regular file"),
    ],
)
def test_design_bad_plot_path_is_one_line_and_leaves_nothing(capsys, tmp_path, name, message):
    (tmp_path / "a_folder.png").mkdir()
    (tmp_path / "regular.txt").write_text("keep")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run([*_DESIGN, "--plot", str(tmp_path / name)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_design_plot_replaces_a_file_only_when_complete(capsys, tmp_path, monkeypatch):
    target = tmp_path / "power.svg"
    target.write_text("old")
    import sci_evidence.trials.design as design_module

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(design_module.PowerResult, "plot", broken)
    code, _, _ = run([*_DESIGN, "--plot", str(target)], capsys)
    assert code == 130  # Ctrl-C: exit 130, the old file untouched, no temporary left
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["power.svg"]
    monkeypatch.undo()
    code, _, _ = run([*_DESIGN, "--plot", str(target)], capsys)
    assert code == 0 and target.read_text().lstrip().startswith("<?xml")


def test_design_ctrl_c_during_simulation_exits_130(capsys, monkeypatch):
    import sci_evidence.trials.design as design_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(design_module, "simulate_blocks", interrupted)
    code, out, _ = run(_DESIGN, capsys)
    assert code == 130 and out == ""


def test_analyze_bad_out_paths_are_one_line(capsys, trial_csv, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    for out, message in (
        (tmp_path / "no" / "such" / "dir", "does not exist"),
        (tmp_path / "file.txt", "must be a folder, but a file is there"),
        (tmp_path / "mine", "holds files that are not a trial analysis"),
    ):
        code, _, err = run(["trial", "analyze", str(trial_csv), "--out", str(out)], capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "mine"]


def test_analyze_replaces_an_earlier_analysis_whole(capsys, trial_csv, tmp_path):
    out = tmp_path / "out"
    assert run(["trial", "analyze", str(trial_csv), "--out", str(out)], capsys)[0] == 0
    (out / "stale.csv").write_text("from an earlier run")
    assert run(["trial", "analyze", str(trial_csv), "--out", str(out)], capsys)[0] == 0
    assert not (out / "stale.csv").exists() and (out / "summary.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_analyze_csv_text_cells_are_neutralised_numbers_kept(capsys, tmp_path):
    """issue 12 item 8: patients.csv / exams.csv text cells cannot run as formulas."""
    import pandas as pd

    df = synthetic_trial(3, seed=2, visits=(10, 200)).exams
    df.loc[df["patient_id"] == "P001", "patient_id"] = "=HYPERLINK(1)"
    df.loc[df["patient_id"] == "P002", "patient_id"] = "@SUM(A1)"
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    code, _, err = run(["trial", "analyze", str(path), "--out", str(out)], capsys)
    assert code == 0, err
    for name in ("patients", "exams"):
        table = pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)
        ids = set(table["patient_id"])
        assert {"'=HYPERLINK(1)", "'@SUM(A1)"} <= ids
        assert not any(i.startswith(("=", "+", "-", "@")) for i in ids)
    exams = pd.read_csv(out / "exams.csv")
    assert pd.api.types.is_numeric_dtype(exams["visit"])
    assert sorted(exams["visit"].unique()) == [10, 200]
