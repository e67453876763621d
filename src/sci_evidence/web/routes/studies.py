"""Exploring the evidence: the study list with its filters and the study page."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    Response,
)

from sci_evidence.web import filters, rob
from sci_evidence.web.pages import (
    ctx_of,
    render,
    require,
    study_filter,
)


def studies_page(request: Request) -> Response:
    require(request)
    ctx = ctx_of(request)
    _, ev, arms = ctx.evidence()
    f = study_filter(request)
    ids, _ = filters.matching(ev, f, arms)
    from sci_evidence.evidence.model import records

    by_id = {r["study_id"]: r for r in records(ev.studies)}
    rob_overall = filters.overall_rob(ev)
    n_arms = arms.groupby("study_id").size().to_dict()
    rows = []
    for sid in ids:
        r = by_id[sid]
        rows.append(
            {
                "study_id": sid,
                "author": r["first_author"],
                "year": r["year"] if r["year"] is not None else "",
                "design": r["design"],
                "controlled": r["controlled"],
                "n_total": r["n_total"],
                "treated_arms": n_arms.get(sid, 0),
                "rob": rob_overall.get(sid, "not assessed"),
                "source_type": filters.source_type(r["flags"]),
            }
        )
    template = "_study_rows.html" if request.headers.get("hx-request") else "studies.html"
    return render(
        request, template, rows=rows, f=f, choices=filters.choices(ev, arms), total=len(ev.studies)
    )


def study_page(request: Request) -> Response:
    require(request)
    _, ev, _ = ctx_of(request).evidence()
    sid = request.path_params["study_id"]
    try:
        data = ev.study(sid)
    except Exception as exc:  # NotFoundError
        raise HTTPException(404, f"no study '{sid}'") from exc
    prov: dict[tuple[str, str], list[dict]] = {}
    for p in data["provenance"]:
        prov.setdefault((p["key"], p["field"]), []).append(p)
    return render(
        request,
        "study.html",
        d=data,
        prov=prov,
        sources=_sources(data),
        tool=rob.tool_for_design(data["study"]["design"]),
    )


def _sources(data: dict) -> list[dict]:
    """The provenance rows of every number of a study, grouped under their source key."""
    rows = []
    for name in ("studies", "arms", "outcomes", "adverse_events"):
        recs = [data["study"]] if name == "studies" else data[name]
        for r in recs:
            rows.append(
                {
                    "table": name,
                    "key": r.get("outcome_id")
                    or r.get("ae_id")
                    or r.get("arm_id")
                    or r.get("study_id"),
                    "source_key": r.get("source_key", ""),
                    "where": r.get("where_in_source", ""),
                    "quote": r.get("verbatim", ""),
                    "status": r.get("status", ""),
                }
            )
    return rows
