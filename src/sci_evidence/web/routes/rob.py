"""Risk of bias in pairs: blinded assessment, comparison, consensus and agreement."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    RedirectResponse,
    Response,
)

from sci_evidence.errors import InputError
from sci_evidence.web import history as hist
from sci_evidence.web import rob
from sci_evidence.web import tables as T
from sci_evidence.web.pages import (
    Context,
    ctx_of,
    form_data,
    render,
    require,
)


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
        form = await form_data(request)
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
    form = await form_data(request)
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
