"""Logging in and out, and the administration of users."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    RedirectResponse,
    Response,
)

from sci_evidence.errors import InputError
from sci_evidence.web import accounts
from sci_evidence.web import history as hist
from sci_evidence.web.pages import (
    ctx_of,
    form_data,
    render,
    require,
)


# ------------------------------------------------------------------ login
async def login_page(request: Request) -> Response:
    ctx = ctx_of(request)
    next_url = request.query_params.get("next", "/studies")
    if not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        next_url = "/studies"  # never an open redirect (//host, /\host)
    if request.method == "GET":
        return render(request, "login.html", next=next_url, error="")
    form = await form_data(request)
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


# ------------------------------------------------------------------ users
async def users_page(request: Request) -> Response:
    ctx = ctx_of(request)
    error = ""
    if request.method == "POST":
        admin = require(request, "manage_users")
        form = await form_data(request)
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
    form = await form_data(request)
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
