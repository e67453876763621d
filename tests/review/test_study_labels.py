"""Study labels stay unique for any number of studies sharing first author and year."""

from __future__ import annotations

import pandas as pd
import pytest

from sci_evidence.review.select import letter_suffix, study_labels


@pytest.mark.parametrize(
    "i,suffix", [(1, "a"), (26, "z"), (27, "aa"), (28, "ab"), (52, "az"), (53, "ba"), (703, "aaa")]
)
def test_letter_suffix(i, suffix):
    assert letter_suffix(i) == suffix


def test_many_studies_of_one_author_and_year_get_unique_labels():
    n = 800
    s = pd.DataFrame(
        {
            "study_id": [f"s{i}" for i in range(n)],
            "first_author": ["Jiang"] * n,
            "year": pd.array([2020] * n, dtype="Int64"),
        }
    )
    labels = study_labels(s)
    assert len(set(labels.values())) == n
    assert labels["s0"] == "Jiang 2020a" and labels["s26"] == "Jiang 2020aa"


def test_a_suffixed_label_never_takes_an_existing_one():
    s = pd.DataFrame(
        {
            "study_id": ["x", "y", "z"],
            "first_author": ["Li", "Li", "Li 2019a"],
            "year": pd.array([2019, 2019, None], dtype="Int64"),
        }
    )
    assert study_labels(s) == {"x": "Li 2019b", "y": "Li 2019c", "z": "Li 2019a"}
