"""Validation: every rule, every problem reported at once with file, row, column and value."""

from __future__ import annotations

import pytest

from sci_evidence.evidence.io import read_evidence_file
from sci_evidence.evidence.validate import validate_tables

from ._builders import break_cells, small_frames, write_stacked


def _report(path):
    return validate_tables(read_evidence_file(path))


def test_small_file_is_valid(tmp_path):
    p = write_stacked(small_frames(), tmp_path / "ok.csv")
    rep = _report(p)
    assert rep.ok, rep.summary()
    assert rep.warnings == ()
    assert set(rep.frames) == {"studies", "arms", "outcomes", "adverse_events", "risk_of_bias"}


# (frame, index, column, bad text, fragment of the message, column reported)
RULES = [
    ("outcomes", 2, "events", "13", "count above n=12", "events"),
    ("outcomes", 1, "count", "14", "count above n=12", "count"),
    ("adverse_events", 0, "patients", "13", "above n=12", "patients"),
    ("arms", 0, "ais_b", "3", "baseline AIS counts add up to 15, above n=12", "ais_a"),
    ("outcomes", 4, "sd", "-1.5", "negative SD", "sd"),
    ("arms", 0, "n", "-3", "negative n", "n"),
    ("outcomes", 1, "to_grade", "F", "AIS grade outside A-E", "to_grade"),
    ("outcomes", 0, "from_grade", "G", "unknown from grade", "from_grade"),
    ("outcomes", 0, "baseline_grade", "Z", "unknown baseline grade", "baseline_grade"),
    ("arms", 0, "dose_unit", "", "a dose without a unit", "dose_unit"),
    ("arms", 0, "route", "intranasal", "unknown route 'intranasal'", "route"),
    ("arms", 0, "route", "intrathecal+intraocular", "unknown route 'intraocular'", "route"),
    ("arms", 0, "injury_phase", "chronicish", "unknown injury phase", "injury_phase"),
    ("studies", 0, "design", "cohort", "unknown design", "design"),
    ("studies", 0, "year", "20x0", "not a whole number", "year"),
    ("studies", 0, "year", "1850", "year outside 1900-2100", "year"),
    ("arms", 0, "n", "12.5", "not a whole number", "n"),
    ("outcomes", 4, "mean", "abc", "not a number", "mean"),
    ("outcomes", 4, "mean", "130", "motor_total outside its range 0-100", "mean"),
    ("arms", 0, "is_culture_expanded_msc", "maybe", "not true/false", "is_culture_expanded_msc"),
    ("outcomes", 0, "status", "guessed", "unknown status", "status"),
    ("outcomes", 0, "status", "", "required value is empty", "status"),
    ("outcomes", 2, "outcome", "walking_speed", "unknown outcome", "outcome"),
    ("outcomes", 2, "arm_id", "other2020:treated", "arm is not an arm of study", "arm_id"),
    ("arms", 1, "control_type", "", "a control arm needs a control type", "control_type"),
    ("arms", 0, "dose_cells", "0", "dose must be positive", "dose_cells"),
    ("risk_of_bias", 0, "judgement", "medium", "unknown judgement for RoB2", "judgement"),
    ("outcomes", 2, "outcome_id", "smith2020:1", "duplicate key", "outcome_id"),
    ("adverse_events", 0, "severity", "awful", "unknown severity", "severity"),
]


@pytest.mark.parametrize(("frame", "idx", "col", "bad", "fragment", "reported"), RULES)
def test_each_rule(tmp_path, frame, idx, col, bad, fragment, reported):
    p = write_stacked(small_frames(), tmp_path / "bad.csv")
    rows = break_cells(p, [(frame, idx, col, bad)])
    rep = _report(p)
    assert not rep.ok
    hits = [e for e in rep.errors if fragment in e.message]
    assert hits, rep.summary()
    e = hits[0]
    assert e.column == reported
    assert e.location == str(p)
    if fragment not in ("duplicate key",):
        assert e.row == rows[(frame, idx, col)]
    line = e.line()
    assert str(p) in line and f"row {e.row}" in line and "\n" not in line


