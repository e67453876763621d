"""The Starlette application: routes, authorisation, CSRF, sessions, security headers.

Build it with :func:`create_app`; ``sci-evidence serve`` runs it under uvicorn.

Security, in one place:

- every route but ``/login`` and ``/static`` needs a session; every write checks a
  permission of :data:`sci_evidence.web.accounts.PERMISSIONS` on the server (403 otherwise);
- CSRF: asgi-csrf's signed double-submit token on every POST (form field ``csrftoken`` or
  header ``x-csrftoken``, which htmx sends), also on the login form;
- the session cookie is Starlette's signed cookie (itsdangerous), HttpOnly, SameSite=Lax,
  holding only a random server-side session token;
- Jinja2 autoescaping for every page; a Content-Security-Policy without inline scripts;
- failed logins are rate-limited per client address and per user name.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from sci_evidence.errors import InputError
from sci_evidence.web import accounts, analysis, entry, filters, rob
from sci_evidence.web import history as hist
from sci_evidence.web import tables as T
from sci_evidence.web.runs import Runs, compare_runs

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


def create_app(
    db: str | None = None,
    *,
    secret_key: str | None = None,
    runs_dir: str | Path | None = None,
    https_only: bool = False,
    login_limit: int = 5,
    warm: bool = False,
) -> Starlette:
    """The web application on the evidence database ``db`` (default: the CLI's default).

    The database is initialised when new (evidence tables with the bundled data, and the web
    tables); an existing one is brought to the newest schema. ``warm`` computes the
    unfiltered analysis views in a background thread while the server starts.

    Background work lives inside the server's lifespan: the warming thread starts when the
    server starts, and on shutdown it is stopped and the review runs are waited for, so no
    thread drawing with matplotlib outlives the server (one alive at interpreter exit aborts
    the process).
    """
    import matplotlib

    matplotlib.use("Agg")
    from asgi_csrf import asgi_csrf

    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.review.protocol import load_protocol

    store = EvidenceStore(db)
    prepare_database(store)
    if runs_dir is None:
        import platformdirs

        runs_dir = Path(platformdirs.user_data_dir("sci-evidence")) / "web-runs"
    ctx = Context(
        store=store,
        protocol=load_protocol(),
        runs=Runs(store.engine, Path(runs_dir)),
        limiter=accounts.LoginRateLimit(limit=login_limit),
        ip_limiter=accounts.LoginRateLimit(limit=4 * login_limit),
    )
    secret = secret_key or secrets.token_urlsafe(32)
    templates = _templates()

    routes = [
        Route("/", lambda r: RedirectResponse("/studies", 303)),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/studies", studies_page),
        Route("/studies/{study_id}", study_page),
        Route("/analyse", analyse_page),
        Route("/analyse/result", analyse_result),
        Route("/analyse/figure.{fmt}", analyse_figure),
        Route("/analyse/data.csv", analyse_csv),
        Route("/data/{frame}/new", data_form, methods=["GET", "POST"]),
        Route("/data/{frame}/edit/{key}", data_form, methods=["GET", "POST"]),
        Route("/upload", upload_page, methods=["GET", "POST"]),
        Route("/upload/apply", upload_apply, methods=["POST"]),
        Route("/history", history_page),
        Route("/history/{change_id:int}", change_page),
        Route("/history/{change_id:int}/revert", change_revert, methods=["POST"]),
        Route("/audit", audit_page),
        Route("/rob", rob_list),
        Route("/rob/agreement", rob_agreement),
        Route("/rob/{study_id}", rob_form, methods=["GET", "POST"]),
        Route("/rob/{study_id}/compare", rob_compare),
        Route("/rob/{study_id}/consensus", rob_consensus, methods=["POST"]),
        Route("/reviews", reviews_page, methods=["GET", "POST"]),
        Route("/reviews/{run_id:int}/progress", review_progress),
        Route("/reviews/{run_id:int}/report", review_report),
        Route("/reviews/{run_id:int}/review.zip", review_zip),
        Route("/reviews/{run_id:int}/changes", review_changes),
        Route("/admin/users", users_page, methods=["GET", "POST"]),
        Route("/admin/users/{user_id:int}", user_update, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=_lifespan(ctx, warm=warm),
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="sci_session",
                max_age=8 * 3600,
                same_site="lax",
                https_only=https_only,
            ),
        ],
        exception_handlers={HTTPException: _http_error, InputError: _input_error},
    )
    app.state.ctx = ctx
    app.state.templates = templates
    protected = asgi_csrf(
        app,
        signing_secret=secret,
        always_protect={"/login", "/logout"},
        cookie_samesite="Lax",
        cookie_secure=https_only,
    )
    return _SecurityHeaders(protected, app)


class _SecurityHeaders:
    """Adds the security headers to every response (pages may set their own CSP)."""

    def __init__(self, inner, app: Starlette) -> None:  # noqa: ANN001
        self.inner = inner
        self.app = app  # the Starlette app, for tests (app.state)
        self.state = app.state

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if (
            scope["method"] == "POST"
            and headers.get(b"content-type", b"").startswith(b"multipart/form-data")
            and b"x-csrftoken" not in headers
        ):
            # asgi-csrf 0.11 cannot read a token from a multipart body with current
            # python-multipart; uploads (sent by htmx) carry it in the header instead
            await PlainTextResponse(
                "CSRF token missing: uploads send it in the x-csrftoken header", status_code=403
            )(scope, receive, send)
            return

        async def wrapped(event) -> None:  # noqa: ANN001
            if event["type"] == "http.response.start":
                headers = list(event.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                }
                for k, v in extra.items():
                    if k not in names:
                        headers.append((k, v))
                event = {**event, "headers": headers}
            await send(event)

        await self.inner(scope, receive, wrapped)


def prepare_database(store) -> None:  # noqa: ANN001
    """Initialise a new evidence database (with the bundled data) or migrate an existing one."""
    if not store.is_initialised():
        store.init()
        return
    with store.engine.begin() as conn:
        store.migrate(conn)


def _templates() -> Jinja2Templates:
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


async def _http_error(request: Request, exc: HTTPException) -> Response:
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


async def _input_error(request: Request, exc: InputError) -> Response:
    if request.headers.get("hx-request"):
        return PlainTextResponse(str(exc), status_code=400)
    return render(request, "error.html", status=400, status_code=400, detail=str(exc))


async def _form(request: Request):  # noqa: ANN202
    return await request.form(max_files=1, max_fields=400)


# ------------------------------------------------------------------ login
async def login_page(request: Request) -> Response:
    ctx = ctx_of(request)
    next_url = request.query_params.get("next", "/studies")
    if not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        next_url = "/studies"  # never an open redirect (//host, /\host)
    if request.method == "GET":
        return render(request, "login.html", next=next_url, error="")
    form = await _form(request)
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    client = request.client.host if request.client else "?"
    ip_key, user_key = f"ip:{client}", f"user:{username.lower()}"
    if ctx.limiter.blocked(user_key) or ctx.ip_limiter.blocked(ip_key):
        return render(
            request,
            "login.html",
            status=429,
            next=next_url,
            error="Too many failed logins: wait a few minutes and try again.",
        )
    user = accounts.authenticate(ctx.engine, username, password)
    if user is None:
        ctx.limiter.failed(user_key)
        ctx.ip_limiter.failed(ip_key)
        return render(
            request,
            "login.html",
            status=401,
            next=next_url,
            error="Unknown user name or wrong password.",
        )
    ctx.limiter.reset(user_key)
    request.session.clear()
    request.session["token"] = accounts.open_session(ctx.engine, user)
    hist.audit(ctx.engine, user.username, "login", f"user:{user.username}")
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    token = request.session.get("token")
    if token:
        accounts.close_session(ctx_of(request).engine, token)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# ------------------------------------------------------------------ explore
def _filter(request: Request) -> filters.StudyFilter:
    return filters.StudyFilter.from_query(request.query_params)


def studies_page(request: Request) -> Response:
    require(request)
    ctx = ctx_of(request)
    _, ev, arms = ctx.evidence()
    f = _filter(request)
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
    f = _filter(request)
    ids, treated = filters.matching(ev, f, arms)
    # views that select the same studies and arms share one computation
    key = (version, aid, tuple(ids), tuple(sorted(treated)), sub)
    return ctx.cache.get_or_compute(
        key, lambda: analysis.compute(ev, ctx.protocol, aid, f, sub, arms)
    )


def _lifespan(ctx: Context, *, warm: bool):  # noqa: ANN202 - a Starlette lifespan
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        import anyio.to_thread

        stop = threading.Event()
        warming = None
        if warm:
            warming = threading.Thread(
                target=warm_cache, args=(ctx, stop), name="warm-analyses", daemon=True
            )
            warming.start()
        try:
            yield
        finally:
            stop.set()
            if warming is not None:
                await anyio.to_thread.run_sync(warming.join)
            await anyio.to_thread.run_sync(ctx.runs.join)

    return lifespan


def warm_cache(ctx: Context, stop: threading.Event | None = None) -> None:
    """Compute the unfiltered view of every protocol analysis (a server's first visitors
    should not wait for them); returns early once ``stop`` is set."""
    version, ev, arms = ctx.evidence()
    f = filters.StudyFilter()
    ids, treated = filters.matching(ev, f, arms)
    for aid, _ in analysis.analysis_choices(ctx.protocol):
        if stop is not None and stop.is_set():
            return
        key = (version, aid, tuple(ids), tuple(sorted(treated)), "")
        ctx.cache.get_or_compute(
            key, lambda a=aid: analysis.compute(ev, ctx.protocol, a, f, "", arms)
        )


def _view_query(request: Request) -> str:
    from urllib.parse import urlencode

    f = _filter(request)
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
        f=_filter(request),
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
        data, media_type=media[fmt], headers=_attachment(f"forest_{live.analysis_id}.{fmt}")
    )


def analyse_csv(request: Request) -> Response:
    require(request)
    live = _live(request)
    text = analysis.data_frame(live).to_csv(index=False)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers=_attachment(f"forest_{live.analysis_id}.csv"),
    )


def _attachment(name: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


# ------------------------------------------------------------------ data entry
async def data_form(request: Request) -> Response:
    frame = request.path_params["frame"]
    if frame not in entry.EDITABLE:
        raise HTTPException(404, "no such table")
    user = require(request, "enter_data" if request.method == "POST" else "read")
    if request.method == "GET":
        require(request, "enter_data")  # the form is only useful to those who may save it
    ctx = ctx_of(request)
    _, ev, _ = ctx.evidence()
    key = request.path_params.get("key")
    existing_record = entry.find_record(ev, frame, key) if key else None
    if key and existing_record is None:
        raise HTTPException(404, "no such row")
    if request.method == "GET":
        values = (
            entry.record_values(existing_record, frame)
            if existing_record
            else {c: "" for c, _ in entry.FRAMES[frame]}
        )
        for col in ("study_id", "arm_id"):
            if request.query_params.get(col) and not key:
                values[col] = request.query_params[col][:200]
        if not key:
            values["status"] = values.get("status") or "reported"
        return render(
            request,
            "data_form.html",
            frame=frame,
            fields=entry.form_fields(frame),
            values=values,
            key=key,
            errors={},
            warnings=[],
            saved=False,
        )
    form = await _form(request)
    values = entry.row_values(form, frame)
    keycol = entry.KEYS[frame][0]
    errors: dict[str, list[str]] = {}
    if key:
        values[keycol] = key  # the key of an edited row does not change
    elif entry.find_record(ev, frame, values[keycol]) is not None:
        errors.setdefault(keycol, []).append(f"{values[keycol]!r} exists already; edit it instead")
    report = entry.validate_row(frame, values, ev.frames())
    for issue in report.errors:
        errors.setdefault(issue.column or "_form", []).append(issue.message)
    warnings = [f"{i.column}: {i.message}" for i in report.warnings]
    if errors:
        return render(
            request,
            "data_form.html",
            status=422,
            frame=frame,
            fields=entry.form_fields(frame),
            values=values,
            key=key,
            errors=errors,
            warnings=warnings,
            saved=False,
        )
    sid, frames = entry.frames_for_row(ev, frame, report.frames[frame])
    hist.write(
        ctx.store,
        frames,
        username=user.username,
        action=f"{'edit' if key else 'add'} {frame}",
    )
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": f"/studies/{sid}"})
    return RedirectResponse(f"/studies/{sid}", status_code=303)


async def upload_page(request: Request) -> Response:
    if request.method == "GET":
        require(request, "enter_data")
        return render(request, "upload.html", preview=None, issues=[], token="", filename="")
    user = require(request, "enter_data")
    ctx = ctx_of(request)
    _, ev, _ = ctx.evidence()
    form = await _form(request)
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        raise InputError("choose a file to upload", column="file")
    data = await upload.read()
    from sci_evidence.evidence.validate import validate_tables

    tables = entry.read_upload(data, upload.filename or "upload.csv")
    report = validate_tables(tables, ev.frames())
    if not report.ok:
        return render(
            request,
            "upload.html",
            status=422,
            preview=None,
            issues=report.issues,
            token="",
            filename=upload.filename,
        )
    token = secrets.token_urlsafe(16)
    ctx.uploads[token] = (user.id, upload.filename, data)
    while len(ctx.uploads) > 50:
        ctx.uploads.pop(next(iter(ctx.uploads)))
    return render(
        request,
        "upload.html",
        preview=entry.preview(ev, report.frames),
        issues=report.issues,
        token=token,
        filename=upload.filename,
    )


async def upload_apply(request: Request) -> Response:
    user = require(request, "enter_data")
    ctx = ctx_of(request)
    form = await _form(request)
    item = ctx.uploads.pop(str(form.get("token", "")), None)
    if item is None or item[0] != user.id:
        raise HTTPException(400, "this upload has expired; upload the file again")
    _, filename, data = item
    from sci_evidence.evidence.validate import validate_tables

    _, ev, _ = ctx.evidence()
    report = validate_tables(entry.read_upload(data, filename), ev.frames())
    if not report.ok:  # the data changed since the preview
        return render(
            request,
            "upload.html",
            status=422,
            preview=None,
            issues=report.issues,
            token="",
            filename=filename,
        )
    # one transaction and one recorded change (and revert) for the whole file
    hist.write(
        ctx.store,
        report.frames,
        username=user.username,
        action="upload",
        message=f"upload {filename} (web, {user.username})",
    )
    return RedirectResponse("/history", status_code=303)


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


# ------------------------------------------------------------------ risk of bias
def _assessments(ctx: Context, sid: str, tool: str) -> list[dict]:
    from sqlalchemy import select

    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(T.rob_assessments, T.users.c.username)
            .join(T.users, T.users.c.id == T.rob_assessments.c.user_id)
            .where(T.rob_assessments.c.study_id == sid, T.rob_assessments.c.tool == tool)
            .order_by(T.rob_assessments.c.id)
        ).all()
    return [{**dict(r._mapping), "answers": json.loads(r.answers)} for r in rows]


def _consensus(ctx: Context, sid: str, tool: str) -> dict | None:
    from sqlalchemy import select

    with ctx.engine.connect() as conn:
        r = conn.execute(
            select(T.rob_consensus).where(
                T.rob_consensus.c.study_id == sid, T.rob_consensus.c.tool == tool
            )
        ).first()
    return None if r is None else {**dict(r._mapping), "judgements": json.loads(r.judgements)}


def _study(ev, sid: str) -> dict:  # noqa: ANN001
    try:
        return ev.study(sid)["study"]
    except Exception as exc:  # NotFoundError
        raise HTTPException(404, f"no study '{sid}'") from exc


def rob_list(request: Request) -> Response:
    user = require(request)
    ctx = ctx_of(request)
    _, ev, _ = ctx.evidence()
    from sci_evidence.evidence.model import records

    rows = []
    for s in records(ev.studies):
        tool = rob.tool_for_design(s["design"])
        a = _assessments(ctx, s["study_id"], tool.name)
        rows.append(
            {
                "study_id": s["study_id"],
                "label": f"{s['first_author']} {s['year'] or ''}",
                "tool": tool.title,
                "n_done": sum(x["done"] for x in a),
                "mine": next(
                    (("done" if x["done"] else "draft") for x in a if x["user_id"] == user.id), ""
                ),
                "consensus": _consensus(ctx, s["study_id"], tool.name) is not None,
            }
        )
    return render(request, "rob_list.html", rows=rows)


def _answers_from_form(tool: rob.Tool, form) -> dict:  # noqa: ANN001
    out = {}
    for d in tool.domains:
        answers = {}
        for q in d.questions:
            v = str(form.get(f"{d.id}__{q.id}", ""))
            if v in tool.answers:
                answers[q.id] = v
        judgement = str(form.get(f"{d.id}__judgement", ""))
        out[d.id] = {
            "answers": answers,
            "suggested": rob.suggest(tool, d, answers),
            "judgement": judgement if judgement in tool.judgements else "",
            "support": str(form.get(f"{d.id}__support", ""))[:4000],
        }
        if not out[d.id]["judgement"]:
            out[d.id]["judgement"] = out[d.id]["suggested"]
    if tool.has_overall:
        js = [out[d.id]["judgement"] for d in tool.domains]
        chosen = str(form.get("overall__judgement", ""))
        out["overall"] = {
            "suggested": rob.suggest_overall(tool, js),
            "judgement": chosen if chosen in tool.judgements else rob.suggest_overall(tool, js),
            "support": str(form.get("overall__support", ""))[:4000],
            "answers": {},
        }
    return out


async def rob_form(request: Request) -> Response:
    from datetime import UTC, datetime

    from sqlalchemy import insert, update

    user = require(request, "assess")
    ctx = ctx_of(request)
    _, ev, _ = ctx.evidence()
    sid = request.path_params["study_id"]
    study = _study(ev, sid)
    tool = rob.tool_for_design(study["design"])
    mine = next((a for a in _assessments(ctx, sid, tool.name) if a["user_id"] == user.id), None)
    errors: list[str] = []
    if request.method == "POST":
        if mine is not None and mine["done"]:
            raise HTTPException(409, "your assessment is complete and can no longer be changed")
        form = await _form(request)
        answers = _answers_from_form(tool, form)
        done = form.get("action") == "done"
        if done:
            missing = [d.title for d in tool.domains if not answers[d.id]["judgement"]]
            if missing:
                errors.append("a judgement is needed for every domain: " + "; ".join(missing))
                done = False
        with ctx.engine.begin() as conn:
            values = {"answers": json.dumps(answers), "done": done, "updated_at": datetime.now(UTC)}
            if mine is None:
                conn.execute(
                    insert(T.rob_assessments).values(
                        study_id=sid, tool=tool.name, user_id=user.id, **values
                    )
                )
            else:
                conn.execute(
                    update(T.rob_assessments)
                    .where(T.rob_assessments.c.id == mine["id"])
                    .values(**values)
                )
        hist.audit(
            ctx.engine,
            user.username,
            "rob " + ("done" if done else "save"),
            f"rob:{sid}:{tool.name}",
            None,
            answers,
        )
        if done:
            return RedirectResponse(f"/rob/{sid}/compare", status_code=303)
        mine = {"answers": answers, "done": False}
    return render(
        request,
        "rob_form.html",
        study=study,
        tool=tool,
        mine=mine or {"answers": {}, "done": False},
        errors=errors,
    )


def _pair(ctx: Context, sid: str, tool: str) -> list[dict]:
    return [a for a in _assessments(ctx, sid, tool) if a["done"]][:2]


def _domains(tool: rob.Tool) -> list[tuple[str, str]]:
    return [(d.id, d.title) for d in tool.domains] + (
        [("overall", "Overall")] if tool.has_overall else []
    )


def rob_compare(request: Request) -> Response:
    user = require(request)
    ctx = ctx_of(request)
    _, ev, _ = ctx.evidence()
    sid = request.path_params["study_id"]
    study = _study(ev, sid)
    tool = rob.tool_for_design(study["design"])
    pair = _pair(ctx, sid, tool.name)
    if len(pair) < 2:
        # blinding: nobody sees an assessment until two are complete
        return render(
            request,
            "rob_compare.html",
            study=study,
            tool=tool,
            pair=[],
            domains=_domains(tool),
            waiting=True,
            consensus=None,
            can_resolve=False,
        )
    can_resolve = user.can("resolve") or (
        user.can("assess") and user.id in {a["user_id"] for a in pair}
    )
    return render(
        request,
        "rob_compare.html",
        study=study,
        tool=tool,
        pair=pair,
        domains=_domains(tool),
        waiting=False,
        consensus=_consensus(ctx, sid, tool.name),
        can_resolve=can_resolve,
    )


async def rob_consensus(request: Request) -> Response:
    from datetime import UTC, datetime

    import pandas as pd
    from sqlalchemy import delete, insert

    user = require(request)
    if not (user.can("resolve") or user.can("assess")):
        raise HTTPException(403, f"your role ({user.role}) may not record a consensus")
    ctx = ctx_of(request)
    _, ev, _ = ctx.evidence()
    sid = request.path_params["study_id"]
    study = _study(ev, sid)
    tool = rob.tool_for_design(study["design"])
    pair = _pair(ctx, sid, tool.name)
    if len(pair) < 2:
        raise HTTPException(409, "two complete assessments are needed before a consensus")
    if not (
        user.can("resolve") or (user.can("assess") and user.id in {a["user_id"] for a in pair})
    ):
        raise HTTPException(
            403, "only an editor or one of the two assessors may record the consensus"
        )
    form = await _form(request)
    domains = [d.id for d in tool.domains] + (["overall"] if tool.has_overall else [])
    judgements = {}
    for d in domains:
        j = str(form.get(f"{d}__judgement", ""))
        if j not in tool.judgements:
            raise InputError(f"choose a consensus judgement for {d}", column=d, value=j)
        judgements[d] = {"judgement": j, "support": str(form.get(f"{d}__support", ""))[:4000]}
    rows = pd.DataFrame(
        [
            {
                "study_id": sid,
                "tool": tool.name,
                "domain": d,
                "judgement": v["judgement"],
                "support": v["support"],
                "source_key": "",
                "where_in_source": "",
                "verbatim": "",
                "status": "interpreted",
            }
            for d, v in judgements.items()
        ],
        dtype=object,
    )
    from sci_evidence.evidence.io import RawTable
    from sci_evidence.evidence.validate import validate_tables

    rep = validate_tables(
        [RawTable("risk_of_bias", rows, "consensus", tuple(range(1, len(rows) + 1)))], ev.frames()
    )
    if not rep.ok:
        raise InputError("; ".join(i.line() for i in rep.errors))
    with ctx.engine.begin() as conn:
        conn.execute(
            delete(T.rob_consensus).where(
                T.rob_consensus.c.study_id == sid, T.rob_consensus.c.tool == tool.name
            )
        )
        conn.execute(
            insert(T.rob_consensus).values(
                study_id=sid,
                tool=tool.name,
                judgements=json.dumps(judgements),
                username=user.username,
                at=datetime.now(UTC),
            )
        )
    hist.write(
        ctx.store,
        {"risk_of_bias": rep.frames["risk_of_bias"]},
        username=user.username,
        action="rob consensus",
    )
    return RedirectResponse(f"/rob/{sid}/compare", status_code=303)


def agreement(ctx: Context) -> dict:
    """Cohen's kappa per domain and overall, over the studies with two complete assessments
    (the first two, by the order they were started)."""
    from sqlalchemy import select

    with ctx.engine.connect() as conn:
        keys = conn.execute(
            select(T.rob_assessments.c.study_id, T.rob_assessments.c.tool).distinct()
        ).all()
    per: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    n_studies = 0
    for sid, tool_name in keys:
        pair = _pair(ctx, sid, tool_name)
        if len(pair) < 2:
            continue
        n_studies += 1
        tool = rob.TOOLS[tool_name]
        for d in [x.id for x in tool.domains] + (["overall"] if tool.has_overall else []):
            a = pair[0]["answers"].get(d, {}).get("judgement", "")
            b = pair[1]["answers"].get(d, {}).get("judgement", "")
            if a and b:
                per.setdefault((tool_name, d), ([], []))
                per[(tool_name, d)][0].append(a)
                per[(tool_name, d)][1].append(b)
    out = []
    for tool_name in rob.TOOLS:
        doms = [(d, v) for (t, d), v in per.items() if t == tool_name]
        if not doms:
            continue
        rows = [{"domain": d, "k": rob.cohen_kappa(*v)} for d, v in doms]
        all_a = [x for d, v in doms if d != "overall" for x in v[0]]
        all_b = [x for d, v in doms if d != "overall" for x in v[1]]
        out.append(
            {"tool": rob.TOOLS[tool_name].title, "rows": rows, "all": rob.cohen_kappa(all_a, all_b)}
        )
    return {"tools": out, "n_studies": n_studies}


def rob_agreement(request: Request) -> Response:
    require(request)
    return render(request, "rob_agreement.html", agreement=agreement(ctx_of(request)))


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
        data, media_type="application/zip", headers=_attachment(f"review-{run['id']}.zip")
    )


def review_changes(request: Request) -> Response:
    require(request)
    ctx = ctx_of(request)
    run = _run(request)
    prev = ctx.runs.previous_done(run["id"])
    diff = compare_runs(Path(run["out_dir"]), Path(prev["out_dir"])) if prev else []
    return render(request, "review_changes.html", run=run, prev=prev, diff=diff)


# ------------------------------------------------------------------ users
async def users_page(request: Request) -> Response:
    ctx = ctx_of(request)
    error = ""
    if request.method == "POST":
        admin = require(request, "manage_users")
        form = await _form(request)
        try:
            u = accounts.add_user(
                ctx.engine,
                str(form.get("username", "")),
                str(form.get("password", "")),
                str(form.get("role", "")),
            )
            hist.audit(
                ctx.engine, admin.username, "add user", f"user:{u.username}", None, {"role": u.role}
            )
        except InputError as exc:
            error = str(exc)
    else:
        require(request, "manage_users")
    return render(
        request,
        "users.html",
        users=accounts.list_users(ctx.engine),
        roles=accounts.ROLES,
        error=error,
        status=400 if error else 200,
    )


async def user_update(request: Request) -> Response:
    admin = require(request, "manage_users")
    ctx = ctx_of(request)
    form = await _form(request)
    uid = request.path_params["user_id"]
    role = str(form.get("role", ""))
    active = form.get("active") == "on"
    if uid == admin.id and (role != "admin" or not active):
        raise HTTPException(400, "you cannot remove your own administrator role")
    accounts.set_role(ctx.engine, uid, role, active)
    hist.audit(
        ctx.engine,
        admin.username,
        "set role",
        f"user:{uid}",
        None,
        {"role": role, "active": active},
    )
    return RedirectResponse("/admin/users", status_code=303)
