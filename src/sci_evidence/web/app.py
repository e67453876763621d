"""The Starlette application: routes, authorisation, CSRF, sessions, security headers.

Build it with :func:`create_app`; ``sci-evidence serve`` runs it under uvicorn. The pages
are in :mod:`sci_evidence.web.routes`, one module per area (auth, studies, analyse, entry,
history, rob, runs); what every page needs (context, authorisation, rendering, errors) is in
:mod:`sci_evidence.web.pages`.

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

import secrets
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sci_evidence.errors import InputError
from sci_evidence.web import accounts, analysis, filters
from sci_evidence.web.pages import (
    CSP,
    HERE,
    Context,
    http_error,
    input_error,
    templates_env,
)
from sci_evidence.web.routes import analyse, auth, studies
from sci_evidence.web.routes import entry as entry_routes
from sci_evidence.web.routes import history as history_routes
from sci_evidence.web.routes import rob as rob_routes
from sci_evidence.web.routes import runs as run_routes
from sci_evidence.web.runs import Runs


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
    templates = templates_env()

    routes = [
        Route("/", lambda r: RedirectResponse("/studies", 303)),
        Route("/login", auth.login_page, methods=["GET", "POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/studies", studies.studies_page),
        Route("/studies/{study_id}", studies.study_page),
        Route("/analyse", analyse.analyse_page),
        Route("/analyse/result", analyse.analyse_result),
        Route("/analyse/figure.{fmt}", analyse.analyse_figure),
        Route("/analyse/data.csv", analyse.analyse_csv),
        Route("/data/{frame}/new", entry_routes.data_form, methods=["GET", "POST"]),
        Route("/data/{frame}/edit/{key}", entry_routes.data_form, methods=["GET", "POST"]),
        Route("/upload", entry_routes.upload_page, methods=["GET", "POST"]),
        Route("/upload/apply", entry_routes.upload_apply, methods=["POST"]),
        Route("/history", history_routes.history_page),
        Route("/history/{change_id:int}", history_routes.change_page),
        Route("/history/{change_id:int}/revert", history_routes.change_revert, methods=["POST"]),
        Route("/audit", history_routes.audit_page),
        Route("/rob", rob_routes.rob_list),
        Route("/rob/agreement", rob_routes.rob_agreement),
        Route("/rob/{study_id}", rob_routes.rob_form, methods=["GET", "POST"]),
        Route("/rob/{study_id}/compare", rob_routes.rob_compare),
        Route("/rob/{study_id}/consensus", rob_routes.rob_consensus, methods=["POST"]),
        Route("/reviews", run_routes.reviews_page, methods=["GET", "POST"]),
        Route("/reviews/{run_id:int}/progress", run_routes.review_progress),
        Route("/reviews/{run_id:int}/report", run_routes.review_report),
        Route("/reviews/{run_id:int}/review.zip", run_routes.review_zip),
        Route("/reviews/{run_id:int}/changes", run_routes.review_changes),
        Route("/admin/users", auth.users_page, methods=["GET", "POST"]),
        Route("/admin/users/{user_id:int}", auth.user_update, methods=["POST"]),
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
        exception_handlers={HTTPException: http_error, InputError: input_error},
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
