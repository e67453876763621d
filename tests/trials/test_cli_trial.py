"""`sci-evidence trial analyze|design`: outputs, JSON shapes and one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest

from sci_evidence.cli import main
from sci_evidence.trials.synthetic import synthetic_trial


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


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
        (["--endpoint", "survival"], "--endpoint"),
        (["--n-per-arm", "1"], "at least 2"),
        (["--endpoint", "conversion", "--motor-gain", "3"], "--motor-gain needs"),
        (["--odds-ratio", "-1"], "> 0"),
        (["--dropout", "1.5"], "--dropout"),
        (["--simulations", "0"], "--simulations"),
        (["--mix", "A:foo=1"], "--mix"),
        (["--analysis", "ancova"], "--analysis for the conversion endpoint"),
        (["--endpoint", "motor", "--correlation", "1"], "--correlation"),
        (["--mix", "A-tetraplegia"], "GRADE:LEVEL=WEIGHT"),
        (["--mix", "B:paraplegia=1", "--phase", "chronic"], "no chronic conversion benchmark"),
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
