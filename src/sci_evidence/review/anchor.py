"""The anchor review (Montoto-Meijide 2023) beside this evidence base, in words.

The anchor's included list could not be read (its tables and references were not
reachable); the base records its stated flow and the candidate studies with the evidence for
each (:func:`sci_evidence.evidence.appraisal.anchor_comparison`). The report states what that
means, in a sentence generated from those counts, never a fixed text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sci_evidence.evidence.appraisal import AnchorComparison, anchor_comparison


@dataclass(frozen=True)
class AnchorStatement:
    """The anchor comparison and the sentence the report prints about it."""

    name: str
    comparison: AnchorComparison
    sentence: str

    def to_dict(self) -> dict:
        return {"name": self.name, "sentence": self.sentence, **self.comparison.to_dict()}

    def summary(self) -> str:
        return self.sentence


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 or noun.endswith('series') else noun + 's'}"


def anchor_sentence(name: str, c: AnchorComparison) -> str:
    """What a reader must know about the anchor review, generated from ``c``."""
    stated = []
    if c.stated_identified is not None:
        stated.append(f"{_plural(c.stated_identified, 'record')} identified")
    if c.stated_included is not None:
        designs = ", ".join(_plural(n, d) for d, n in c.stated_by_design.items())
        stated.append(
            f"{_plural(c.stated_included, 'study')} included".replace("studys", "studies")
            + (f": {designs}" if designs else "")
        )
    flow = f" (stated: {'; '.join(stated)})" if stated else ""
    found = _count(c.candidates, "candidate study", "candidate studies")
    if c.reconstructed:
        head = f"The included list of {name}{flow} was reconstructed from {found}."
    elif c.confirmed == 0:
        head = (
            f"The included list of {name}{flow} could not be reconstructed: none of the "
            f"{found} found is confirmed as included."
        )
    else:
        verb = "is" if c.confirmed == 1 else "are"
        head = (
            f"The included list of {name}{flow} could not be reconstructed: only "
            f"{c.confirmed} of the {found} found {verb} confirmed as included."
        )
    n_el, n_in = len(c.eligible), len(c.eligible_in_base)
    body = (
        f" {_count(n_el, 'candidate meets', 'candidates meet')} its stated criteria; this "
        f"evidence base holds {n_in} of them"
    )
    if c.eligible_not_in_base:
        body += f" (not: {', '.join(c.eligible_not_in_base)})"
    body += "."
    if c.base_not_candidates:
        n = len(c.base_not_candidates)
        body += f" {_count(n, 'study', 'studies')} of this base {'is' if n == 1 else 'are'}"
        body += " no candidate of that review."
    return head + body


def anchor_statement(evidence, labels: dict | None = None, review: str = "montoto2023"):
    """The :class:`AnchorStatement` of ``review``; ``None`` when the base records no
    candidate of it."""
    cand = evidence.review_candidates
    cand = cand[cand["review"] == review]
    if cand.empty:
        return None
    c = anchor_comparison(evidence, review)
    if labels:
        from dataclasses import replace

        c = replace(c, base_not_candidates=tuple(labels.get(s, s) for s in c.base_not_candidates))
    itself = cand[cand["design"] == "systematic review"]["label"]
    name = str(itself.iloc[0]).split(" (")[0] if len(itself) else review
    return AnchorStatement(name=name, comparison=c, sentence=anchor_sentence(name, c))