def test_transitions_must_add_up_to_n(tmp_path):
    p = write_stacked(small_frames(), tmp_path / "tr.csv")
    break_cells(p, [("outcomes", 0, "count", "4")])  # 4 + 5 = 9 of 12
    rep = _report(p)
    assert any("AIS transitions add up to 9, not n=12" in e.message for e in rep.errors)
    # a flagged partial listing is a warning, not an error
    break_cells(
        p,
        [
            ("outcomes", 0, "flags", "transitions_partial"),
            ("outcomes", 1, "flags", "transitions_partial"),
        ],
    )
    rep = _report(p)
    assert rep.ok, rep.summary()
    assert any("9 of n=12" in w.message for w in rep.warnings)
    break_cells(p, [("outcomes", 0, "count", "9")])  # 9 + 5 = 14 > 12
    rep = _report(p)
    assert any("add up to 14, above n=12" in e.message for e in rep.errors)


def test_every_problem_is_reported_at_once(tmp_path):
    p = write_stacked(small_frames(), tmp_path / "many.csv")
    rows = break_cells(
        p,
        [
            ("outcomes", 4, "sd", "-2"),
            ("arms", 0, "route", "intranasal"),
            ("arms", 0, "dose_unit", ""),
            ("outcomes", 1, "to_grade", "F"),
            ("outcomes", 2, "events", "40"),
            ("studies", 0, "design", "whatever"),
        ],
    )
    rep = _report(p)
    assert len(rep.errors) >= 6
    reported = {(e.row, e.column) for e in rep.errors}
    for (_frame, _i, col), row in rows.items():
        assert (row, col) in reported, (row, col, rep.summary())


def test_unknown_and_missing_columns(tmp_path):
    import pandas as pd

    frames = small_frames()
    p = tmp_path / "arms.csv"
    df = frames["arms"].copy()
    df["colour"] = "blue"
    df.to_csv(p, index=False)
    rep = validate_tables(read_evidence_file(p), existing={"studies": frames["studies"]})
    assert any(e.column == "colour" and "unknown column" in e.message for e in rep.errors)
    p2 = tmp_path / "outcomes.csv"
    frames["outcomes"].drop(columns=["n"]).to_csv(p2, index=False)
    rep2 = validate_tables(read_evidence_file(p2), existing=frames)
    assert rep2.ok, rep2.summary()  # a missing non-key column is just empty
    assert pd.isna(rep2.frames["outcomes"]["n"]).all()


def test_references_to_unknown_studies_and_arms(tmp_path):
    frames = small_frames()
    p = tmp_path / "outcomes.csv"
    frames["outcomes"].to_csv(p, index=False)
    rep = validate_tables(read_evidence_file(p))  # no studies/arms anywhere
    assert any("unknown study" in e.message for e in rep.errors)
    assert any("unknown arm" in e.message for e in rep.errors)
    rep_ok = validate_tables(read_evidence_file(p), existing=frames)
    assert rep_ok.ok, rep_ok.summary()


def test_warnings_do_not_block(tmp_path):
    p = write_stacked(small_frames(), tmp_path / "warn.csv")
    break_cells(p, [("arms", 1, "n", ""), ("outcomes", 3, "events", "")])
    rep = _report(p)
    # control n missing: a warning; responders without events: an error
    assert any(w.column == "n" and "arm size not stated" in w.message for w in rep.warnings)
    assert any(e.column == "events" for e in rep.errors)
    break_cells(p, [("outcomes", 3, "events", "1")])
    rep = _report(p)
    assert rep.ok and rep.warnings


def test_json_and_excel_rows_are_located(tmp_path):
    from sci_evidence.evidence.io import write_evidence_file

    frames = small_frames()
    frames["outcomes"].loc[4, "sd"] = -1.0
    for ext, row in (("json", 5), ("xlsx", 6)):
        p = write_evidence_file(frames, tmp_path / f"f.{ext}")
        rep = _report(p)
        e = next(e for e in rep.errors if e.column == "sd")
        assert e.location == f"{p}[outcomes]" and e.row == row
