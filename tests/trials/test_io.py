"""Reading and validating trial tables: one-line errors with row, column and value."""

from __future__ import annotations

import pandas as pd
import pytest

from sci_evidence.errors import InputError
from sci_evidence.trials.io import read_trial_table, validate_trial_table
from support.synthetic_trials import synthetic_trial


@pytest.fixture(scope="module")
def table():
    return synthetic_trial(3, seed=1, visits=(10, 200)).exams


def _error(df) -> InputError:
    with pytest.raises(InputError) as info:
        validate_trial_table(df)
    assert "\n" not in str(info.value)
    return info.value


def test_valid_table_passes(table):
    out = validate_trial_table(table)
    assert len(out) == len(table) and out["visit"].dtype == float


def test_missing_column(table):
    e = _error(table.drop(columns=["c5RightMotor"]))
    assert e.column == "c5RightMotor" and "missing column" in str(e)


def test_bad_motor_value_names_row_column_value(table):
    df = table.copy()
    df.loc[3, "l2LeftMotor"] = "6"
    e = _error(df)
    assert (e.row, e.column, e.value) == (5, "l2LeftMotor", "6")
    assert "row 5" in str(e) and "'l2LeftMotor'" in str(e) and "'6'" in str(e)


@pytest.mark.parametrize(
    "column,value",
    [
        ("c4RightTouch", "3"),
        ("c4RightTouch", "2*"),
        ("c5LeftMotor", "5*"),
        ("analContraction", "maybe"),
        ("t3LeftPrick", ""),
        ("rightLowestNonKeyMuscleWithMotorFunction", "T5"),
    ],
)
def test_bad_values(table, column, value):
    df = table.copy()
    if column not in df:
        df[column] = ""
    df.loc[0, column] = value
    e = _error(df)
    assert e.row == 2 and e.column == column


def test_tagged_values_are_accepted(table):
    df = table.copy()
    df.loc[0, "c5LeftMotor"] = "3**"
    df.loc[0, "t4RightTouch"] = "NT*"
    df["leftLowestNonKeyMuscleWithMotorFunction"] = ""
    df.loc[1, "leftLowestNonKeyMuscleWithMotorFunction"] = "l3"
    out = validate_trial_table(df)
    assert out.loc[1, "leftLowestNonKeyMuscleWithMotorFunction"] == "L3"


def test_bad_visit(table):
    df = table.copy()
    df["visit"] = df["visit"].astype(object)
    df.loc[2, "visit"] = "week 3"
    e = _error(df)
    assert (e.row, e.column, e.value) == (4, "visit", "week 3")
    df.loc[2, "visit"] = -4
    assert _error(df).row == 4


def test_duplicated_visit(table):
    df = table.copy()
    df.loc[1, "visit"] = df.loc[0, "visit"]
    e = _error(df)
    assert "duplicated visit" in str(e) and "rows 2, 3" in str(e) and e.row == 3


def test_patient_in_two_arms(table):
    df = table.copy()
    df.loc[1, "arm"] = "other"
    e = _error(df)
    assert e.row == 3 and e.column == "arm"


def test_empty_identifier(table):
    df = table.copy()
    df.loc[4, "patient_id"] = ""
    assert _error(df).row == 6


def test_read_csv_excel_parquet(tmp_path, table):
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_excel(tmp_path / "t.xlsx", index=False)
    table.to_parquet(tmp_path / "t.parquet", index=False)
    frames = [read_trial_table(tmp_path / f"t.{ext}") for ext in ("csv", "xlsx", "parquet")]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], f, check_dtype=False)


def test_read_errors_name_the_file(tmp_path, table):
    with pytest.raises(InputError, match="file not found"):
        read_trial_table(tmp_path / "nope.csv")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported file type"):
        read_trial_table(tmp_path / "t.txt")
    df = table.copy()
    df.loc[0, "s1LeftMotor"] = "x"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError) as info:
        read_trial_table(tmp_path / "bad.csv")
    assert str(info.value).startswith(f"{tmp_path / 'bad.csv'}, row 2, column 's1LeftMotor'")


def test_spelling_variants_are_canonicalised(tmp_path, table):
    df = table.copy()
    df.loc[0, "t9LeftTouch"] = "nt"
    df.loc[0, "analSensation"] = "yes"
    df.loc[1, "s1RightMotor"] = "Nt*"
    out = validate_trial_table(df)
    assert (out.loc[0, "t9LeftTouch"], out.loc[0, "analSensation"], out.loc[1, "s1RightMotor"]) == (
        "NT",
        "Yes",
        "NT*",
    )
    # A UTF-8 byte-order mark (Excel's "CSV UTF-8") does not hide the first column.
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + table.to_csv(index=False).encode())
    assert len(read_trial_table(tmp_path / "bom.csv")) == len(table)
