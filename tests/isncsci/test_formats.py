"""Reading every input format, validation messages, and the classify command."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sci_evidence.cli import app
from sci_evidence.errors import DataWarning, InputError
from sci_evidence.isncsci import INPUT_COLUMNS, RESULT_COLUMNS, Exam, classify_table
from sci_evidence.isncsci.formats import classify_file, read_exams, write_results
from support.random_exams import random_exams

DATA = Path(__file__).parents[1] / "data" / "isncsci"
CASES = json.loads((DATA / "praxis_2019_cases.json").read_text())
runner = CliRunner()


@pytest.fixture(scope="module")
def exams() -> pd.DataFrame:
    return random_exams(40, seed=5, p_nt=0.05, p_tag=0.1, p_non_key=0.3)


@pytest.fixture(scope="module")
def expected(exams) -> pd.DataFrame:
    return classify_table(exams)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all()


def test_csv_round_trip(tmp_path, exams, expected):
    path = tmp_path / "exams.csv"
    exams.to_csv(path, index=False)
    back = read_exams(path)
    assert list(back.columns) == ["id", *INPUT_COLUMNS]
    _same(back[exams.columns], exams)
    _same(classify_file(path), expected)


def test_flat_json_and_jsonl_round_trip(tmp_path, exams, expected):
    path = tmp_path / "exams.json"
    path.write_text(json.dumps(exams.to_dict("records")))
    _same(read_exams(path)[exams.columns], exams)
    _same(classify_file(path), expected)
    lines = tmp_path / "exams.jsonl"
    exams.to_json(lines, orient="records", lines=True)
    _same(classify_file(lines), expected)


def test_nested_json_round_trip(tmp_path, exams, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nested = [
            {"id": rec["id"], **Exam.from_flat(rec).to_nested()} for rec in exams.to_dict("records")
        ]
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(nested))
    _same(classify_file(path), expected)
    # and back: nested → Exam → flat gives the same exam
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = [Exam.from_nested(n, exam_id=n["id"]).to_flat() for n in nested]
    _same(pd.DataFrame(again)[exams.columns], exams)


def test_reference_demo_nested_exam():
    out = classify_file(DATA / "demo_exam_nested.json")
    demo = json.loads((DATA / "demo_exam_nested_result.json").read_text())
    c, t = demo["classification"], demo["totals"]
    row = out.iloc[0]
    assert row["rightSensory"] == c["neurologicalLevels"]["sensoryRight"]
    assert row["leftMotor"] == c["neurologicalLevels"]["motorLeft"]
    assert row["neurologicalLevelOfInjury"] == c["neurologicalLevelOfInjury"]
    assert row["injuryComplete"] == c["injuryComplete"]
    assert row["asiaImpairmentScale"] == c["ASIAImpairmentScale"]
    assert row["rightMotorZpp"] == c["zoneOfPartialPreservations"]["motorRight"]
    assert row["leftUpperMotorTotal"] == t["left"]["upperExtremity"]
    assert row["rightMotorTotal"] == t["right"]["motor"]
    assert row["touchTotal"] == t["lightTouch"] and row["prickTotal"] == t["pinPrick"]


def test_excel_round_trip(tmp_path, exams, expected):
    path = tmp_path / "exams.xlsx"

    # numbers stored as numbers, as a spreadsheet user would type them
    def numeric_where_possible(col: pd.Series) -> pd.Series:
        if col.name == "id":
            return col
        return col.map(lambda v: int(v) if v.isdigit() else v).astype(object)

    typed = exams.apply(numeric_where_possible)
    typed.to_excel(path, index=False)
    _same(read_exams(path)[exams.columns], exams)
    _same(classify_file(path), expected)


def test_reference_cases_as_csv_match(tmp_path):
    frame = pd.DataFrame([{k: v for k, v in c.items() if k != "totals"} for c in CASES])
    path = tmp_path / "cases.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        out = classify_file(path)
    expected = pd.DataFrame([c["totals"] for c in CASES])[list(RESULT_COLUMNS)]
    _same(out[list(RESULT_COLUMNS)], expected)


def test_write_results_every_format(tmp_path, expected):
    for suffix in (".csv", ".json", ".jsonl"):
        path = tmp_path / f"out{suffix}"
        write_results(expected, path)
        if suffix == ".csv":
            back = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix == ".json":
            back = pd.DataFrame(json.loads(path.read_text()))
        else:
            back = pd.read_json(path, lines=True, dtype=str)
        _same(back, expected)
    assert write_results(expected, None).startswith("id,rightSensory,")


# -- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("c5RightMotor", "6", "motor grade must be 0-5"),
        ("c5RightMotor", "5*", "motor grade must be 0-5"),
        ("t4LeftTouch", "3", "sensory score must be 0, 1, 2 or NT"),
        ("t4LeftTouch", "2*", "sensory score must be 0, 1, 2 or NT"),
        ("t4LeftTouch", "", "missing score (use NT for not testable)"),
        ("analContraction", "maybe", "must be Yes, No or NT"),
        ("rightLowestNonKeyMuscleWithMotorFunction", "X9", "must be a level name"),
    ],
)
def test_invalid_value_names_exam_field_and_value(tmp_path, exams, column, value, message):
    bad = exams.copy()
    bad.loc[7, column] = value
    with pytest.raises(InputError) as info:
        classify_table(bad)
    text = str(info.value)
    assert "exam 'r8'" in text and f"column '{column}'" in text and message in text
    assert f"(value: '{value}')" in text and "\n" not in text
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"bad\.csv, row 9, column"):
        read_exams(path)


def test_lenient_spelling_is_accepted(exams, expected):
    loose = exams.copy()
    loose.loc[0, "analContraction"] = "yes"
    loose.loc[0, "c2RightTouch"] = " 2 "
    loose.loc[1, "c5LeftMotor"] = "nt*"
    strict = exams.copy()
    strict.loc[0, "analContraction"] = "Yes"
    strict.loc[1, "c5LeftMotor"] = "NT*"
    _same(classify_table(loose), classify_table(strict))


def test_missing_column_is_an_error(exams):
    with pytest.raises(InputError, match="missing column 's4_5LeftPrick'"):
        classify_table(exams.drop(columns=["s4_5LeftPrick"]))


def test_skip_invalid_reports_and_classifies_the_rest(tmp_path, exams, expected):
    bad = exams.copy()
    bad.loc[3, "l2LeftMotor"] = "9"
    bad.loc[10, "analSensation"] = ""
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.warns(DataWarning) as record:
        out = classify_file(path, skip_invalid=True)
    messages = [str(w.message) for w in record if "skipped" in str(w.message)]
    assert len(messages) == 2 and "exam 'r4'" in messages[0] and "exam 'r11'" in messages[1]
    _same(out, expected.drop(index=[3, 10]).reset_index(drop=True))


# -- command line -------------------------------------------------------------------------
def test_cli_stdout_and_output_files(tmp_path, exams, expected):
    path = tmp_path / "exams.csv"
    exams.to_csv(path, index=False)
    result = runner.invoke(app, ["classify", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ",".join(["id", *RESULT_COLUMNS])
    assert len(result.stdout.splitlines()) == len(exams) + 1
    for suffix in (".csv", ".json", ".jsonl"):
        out = tmp_path / f"res{suffix}"
        result = runner.invoke(app, ["classify", str(path), "--output", str(out)])
        assert result.exit_code == 0 and out.exists()
    _same(pd.read_csv(tmp_path / "res.csv", dtype=str, keep_default_na=False), expected)


def test_cli_invalid_value_is_one_line_exit_2(tmp_path, exams):
    from sci_evidence.cli import main

    bad = exams.copy()
    bad.loc[2, "s1RightMotor"] = "7"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(SystemExit) as info:
        main(["classify", str(path)])
    assert info.value.code == 2


def test_cli_skip_invalid(tmp_path, exams):
    bad = exams.copy()
    bad.loc[2, "s1RightMotor"] = "7"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.warns(DataWarning, match="s1RightMotor.*exam 'r3'"):
        result = runner.invoke(app, ["classify", str(path), "--skip-invalid"])
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == len(exams)  # header + all but one


def test_cli_help_has_example():
    result = runner.invoke(app, ["classify", "--help"])
    assert result.exit_code == 0 and "Example" in result.output
