"""Review runs from the browser: start, progress, report, zip, changes since the previous run."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    RedirectResponse,
    Response,
)

from sci_evidence.web import history as hist
from sci_evidence.web.pages import (
    REPORT_CSP,
    attachment,
    ctx_of,
    render,
    require,
)
from sci_evidence.web.runs import compare_runs


# ------------------------------------------------------------------ review runs
async def reviews_page(request: Request) -> Response:
    ctx = ctx_of(request)
    if request.method == "POST":
        user = require(request, "run_review")
        _, ev, _ = ctx.evidence()
        try:
            run_id = ctx.runs.start(ev, user.username)
        except RuntimeError as exc:
            raise HTTPException(409, str(exc)) from exc
        hist.audit(ctx.engine, user.username, "review run", f"run:{run_id}")
        return RedirectResponse(f"/reviews?started={run_id}", status_code=303)
    require(request)
    return render(request, "reviews.html", runs=ctx.runs.list(), state=ctx.runs.state)


def _run(request: Request) -> dict:
    run = ctx_of(request).runs.get(request.path_params["run_id"])
    if run is None:
        raise HTTPException(404, "no such review run")
    return run


def review_progress(request: Request) -> Response:
    require(request)
    run = _run(request)
    st = ctx_of(request).runs.state.get(run["id"])
    return render(request, "_run_progress.html", run=run, st=st)


def review_report(request: Request) -> Response:
    require(request)
    run = _run(request)
    path = Path(run["out_dir"]) / "report.html"
    if run["status"] != "done" or not path.is_file():
        raise HTTPException(404, "this run has no report")
    # the report is a document of its own: sandboxed, so its script cannot reach this site
    return FileResponse(
        path,
        media_type="text/html",
        headers={"Content-Security-Policy": REPORT_CSP},
    )


def review_zip(request: Request) -> Response:
    require(request)
    run = _run(request)
    if run["status"] != "done":
        raise HTTPException(404, "this run is not complete")
    data = ctx_of(request).runs.zip_bytes(run["id"])
    return Response(
        data, media_type="application/zip", headers=attachment(f"review-{run['id']}.zip")
    )


def review_changes(request: Request) -> Response:
    require(request)
    ctx = ctx_of(request)
    run = _run(request)
    prev = ctx.runs.previous_done(run["id"])
    diff = compare_runs(Path(run["out_dir"]), Path(prev["out_dir"])) if prev else []
    return render(request, "review_changes.html", run=run, prev=prev, diff=diff)
