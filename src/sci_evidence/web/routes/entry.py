"""Data entry: forms for studies, arms, outcomes and adverse events; an Excel/CSV upload
with a preview of its changes."""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    RedirectResponse,
    Response,
)

from sci_evidence.errors import InputError
from sci_evidence.web import entry
from sci_evidence.web import history as hist
from sci_evidence.web.pages import (
    ctx_of,
    form_data,
    render,
    require,
)


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
    form = await form_data(request)
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
    form = await form_data(request)
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
    form = await form_data(request)
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
