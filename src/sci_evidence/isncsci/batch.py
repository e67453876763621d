"""Classify many exams at once: ``classify_table``."""

from __future__ import annotations

import warnings

import pandas as pd

from sci_evidence.isncsci._rules import classify_strings
from sci_evidence.isncsci.exam import Exam
from sci_evidence.isncsci.levels import RESULT_COLUMNS


def classify_table(df: pd.DataFrame) -> pd.DataFrame:
    """Classify every exam of a table in the reference's flat layout.

    Parameters
    ----------
    df : DataFrame
        One exam per row; columns are the reference's flat keys (:data:`INPUT_COLUMNS`) as
        strings, plus an optional ``id``.

    Returns
    -------
    DataFrame
        ``id`` (when given) and the 25 result columns (:data:`RESULT_COLUMNS`) as strings.
    """
    rows = []
    ids = df["id"].astype(str).tolist() if "id" in df.columns else [None] * len(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rec, exam_id in zip(df.to_dict("records"), ids, strict=True):
            rows.append(classify_strings(Exam.from_flat(rec, exam_id=exam_id)))
    out = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    if "id" in df.columns:
        out.insert(0, "id", ids)
    return out
