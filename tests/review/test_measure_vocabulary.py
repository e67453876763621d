"""One vocabulary of measures: meta/transforms.py's table answers scale, label, null value and
back-transformation for every measure the review, the report and the CLI use."""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.meta.transforms import log_scale_measures, measure_scale
from sci_evidence.review.protocol import MEASURES
from sci_evidence.review.results import RAW_COLUMNS, back


@pytest.mark.parametrize("m", MEASURES)
def test_every_review_measure_is_in_the_table(m):
    s = measure_scale(m)
    assert s.measure == m and m in RAW_COLUMNS
    # the null on the analysis scale is the null read by people, through the transform
    if s.null_value is None:
        assert s.analysis_null is None
    else:
        assert back(m, [s.analysis_null], None)[0] == pytest.approx(s.null_value)


def test_transformed_and_log_measures():
    assert {m for m in MEASURES if measure_scale(m).transformed} == {
        "PLO",
        "PFT",
        "PAS",
        "RR",
        "OR",
    }
    assert {"RR", "OR", "HR", "IRR", "ROM", "PLN", "IRLN", "PETO"} == set(log_scale_measures())
    assert measure_scale("MN").null_value is None and measure_scale("MC").null_value == 0.0


def test_report_labels_and_reference_lines_come_from_the_table():
    from sci_evidence.report.writer import axis_label

    assert axis_label("PLO") == "Proportion (%)"
    assert axis_label("RR") == "Risk ratio"
    assert axis_label("MD") == "Mean difference (points)"
    assert axis_label("MN") == "Mean (points)"


def test_back_needs_ni_only_for_pft():
    import pandas as pd

    rows = pd.DataFrame({"ni": [10, 20, 40]})
    assert back("PLO", [0.0], None)[0] == pytest.approx(0.5)
    assert np.isfinite(back("PFT", [0.8], rows)[0])
    assert back("MD", [1.5], None)[0] == 1.5
