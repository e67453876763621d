"""The PRISMA 2020 flow diagram draws the counts the evidence base records
(:func:`sci_evidence.evidence.appraisal.prisma_counts`): no box prints "n.r." for a stage the
base counts (issue 17)."""

from __future__ import annotations

from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from sci_evidence.evidence import load_evidence  # noqa: E402
from sci_evidence.evidence.appraisal import PRISMA_STAGES  # noqa: E402
from sci_evidence.evidence.appraisal import prisma_counts as recorded  # noqa: E402
from sci_evidence.report.figures.prisma import prisma_flow  # noqa: E402
from sci_evidence.review.pipeline import prisma_counts  # noqa: E402
from sci_evidence.review.protocol import load_protocol  # noqa: E402


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def test_review_flow_is_the_recorded_flow(evidence):
    flow = recorded(evidence)
    assert flow.inconsistencies() == []
    c = prisma_counts(evidence, [], load_protocol())
    assert (c.identified, c.duplicates_removed, c.screened, c.screened_excluded) == (
        flow.identified,
        flow.duplicates_removed,
        flow.screened,
        flow.records_excluded,
    )
    assert (c.sought, c.not_retrieved, c.assessed, c.excluded, c.included) == (
        flow.sought,
        flow.not_retrieved,
        flow.assessed,
        flow.excluded,
        flow.included,
    )
    assert c.included == len(evidence.studies)
    # the possible duplicate is removed by its rule at the analysis stage
    assert c.analysis_excluded.get("possible_duplicate_of:guo-2014") == 1


def test_no_box_prints_nr_where_the_base_records_the_count(evidence):
    c = prisma_counts(evidence, [], load_protocol())
    assert all(getattr(recorded(evidence), s) is not None for s in PRISMA_STAGES)
    text = _texts(prisma_flow(c))
    assert "n.r." not in text
    for label, n in (
        ("Records identified (n = ", c.identified),
        ("duplicates (n = ", c.duplicates_removed),
        ("Records screened (n = ", c.screened),
        ("Records excluded (n = ", c.screened_excluded),
        ("Reports sought for retrieval (n = ", c.sought),
        ("Reports not retrieved (n = ", c.not_retrieved),
        ("Reports assessed for eligibility\n(n = ", c.assessed),
        ("Reports excluded (n = ", c.excluded),
        ("Studies included in review\n(n = ", c.included),
    ):
        assert f"{label}{n})" in text, label


def test_a_stage_without_records_says_not_recorded(evidence):
    sc = evidence.screening
    ev = replace(evidence, screening=sc[sc["stage"] != "not_retrieved"])
    c = prisma_counts(ev, [], load_protocol())
    assert c.not_retrieved is None
    text = _texts(prisma_flow(c))
    assert "Reports not retrieved (n = n.r.)" in text
    assert "n.r. = not recorded" in text


def test_rule_exclusions_read_in_words_with_study_labels(evidence):
    """The analysis-stage box names each protocol rule in words and the other study of a
    possible duplicate by its label, not by internal ids (possible_duplicate_of:guo-2014)."""
    from sci_evidence.review.pipeline import run_review

    review = run_review(evidence, load_protocol())
    text = _texts(prisma_flow(review.prisma, dict(review.study_labels)))
    assert "possible_duplicate_of" not in text and "guo-2014" not in text
    assert "not_culture_expanded_msc" not in text
    assert f"possible duplicate of {review.study_labels['guo-2014']}: 1" in text
    assert "not culture expanded msc: 1" in text
