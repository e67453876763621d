"""The one adapter between the web and the evidence store's writes and history.

Every web write of evidence goes through :func:`write`: ``EvidenceStore.import_frames(...,
user=)`` (the store's one write path, one transaction, row-level history with old and new
values) plus one line in ``web_audit`` pointing at the store's change. The history pages
read the store's own ``changes()`` / ``change(id)``, and :func:`revert` is the store's
``revert(id, user=)``. Study snapshots (:func:`study_snapshot`) only serve the previews of
forms and uploads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import insert, select

from sci_evidence.evidence.columns import FRAMES, coerce_frame
from sci_evidence.web import tables as T

#: Frames that belong to a study, in the order a snapshot lists them.
STUDY_FRAMES = ("studies", "arms", "outcomes", "adverse_events", "risk_of_bias")


def study_snapshot(evidence, study_id: str) -> dict[str, list[dict]] | None:  # noqa: ANN001
    """Every row of a study (study frames, its provenance and screening rows) as records;
    None when the study does not exist."""
    from sci_evidence.evidence.model import records

    s = evidence.studies
    if study_id not in set(s["study_id"]):
        return None
    out = {}
    for name in STUDY_FRAMES:
        df = getattr(evidence, name)
        out[name] = records(df[df["study_id"] == study_id])
    arm_ids = set(evidence.arms.loc[evidence.arms["study_id"] == study_id, "arm_id"])
    prov = evidence.provenance
    out["provenance"] = records(prov[(prov["key"] == study_id) | prov["key"].isin(arm_ids)])
    scr = evidence.screening
    out["screening"] = records(scr[scr["study_id"] == study_id])
    return out


def snapshot_frames(snap: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """Typed frames from a snapshot (every frame of the study, even empty ones)."""
    out = {}
    for name, recs in snap.items():
        cols = [c for c, _ in FRAMES[name]]
        out[name] = coerce_frame(pd.DataFrame(recs, columns=cols), name)
    return out


def data_version(store) -> int:  # noqa: ANN001
    """A number that changes with every write to the evidence (the store's last change id)."""
    latest = store.changes(limit=1)
    return latest[0].id if latest else 0


def write(
    store,  # noqa: ANN001
    frames: dict[str, pd.DataFrame],
    *,
    username: str,
    action: str,
    message: str = "",
):  # noqa: ANN201 - the store's WriteSummary
    """Import ``frames`` as ``username`` in one transaction (the store records every edited
    row with its old and new values) and note the change in the audit log."""
    summary = store.import_frames(
        frames, message=message or f"{action} (web, {username})", source="web", user=username
    )
    if summary.change_id is not None:  # None: the data was already so, nothing recorded
        studies = sorted({*summary.added, *summary.replaced})
        target = f"study:{','.join(studies)}" if studies else "tables"
        audit(store.engine, username, action, target, store_change=summary.change_id)
    return summary


def audit(
    engine,
    username: str,
    action: str,
    target: str,
    old: object = None,
    new: object = None,
    *,
    store_change: int | None = None,
) -> None:  # noqa: ANN001
    """Append one line to the audit log (every web write calls this)."""
    with engine.begin() as conn:
        conn.execute(
            insert(T.audit).values(
                at=datetime.now(UTC),
                username=username,
                action=action,
                target=target,
                old="" if old is None else json.dumps(old, ensure_ascii=False, default=str),
                new="" if new is None else json.dumps(new, ensure_ascii=False, default=str),
                store_change=store_change,
            )
        )


def audit_log(engine, limit: int = 500) -> list[dict]:  # noqa: ANN001
    with engine.connect() as conn:
        rows = conn.execute(select(T.audit).order_by(T.audit.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def changes(store, limit: int = 300) -> list[dict]:  # noqa: ANN001
    """The store's change history, newest first, each with its web audit entry when the web
    made it (``web``: who, action, target)."""
    listed = store.changes(limit=limit)
    with store.engine.connect() as conn:
        web = {
            r.store_change: dict(r._mapping)
            for r in conn.execute(
                select(T.audit).where(T.audit.c.store_change.in_([c.id for c in listed]))
            ).all()
        }
    return [_change_dict(c, web.get(c.id)) for c in listed]


def _change_dict(c, web: dict | None) -> dict:  # noqa: ANN001 - the store's Change
    return {
        "id": c.id,
        "at": c.at,
        "user": c.user,
        "action": c.action,
        "message": c.message,
        "source": c.source,
        "study_ids": c.study_ids,
        "detail": c.detail,
        "web": web,
    }


def change(store, change_id: int) -> dict:  # noqa: ANN001
    """One change with its field-level differences (from the store's row-level history).

    Raises InputError when there is no such change.
    """
    c = store.change(change_id)
    with store.engine.connect() as conn:
        w = conn.execute(select(T.audit).where(T.audit.c.store_change == change_id)).first()
    out = _change_dict(c, dict(w._mapping) if w is not None else None)
    out["diff"] = row_diff(c.rows)
    # the store reverts any change with recorded rows (and refuses, with the reason, when a
    # row was changed again later)
    out["revertible"] = bool(c.rows)
    return out


def row_diff(rows) -> list[dict]:  # noqa: ANN001 - the store's RowChange objects
    """One line per added or removed row and per changed field."""
    out: list[dict] = []
    for r in rows:
        key = ":".join(map(str, r.key))
        if r.op == "insert":
            out.append({"table": r.table, "key": key, "field": "", "old": "", "new": "(added)"})
        elif r.op == "delete":
            out.append({"table": r.table, "key": key, "field": "", "old": "(removed)", "new": ""})
        else:
            for col in r.fields:
                out.append(
                    {
                        "table": r.table,
                        "key": key,
                        "field": col,
                        "old": (r.old or {}).get(col),
                        "new": (r.new or {}).get(col),
                    }
                )
    return out


def diff(old: dict | None, new: dict | None) -> list[dict]:
    """Rows added, removed and fields changed between two study snapshots."""
    from sci_evidence.evidence.columns import KEYS

    out: list[dict] = []
    old = old or {}
    new = new or {}
    for name in dict.fromkeys([*old, *new]):
        if name not in KEYS:
            continue
        key = KEYS[name]
        o = {tuple(r.get(k) for k in key): r for r in old.get(name, [])}
        n = {tuple(r.get(k) for k in key): r for r in new.get(name, [])}
        for k in n.keys() - o.keys():
            out.append(
                {
                    "table": name,
                    "key": ":".join(map(str, k)),
                    "field": "",
                    "old": "",
                    "new": "(added)",
                }
            )
        for k in o.keys() - n.keys():
            out.append(
                {
                    "table": name,
                    "key": ":".join(map(str, k)),
                    "field": "",
                    "old": "(removed)",
                    "new": "",
                }
            )
        for k in o.keys() & n.keys():
            for col, v in n[k].items():
                if o[k].get(col) != v:
                    out.append(
                        {
                            "table": name,
                            "key": ":".join(map(str, k)),
                            "field": col,
                            "old": o[k].get(col),
                            "new": v,
                        }
                    )
    return out


def revert(store, change_id: int, *, username: str):  # noqa: ANN001, ANN201
    """Undo a change with the store's own revert (itself a recorded change by ``username``).

    Raises InputError when the store cannot (no such change, no recorded rows, or a row
    changed again later: the message says which).
    """
    summary = store.revert(
        change_id, user=username, message=f"revert change {change_id} (web, {username})"
    )
    audit(store.engine, username, "revert", f"change {change_id}", store_change=summary.change_id)
    return summary
