"""The sentence that opens the report's safety section is generated from the adverse-event
analyses (it once said, typed in, that they were pooled with Freeman–Tukey while the main
model was the GLMM)."""

from __future__ import annotations

import pytest

from sci_evidence.evidence import load_evidence
from sci_evidence.report.views import safety_intro
from sci_evidence.review.pipeline import run_review
from sci_evidence.review.protocol import parse_protocol

AE = """
title = "safety"
seed = 7
[[analyses]]
id = "ae"
title = "Any adverse event"
outcome = "ae_any"
design = "single_arm"
measure = "PLO"
{model}
sensitivity = [{sens}]
"""


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def test_glmm_main_model_and_iv_sensitivity_are_named(evidence):
    review = run_review(
        evidence, parse_protocol(AE.format(model='model = "glmm"', sens='"iv_freeman_tukey"'))
    )
    text = safety_intro(review)
    assert text.startswith(
        "Any adverse event: pooled above with the binomial-normal GLMM of the counts (main "
        "model); inverse-variance model, Freeman–Tukey double arcsine only as sensitivity "
        "analyses."
    )
    assert "which handles zero events" not in text


def test_an_inverse_variance_main_model_is_said_so(evidence):
    review = run_review(evidence, parse_protocol(AE.format(model='model = "iv"', sens="")))
    text = safety_intro(review)
    assert text.startswith(
        "Any adverse event: pooled above with the random-effects inverse-variance model (REML τ²)."
    )
    assert "GLMM of the counts" not in text


def test_the_report_page_carries_the_generated_sentence(tmp_path):
    from sci_evidence.report.writer import write_review
    from sci_evidence.review.protocol import load_protocol

    review = run_review(load_evidence(), load_protocol())
    out = tmp_path / "r"
    write_review(review, out)
    html = (out / "report.html").read_text()
    assert f'<p id="safety-intro">{safety_intro(review)}' in html.replace("&#39;", "'")
    assert "Freeman–Tukey, which handles zero events" not in html
    # the methods name the analyses whose main model is the GLMM, from the protocol
    glmm = [s.id for s in review.protocol.analyses if s.model == "glmm"]
    assert glmm == ["ais_improved_prop", "ae_any_prop", "ae_serious_prop"]
    assert (
        f'<p id="methods-models">The main model of {", ".join(glmm)} is the binomial-normal '
        "GLMM fitted to the counts" in html
    )


def test_adverse_events_by_route_are_compared_once_with_the_glmm():
    """The default review compares adverse events by route in the safety section only (GLMM
    per route, route as a GLMM moderator); an inverse-variance subgroup table beside it
    printed other numbers for the same routes (intrathecal 9.6% against 2.1%)."""
    from sci_evidence.review.protocol import load_protocol

    review = run_review(load_evidence(), load_protocol())
    for aid in ("ae_any_prop", "ae_serious_prop"):
        assert review.analysis(aid).subgroups == ()
    assert [s.analysis_id for s in review.safety_by_route] == ["ae_any_prop", "ae_serious_prop"]
    by_route = review.safety_by_route[0]
    assert by_route.test is not None and by_route.test["pval"] is not None
