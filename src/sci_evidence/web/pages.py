"""What every page needs: the request context, authorisation, rendering, errors."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    Response,
)
from starlette.templating import Jinja2Templates

from sci_evidence.errors import InputError
from sci_evidence.web import accounts, analysis, filters
from sci_evidence.web import history as hist
from sci_evidence.web.runs import Runs

HERE = Path(__file__).parent
#: A review report is a document of its own: sandboxed (a unique origin), so its script can
#: neither read this site's cookies nor post to it.
REPORT_CSP = "sandbox allow-scripts; default-src 'self' 'unsafe-inline' data:"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@dataclass
class Context:
    """What every request needs: the store, caches, limits, the review runs."""

    store: object
    protocol: object
    runs: Runs
    limiter: accounts.LoginRateLimit = field(default_factory=accounts.LoginRateLimit)
    #: per client address: looser, as several people may share one address
    ip_limiter: accounts.LoginRateLimit = field(
        default_factory=lambda: accounts.LoginRateLimit(limit=20)
    )
    cache: analysis.AnalysisCache = field(default_factory=analysis.AnalysisCache)
    uploads: dict = field(default_factory=dict)
    _evidence: tuple | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def engine(self):  # noqa: ANN201
        return self.store.engine

    def evidence(self):  # noqa: ANN201
        """(version, EvidenceSet, arm table) — reloaded when the store has changed."""
        version = hist.data_version(self.store)
        cached = self._evidence
        if cached is not None and cached[0] == version:
            return cached
        with self._lock:
            if self._evidence is None or self._evidence[0] != version:
                from sci_evidence.review.pipeline import plain_strings

                # plain object columns once per data version (the review's own speed-up)
                ev = plain_strings(self.store.load())
                self._evidence = (version, ev, filters.arm_table(ev))
            return self._evidence


def templates_env() -> Jinja2Templates:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _num
    env.filters["label"] = lambda s: str(s).replace("_", " ")
    return Jinja2Templates(env=env)


def _num(v, digits: int = 2) -> str:  # noqa: ANN001
    if v is None:
        return "—"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if f != f:
        return "—"
    return f"{f:.{digits}f}"


# ------------------------------------------------------------------ helpers
def ctx_of(request: Request) -> Context:
    return request.app.state.ctx


def current_user(request: Request) -> accounts.User | None:
    if "user" not in request.scope.get("state", {}):
        token = request.session.get("token")
        request.state.user = accounts.session_user(ctx_of(request).engine, token)
    return request.state.user


def require(request: Request, permission: str = "read") -> accounts.User:
    """The logged-in user holding ``permission``; 401 (GET: redirect to login) or 403."""
    user = current_user(request)
    if user is None:
        if request.method == "GET" and not request.headers.get("hx-request"):
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(303, headers={"Location": "/login?next=" + _safe_next(here)})
        raise HTTPException(401, "log in first")
    if not user.can(permission):
        raise HTTPException(403, f"your role ({user.role}) may not do this")
    return user


def _safe_next(path: str) -> str:
    from urllib.parse import quote

    return quote(
        path if path.startswith("/") and not path.startswith("//") else "/studies", safe=""
    )


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:  # noqa: ANN003
    user = current_user(request)
    token = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    return request.app.state.templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "csrftoken": token,
            "hx_headers": json.dumps({"x-csrftoken": token}),
            **context,
        },
        status_code=status,
    )


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code in (301, 302, 303, 307) and exc.headers:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if request.headers.get("hx-request"):
        return PlainTextResponse(exc.detail, status_code=exc.status_code)
    return render(
        request,
        "error.html",
        status=exc.status_code,
        status_code=exc.status_code,
        detail=exc.detail,
    )


async def input_error(request: Request, exc: InputError) -> Response:
    if request.headers.get("hx-request"):
        return PlainTextResponse(str(exc), status_code=400)
    return render(request, "error.html", status=400, status_code=400, detail=str(exc))


async def form_data(request: Request):  # noqa: ANN202
    return await request.form(max_files=1, max_fields=400)


def study_filter(request: Request) -> filters.StudyFilter:
    return filters.StudyFilter.from_query(request.query_params)


def attachment(name: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{name}"'}
