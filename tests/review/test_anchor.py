"""The report says plainly, in a sentence generated from the base's counts, that the
Montoto-Meijide 2023 included list could not be reconstructed and how this base relates to
its candidates (issue 17)."""

from __future__ import annotations

import html
import json
from dataclasses import replace

from sci_evidence.evidence import load_evidence
from sci_evidence.evidence.appraisal import anchor_comparison
from sci_evidence.review.anchor import anchor_sentence, anchor_statement


def test_sentence_is_generated_from_the_comparison():
    ev = load_evidence()
    c = anchor_comparison(ev)
    assert c.reconstructed is False
    st = anchor_statement(ev)
    assert st.name == "Montoto-Meijide 2023"
    s = st.sentence
    assert "Montoto-Meijide 2023" in s and "could not be reconstructed" in s
    assert f"{c.stated_identified} records identified" in s
    assert f"{c.stated_included} studies included: 21 clinical trials, 1 case series" in s
    assert f"none of the {c.candidates} candidate studies found is confirmed" in s
    assert f"{len(c.eligible)} candidates meet its stated criteria" in s
    assert f"this evidence base holds {len(c.eligible_in_base)} of them" in s
    for name in c.eligible_not_in_base:
        assert name in s
    assert f"{len(c.base_not_candidates)} studies of this base are no candidate" in s
    # the numbers of today's base, as the issue states them
    assert (c.candidates, len(c.eligible), len(c.eligible_in_base)) == (32, 22, 20)


def test_sentence_follows_other_counts():
    c = anchor_comparison(load_evidence())
    one = replace(
        c,
        confirmed=1,
        eligible=("A 2001",),
        eligible_in_base=("A 2001",),
        eligible_not_in_base=(),
        base_not_candidates=("x",),
    )
    s = anchor_sentence("R 2020", one)
    assert "only 1 of the 32 candidate studies found is confirmed" in s
    assert "1 candidate meets its stated criteria; this evidence base holds 1 of them." in s
    assert "1 study of this base is no candidate" in s
    done = replace(c, confirmed=c.stated_included)
    assert done.reconstructed and "was reconstructed" in anchor_sentence("R 2020", done)


def test_no_anchor_without_candidates():
    ev = load_evidence()
    ev = replace(ev, review_candidates=ev.review_candidates.iloc[:0])
    assert anchor_statement(ev) is None


def test_report_prints_the_sentence(bundled_run):
    result, out = bundled_run
    assert result.anchor is not None
    page = (out / "report.html").read_text()
    assert html.escape(result.anchor.sentence, quote=False) in page
    doc = json.loads((out / "results.json").read_text())
    assert doc["anchor"]["sentence"] == result.anchor.sentence
    assert doc["anchor"]["reconstructed"] is False
