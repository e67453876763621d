"""The vectorised classify_table gives exactly the per-exam engine's answers."""

from __future__ import annotations

import warnings

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sci_evidence.isncsci import RESULT_COLUMNS, Exam, classify_exam, classify_table
from support.random_exams import random_exams

from .strategies import flat_exams


def _per_exam(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rec in frame.to_dict("records"):
            rows.append(classify_exam(Exam.from_flat(rec)).to_reference())
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _assert_same(frame: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = classify_table(frame)[list(RESULT_COLUMNS)]
    slow = _per_exam(frame)
    mismatch = (fast.to_numpy() != slow.to_numpy()).any(axis=1)
    assert not mismatch.any(), (
        frame[mismatch].head(1).T.to_dict(),
        fast[mismatch].head(1).T.to_dict(),
        slow[mismatch].head(1).T.to_dict(),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(flat_exams(), min_size=1, max_size=40))
def test_table_equals_per_exam_on_random_exams(exams):
    _assert_same(pd.DataFrame(exams))


def test_table_equals_per_exam_on_realistic_mix():
    # 3000 exams with NT (5 %) and tags (10 %), crossing the vectorised block size
    _assert_same(random_exams(3000, seed=11, p_nt=0.05, p_tag=0.1, p_non_key=0.2))


def test_table_equals_per_exam_on_uniform_mix():
    # every value drawn uniformly from its vocabulary: reaches rarely used rules
    _assert_same(random_exams(1500, seed=12, mix="uniform", p_non_key=0.3))


def test_table_without_id_and_empty_table():
    frame = random_exams(5, seed=3, ids=False)
    out = classify_table(frame)
    assert list(out.columns) == list(RESULT_COLUMNS) and len(out) == 5
    empty = classify_table(frame.iloc[:0])
    assert list(empty.columns) == list(RESULT_COLUMNS) and len(empty) == 0
