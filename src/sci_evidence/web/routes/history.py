"""The change history (with diffs and revert) and the audit log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import (
    RedirectResponse,
    Response,
)

from sci_evidence.web import history as hist
from sci_evidence.web.pages import (
    ctx_of,
    render,
    require,
)


# ------------------------------------------------------------------ history
def history_page(request: Request) -> Response:
    require(request)
    return render(request, "history.html", changes=hist.changes(ctx_of(request).store))


def change_page(request: Request) -> Response:
    require(request)
    c = hist.change(ctx_of(request).store, request.path_params["change_id"])
    return render(request, "change.html", c=c)


def change_revert(request: Request) -> Response:
    user = require(request, "revert")
    ctx = ctx_of(request)
    hist.revert(ctx.store, request.path_params["change_id"], username=user.username)
    return RedirectResponse("/history", status_code=303)


def audit_page(request: Request) -> Response:
    require(request)
    return render(request, "audit.html", rows=hist.audit_log(ctx_of(request).engine))
