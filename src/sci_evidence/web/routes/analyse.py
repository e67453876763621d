"""The live analysis view: filters → forest plot, pooled result, subgroup test; downloads."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    Response,
)

from sci_evidence.web import analysis, filters
from sci_evidence.web.pages import (
    attachment,
    ctx_of,
    render,
    require,
    study_filter,
)


# ------------------------------------------------------------------ analyse
def _live(request: Request) -> analysis.LiveAnalysis:
    ctx = ctx_of(request)
    version, ev, arms = ctx.evidence()
    ids = [a for a, _ in analysis.analysis_choices(ctx.protocol)]
    aid = request.query_params.get("analysis") or ids[0]
    if aid not in ids:
        raise HTTPException(400, "unknown analysis")
    sub = request.query_params.get("subgroup", "")
    if sub and sub not in analysis.SUBGROUP_VARIABLES:
        raise HTTPException(400, "unknown subgroup variable")
    f = study_filter(request)
    ids, treated = filters.matching(ev, f, arms)
    # views that select the same studies and arms share one computation
    key = (version, aid, tuple(ids), tuple(sorted(treated)), sub)
    return ctx.cache.get_or_compute(
        key, lambda: analysis.compute(ev, ctx.protocol, aid, f, sub, arms)
    )


def _view_query(request: Request) -> str:
    from urllib.parse import urlencode

    f = study_filter(request)
    q = {
        "analysis": request.query_params.get("analysis", ""),
        "subgroup": request.query_params.get("subgroup", ""),
        **f.items(),
    }
    return urlencode({k: v for k, v in q.items() if v})


def analyse_page(request: Request) -> Response:
    require(request)
    ctx = ctx_of(request)
    _, ev, arms = ctx.evidence()
    live = _live(request)
    return render(
        request,
        "analyse.html",
        live=live,
        f=study_filter(request),
        choices=filters.choices(ev, arms),
        analyses=analysis.analysis_choices(ctx.protocol),
        subgroups=analysis.SUBGROUP_VARIABLES,
        query=_view_query(request),
    )


def analyse_result(request: Request) -> Response:
    require(request)
    return render(request, "_analysis_result.html", live=_live(request), query=_view_query(request))


def analyse_figure(request: Request) -> Response:
    require(request)
    fmt = request.path_params["fmt"]
    media = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}
    if fmt not in media:
        raise HTTPException(404, "figures come as svg, png or pdf")
    live = _live(request)
    if live.result.main is None:
        raise HTTPException(404, "nothing pooled under these filters")
    a = live.result
    sg = a.subgroups[0].result if a.subgroups else None
    data = analysis.render_figure(a, sg, live.subgroup, fmt)
    if fmt == "svg":
        data = (
            b'<?xml version="1.0" encoding="utf-8"?>\n'
            + data.replace(b"<svg ", b'<svg xmlns="http://www.w3.org/2000/svg" ', 1)
            if b"xmlns=" not in data[:300]
            else data
        )
    return Response(
        data, media_type=media[fmt], headers=attachment(f"forest_{live.analysis_id}.{fmt}")
    )


def analyse_csv(request: Request) -> Response:
    require(request)
    live = _live(request)
    text = analysis.data_frame(live).to_csv(index=False)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"forest_{live.analysis_id}.csv"),
    )
