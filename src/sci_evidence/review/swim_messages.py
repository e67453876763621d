"""Key-message sentences of a structured synthesis without meta-analysis (SWiM): how many
studies point each way, the exact sign test, and how many patients the studies measured
(used by :mod:`sci_evidence.review.messages`)."""

from __future__ import annotations

import math

__all__ = ["fmt_p", "synthesis_patients", "synthesis_sentence"]


def fmt_p(p: float | None) -> str:
    """A p-value in words: ``p < 0.001``, three decimals below 0.01, else two."""
    if p is None or not math.isfinite(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def synthesis_sentence(spec, res) -> str:  # noqa: ANN001
    """A structured synthesis (SWiM): how many studies point each way, and the sign test."""
    n = int(getattr(res, "n_studies", 0) or 0)
    title = spec.title
    if n == 0:
        return f"No study reports {title} usably, so the evidence cannot answer this."
    b = int(res.n_benefit)
    h = int(res.n_harm)
    nc = int(getattr(res, "n_no_change", 0) or 0)
    ne = int(getattr(res, "n_no_clear_effect", 0) or 0)
    un = int(getattr(res, "n_unclear", 0) or 0)
    parts = [f"{b} of {n} {'study' if n == 1 else 'studies'} found a benefit", f"{h} harm"]
    if ne:
        parts.append(f"{ne} no clear effect")
    if nc:
        parts.append(f"{nc} no change")
    if un:
        parts.append(f"{un} an unclear direction")
    measured = synthesis_patients(res)
    who = "" if measured is None else f" ({measured} patients measured)"
    out = f"{title}{who}: " + ", ".join(parts)
    if n == 1:
        return out + " — one study is too little evidence to answer this (not pooled)."
    if b + h == 0:
        # the sign test counts only studies with a direction
        test = "no study showed a direction, so no sign test"
    else:
        test = f"exact sign test {fmt_p(getattr(res, 'p_value', None))}"
    return out + f" ({test}; not pooled, so no pooled effect or certainty rating)."


def synthesis_patients(res) -> int | None:  # noqa: ANN001
    """Patients a synthesis' studies measured (per study the most any of its outcomes
    measured), from the ``measured`` column of its table; None when not recorded."""
    import pandas as pd

    table = getattr(res, "table", None)
    if not isinstance(table, pd.DataFrame) or "measured" not in table:
        return None
    m = pd.to_numeric(table["measured"], errors="coerce")
    if not m.notna().any():
        return None
    return int(m.groupby(table["study_id"]).max().sum())
