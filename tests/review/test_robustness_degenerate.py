"""The review's robustness diagnostics on degenerate rows: studies with one standard error, or
identical studies (a review of a base holding copies of one study, as benchmarks/scaled_evidence
makes), give "not run" with the reason instead of stopping the review."""

from __future__ import annotations

import pandas as pd

from sci_evidence import meta
from sci_evidence.review.analyses import _robustness


def _rows(k: int) -> pd.DataFrame:
    return pd.DataFrame({"year": [2010 + i for i in range(k)]})


def test_identical_studies_leave_egger_and_trim_and_fill_out_with_reasons():
    res = meta.pool([2.0] * 6, [0.5] * 6, method="REML")
    warned: list = []
    out = _robustness(res, _rows(6), warned)
    assert out["egger"].startswith("not run: every study has the same standard error")
    assert out["trim_and_fill"].startswith("not run: every study has the same estimate")
    # the diagnostics that work on such rows still run
    assert not isinstance(out["leave_one_out"], str)
    assert not isinstance(out["cumulative"], str)


def test_same_standard_error_leaves_trim_and_fill_without_a_side():
    res = meta.pool([0.1, 0.5, 0.9, 1.4, 2.0, 2.2], [0.3] * 6, method="REML")
    out = _robustness(res, _rows(6), [])
    assert out["egger"].startswith("not run: every study has the same standard error")
    assert out["trim_and_fill"].startswith("not run: trim-and-fill cannot choose the side")
    # given a side, the core runs it
    assert meta.trim_and_fill(res, side="left").k0 >= 0


def test_ordinary_rows_run_every_diagnostic():
    res = meta.pool([0.1, 0.5, 0.9, 1.4, 2.0, 2.2], [0.3, 0.1, 0.2, 0.4, 0.25, 0.15])
    out = _robustness(res, _rows(6), [])
    assert not any(isinstance(v, str) for v in out.values())
