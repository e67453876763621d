"""What the report's tables show of a result: estimates and intervals on the reader's scale
with the results.json number each comes from, leave-one-out and cumulative tables with the
scale in their headers, and exclusion reasons in words with study labels."""

from __future__ import annotations

from sci_evidence.meta.transforms import measure_scale
from sci_evidence.report.format import count, num
from sci_evidence.report.scales import reader_values, robustness_frame

__all__ = ["SCALE_DIGITS", "reader_cells", "reason_text", "robustness_view", "safety_intro"]


#: Decimals per reader's scale: ratios 2, percent 1, points 2.
SCALE_DIGITS = {"%": 1, "percentage points": 1}


def reader_cells(entry: dict, rs) -> dict:
    """``field → (data-field, value on the reader's scale)`` of a results.json entry's
    estimate and intervals (``data-field`` names the results.json number it comes from)."""
    p = entry["pooled"]
    bt = p.get("back_transformed")
    out = {}
    for f in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        src, name = (bt, f"back_transformed.{f}") if bt else (p, f)
        v = src.get(f)
        out[f] = (name, None if v is None else rs.factor * v)
    return out


def robustness_view(a, results_entry: dict, rs, digits: int) -> list[dict]:
    """Leave-one-out and cumulative as tables on the reader's scale; the other diagnostics
    as their text, which says its scale."""
    out = []
    model = rs.model
    blocks = results_entry.get("robustness") or {}
    for name, v in a.robustness.items():
        item = {"name": name, "text": ""}
        if name in ("leave_one_out", "cumulative") and isinstance(blocks.get(name), dict):
            frame = robustness_frame(name, blocks[name], a.spec.measure, a.main.rows)
            first = "Study left out" if name == "leave_one_out" else "Study added"
            item["table"] = {
                "columns": [
                    first,
                    "k",
                    f"estimate ({rs.name})",
                    f"CI lower ({rs.name})",
                    f"CI upper ({rs.name})",
                    "p",
                    "I² (%)",
                    f"τ² ({model} scale)",
                ],
                "rows": [
                    [
                        r["study"],
                        count(r["k"]),
                        num(r["estimate"], digits),
                        num(r["ci_lb"], digits),
                        num(r["ci_ub"], digits),
                        num(r["pval"]),
                        num(r["I2"], 1),
                        num(r["tau2"]),
                    ]
                    for r in frame.to_dict(orient="records")
                ],
            }
        elif isinstance(v, str) or v is None:
            item["text"] = v or ""
        elif hasattr(v, "summary"):
            item["text"] = v.summary()
            if rs.factor != 1.0 or measure_scale(a.spec.measure).transformed:
                item["scale_note"] = f"Estimates in this text are on the {model} scale."
            if name == "egger" and getattr(v, "limit_estimate", None) is not None:
                # the limit estimate (as the standard error goes to 0) is an effect estimate
                vals = reader_values(
                    a.spec.measure, [v.limit_estimate, v.limit_ci_lb, v.limit_ci_ub], a.main.rows
                )
                item["reader"] = (
                    f"Limit estimate (as sei → 0) on the reader's scale ({rs.name}): "
                    f"{num(vals[0], digits)} ({num(vals[1], digits)} to {num(vals[2], digits)})"
                )
            if name == "trim_and_fill":
                vals = reader_values(a.spec.measure, [v.estimate, v.ci_lb, v.ci_ub], a.main.rows)
                item["reader"] = (
                    f"Adjusted estimate on the reader's scale ({rs.name}): "
                    f"{num(vals[0], digits)} ({num(vals[1], digits)} to {num(vals[2], digits)})"
                )
        else:
            item["text"] = str(v)
        out.append(item)
    return out


def reason_text(reason: str, labels: dict) -> str:
    """An exclusion reason in words, with study labels for ids
    (``possible_duplicate_of:guo-2014`` → "possible duplicate of Guo 2014")."""
    r = str(reason)
    if r.startswith("possible_duplicate_of:"):
        other = r.split(":", 1)[1]
        return f"possible duplicate of {labels.get(other, other)}"
    return r.replace("_", " ")


def safety_intro(review) -> str:  # noqa: ANN001 - a ReviewResult
    """The sentence that opens the report's safety section, generated from the adverse-event
    analyses (outcomes ``ae_*``): the model each was pooled with and its inverse-variance
    sensitivity analyses, and whether routes are compared with route as a GLMM moderator."""
    parts = []
    for a in review.analyses:
        if not str(a.spec.outcome).startswith("ae_"):
            continue
        if a.main is None:
            parts.append(f"{a.spec.title}: not pooled ({a.status})")
            continue
        model = (
            "the binomial-normal GLMM of the counts (main model)"
            if a.spec.model == "glmm"
            else f"the random-effects inverse-variance model ({a.spec.method} τ²)"
        )
        sens = [
            v.title[:1].lower() + v.title[1:]
            for name, v in a.sensitivity.items()
            if name.startswith("iv_") and not isinstance(v, str)
        ]
        text = f"{a.spec.title}: pooled above with {model}"
        if sens:
            text += f"; {' and '.join(sens)} only as sensitivity analyses"
        parts.append(text)
    if not parts:
        return "No adverse-event analysis is in the protocol."
    out = ". ".join(parts) + "."
    if review.safety_by_route:
        out += (
            " Below, events by route of administration, with route as a moderator of the "
            "binomial-normal GLMM."
        )
    return out
