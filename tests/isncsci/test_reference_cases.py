"""All 128 exams of the Praxis reference suite (specs/2019.json, isncsci v2.0.6), every field.

Expected values are each case's ``totals`` (the top-level copies are stale in case 100).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from sci_evidence.isncsci import RESULT_COLUMNS, Classification, Exam, classify_exam, classify_table

DATA = Path(__file__).parents[1] / "data" / "isncsci"
CASES = json.loads((DATA / "praxis_2019_cases.json").read_text())


def _exam(case: dict) -> Exam:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cases 77-79 name non-key levels outside the ten
        return Exam.from_flat(case, exam_id=case["id"])


def test_suite_has_128_cases_with_25_results():
    assert len(CASES) == 128
    assert all(set(c["totals"]) == set(RESULT_COLUMNS) for c in CASES)
    assert len(RESULT_COLUMNS) == 25


@pytest.mark.parametrize("case", CASES, ids=[f"case{c['id']}" for c in CASES])
def test_classify_exam_matches_reference(case):
    got = classify_exam(_exam(case)).to_reference()
    assert got == case["totals"]


def test_classify_table_matches_reference():
    frame = pd.DataFrame([{k: v for k, v in c.items() if k != "totals"} for c in CASES])
    frame = frame.drop(columns=["group", "comments"]).astype(str)
    nk = [c for c in frame.columns if "NonKey" in c]
    frame[nk] = frame[nk].replace({"nan": "", "None": ""})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = classify_table(frame)
    assert list(out.columns) == ["id", *RESULT_COLUMNS]
    expected = pd.DataFrame([c["totals"] for c in CASES])[list(RESULT_COLUMNS)]
    pd.testing.assert_frame_equal(
        out[list(RESULT_COLUMNS)].astype(object), expected.astype(object), check_dtype=False
    )


def test_typed_round_trip_of_every_case():
    for case in CASES:
        c = Classification.from_reference(case["totals"])
        assert c.to_reference() == case["totals"]


def test_worked_example_case_1_typed():
    c = classify_exam(_exam(CASES[0]))
    assert [str(v) for v in c.right_motor] == ["C6"]
    assert c.upper_motor_total == 25 and c.touch_total == 26 and c.prick_total == 21
    assert [str(v) for v in c.asia_impairment_scale] == ["A"]
