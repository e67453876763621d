"""Shared fixtures of the review tests: the hand-made evidence set and one full run of the
default review over the bundled evidence base (written once per session)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _handmade import TOL, handmade_evidence  # noqa: E402, F401

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="session")
def metafor_extra() -> dict:
    return json.loads((DATA / "metafor_review_extra.json").read_text())


@pytest.fixture(scope="session")
def handmade():
    return handmade_evidence()


@pytest.fixture(scope="session")
def handmade_review(handmade):
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    return run_review(handmade, load_protocol())


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory):
    """The default review of the bundled evidence base, written (figures in every format) to
    a temporary directory."""
    from sci_evidence.evidence import load_evidence
    from sci_evidence.report.writer import write_review
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    out = tmp_path_factory.mktemp("review") / "report"
    result = run_review(load_evidence(), load_protocol())
    write_review(result, out, figures=("png", "svg", "pdf"))
    return result, out
