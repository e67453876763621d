"""The view of a not-pooled score analysis's individual studies for the HTML report
(``templates/_individual_studies.html.j2``): the rows, the sentence, the estimate's label
and the geometry of a small forest (one line per study, on one axis that includes 0)."""

from __future__ import annotations

import math

from sci_evidence.review.results import jsonable
from sci_evidence.review.score_studies import estimate_label

#: Width of the small forest, in pixels.
FOREST_WIDTH = 160


def _axis(rows: list[dict]) -> tuple[float, float] | None:
    vals = [0.0]
    for r in rows:
        vals += [v for v in (r["estimate"], r["ci_lb"], r["ci_ub"]) if v is not None]
    lo, hi = min(vals), max(vals)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return None
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def individual_view(a) -> dict:
    """``individual`` (rows, each with ``x``, ``x_lb``, ``x_ub`` in pixels where known),
    ``individual_statement``, ``individual_estimate`` and ``individual_axis`` (the axis ends
    and the pixel of 0); empty for an analysis without individual studies."""
    if getattr(a, "individual", None) is None:
        return {}
    rows = jsonable(a.individual)
    axis = _axis(rows)
    if axis is not None:
        lo, hi = axis

        def px(v):
            return None if v is None else round(FOREST_WIDTH * (v - lo) / (hi - lo), 1)

        for r in rows:
            r["x"], r["x_lb"], r["x_ub"] = px(r["estimate"]), px(r["ci_lb"]), px(r["ci_ub"])
    return {
        "individual": rows,
        "individual_statement": a.statement,
        "individual_estimate": estimate_label(a.spec),
        "individual_axis": None
        if axis is None
        else {"lo": axis[0], "hi": axis[1], "zero": px(0.0), "width": FOREST_WIDTH},
    }
