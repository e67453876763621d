"""The one adapter between the web and the evidence store's writes and history.

Every web write goes through :func:`write`: it imports validated frames with
``EvidenceStore.import_frames`` (the store's one write path, one transaction) and records in
``web_audit`` who did it, when, and the study's rows before and after. :func:`revert` puts a
study back as it was before a change.

The store is gaining ``user=`` on writes, old/new values in its history and
``revert(change_id, user=...)``; this module uses them when present (checked by signature)
and otherwise does the same with what the store has today: the user is passed through
``SCI_EVIDENCE_USER`` under the application's write lock, and a revert re-imports the
study's recorded snapshot. At merge the lead can point :func:`write`, :func:`changes` and
:func:`revert` at the store's own API without touching the routes.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import func, insert, select

from sci_evidence.errors import InputError
from sci_evidence.evidence.columns import FRAMES, coerce_frame
from sci_evidence.web import tables as T

#: Frames that belong to a study, in the order a snapshot lists them.
STUDY_FRAMES = ("studies", "arms", "outcomes", "adverse_events", "risk_of_bias")

_WRITE_LOCK = threading.Lock()


def study_snapshot(evidence, study_id: str) -> dict[str, list[dict]] | None:  # noqa: ANN001
    """Every row of a study (study frames, its provenance and screening rows) as records;
    None when the study does not exist."""
    from sci_evidence.evidence.model import _records

    s = evidence.studies
    if study_id not in set(s["study_id"]):
        return None
    out = {}
    for name in STUDY_FRAMES:
        df = getattr(evidence, name)
        out[name] = _records(df[df["study_id"] == study_id])
    arm_ids = set(evidence.arms.loc[evidence.arms["study_id"] == study_id, "arm_id"])
    prov = evidence.provenance
    out["provenance"] = _records(prov[(prov["key"] == study_id) | prov["key"].isin(arm_ids)])
    scr = evidence.screening
    out["screening"] = _records(scr[scr["study_id"] == study_id])
    return out


def snapshot_frames(snap: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """Typed frames from a snapshot (every frame of the study, even empty ones)."""
    out = {}
    for name, recs in snap.items():
        cols = [c for c, _ in FRAMES[name]]
        out[name] = coerce_frame(pd.DataFrame(recs, columns=cols), name)
    return out


@contextlib.contextmanager
def _as_user(username: str) -> Iterator[None]:
    old = os.environ.get("SCI_EVIDENCE_USER")
    os.environ["SCI_EVIDENCE_USER"] = username
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SCI_EVIDENCE_USER", None)
        else:
            os.environ["SCI_EVIDENCE_USER"] = old


def _last_change(store) -> int:  # noqa: ANN001
    from sci_evidence.evidence.schema import history_table

    with store.engine.connect() as conn:
        return int(
            conn.execute(select(func.coalesce(func.max(history_table.c.id), 0))).scalar_one()
        )


def data_version(store) -> int:  # noqa: ANN001
    """A number that changes with every write to the evidence (the last history id)."""
    return _last_change(store)


def write(
    store,  # noqa: ANN001
    frames: dict[str, pd.DataFrame],
    *,
    username: str,
    action: str,
    old: dict[str, dict | None],
    message: str = "",
):  # noqa: ANN201 - the store's WriteSummary
    """Import ``frames`` as ``username`` in one transaction and record it in the audit log.

    ``old`` maps each study the frames touch to its rows before (None: a new study). Each
    store history line of the write gets one audit line: the study's rows before and after,
    so that any one study of a multi-study write can be shown and reverted on its own.
    """
    kwargs = {"message": message or f"{action} (web, {username})", "source": "web"}
    if "user" in inspect.signature(store.import_frames).parameters:
        kwargs["user"] = username
    from sci_evidence.evidence.schema import history_table

    with _WRITE_LOCK, _as_user(username):
        before = _last_change(store)
        summary = store.import_frames(frames, **kwargs)
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(history_table.c.id, history_table.c.study_id)
                .where(history_table.c.id > before)
                .order_by(history_table.c.id)
            ).all()
        after = store.load() if any(r.study_id for r in rows) else None
        for r in rows:
            if r.study_id:
                audit(
                    store.engine,
                    username,
                    action,
                    f"study:{r.study_id}",
                    old.get(r.study_id),
                    study_snapshot(after, r.study_id),
                    store_change=int(r.id),
                )
            else:
                audit(store.engine, username, action, "tables", store_change=int(r.id))
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
    h = store.history()
    with store.engine.connect() as conn:
        web = {
            r.store_change: r
            for r in conn.execute(select(T.audit).where(T.audit.c.store_change.is_not(None))).all()
        }
    out = []
    for r in h.iloc[::-1].head(limit).itertuples(index=False):
        try:
            detail = json.loads(r.detail or "{}")
        except ValueError:
            detail = {"text": r.detail}
        w = web.get(int(r.id))
        out.append(
            {
                "id": int(r.id),
                "at": r.at,
                "user": r.user,
                "action": r.action,
                "message": r.message,
                "source": r.source,
                "study_id": r.study_id,
                "detail": detail,
                "web": dict(w._mapping) if w is not None else None,
            }
        )
    return out


def change(store, change_id: int) -> dict:  # noqa: ANN001
    """One change with its before/after rows and a field-level diff (when the web made it)."""
    for c in changes(store, limit=10**9):
        if c["id"] == change_id:
            break
    else:
        raise InputError("no such change", value=str(change_id))
    c["old"] = c["new"] = None
    c["diff"] = []
    if c["web"] is not None:
        c["old"] = json.loads(c["web"]["old"]) if c["web"]["old"] else None
        c["new"] = json.loads(c["web"]["new"]) if c["web"]["new"] else None
        c["diff"] = diff(c["old"], c["new"])
    c["revertible"] = hasattr(store, "revert") or (
        c["web"] is not None and c["web"]["action"] != "revert" and isinstance(c["old"], dict)
    )
    return c


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


def revert(store, evidence, change_id: int, *, username: str):  # noqa: ANN001, ANN201
    """Undo a change: the study is put back as it was before it.

    Uses ``store.revert(change_id, user=...)`` when the store has it. Otherwise the change
    must have been made through the web (its snapshot is in the audit log); reverting the
    addition of a whole study needs the store's own revert (the store cannot delete).
    """
    if hasattr(store, "revert"):
        with _WRITE_LOCK:
            result = store.revert(change_id, user=username)
            audit(
                store.engine,
                username,
                "revert",
                f"change {change_id}",
                store_change=_last_change(store),
            )
        return result
    c = change(store, change_id)
    if not c["revertible"]:
        raise InputError(
            "this change cannot be reverted here (not made through the web, a revert itself, "
            "or the addition of a whole study)",
            value=str(change_id),
        )
    sid = c["web"]["target"].split(":", 1)[-1]
    return write(
        store,
        snapshot_frames(c["old"]),
        username=username,
        action="revert",
        old={sid: study_snapshot(evidence, sid)},
        message=f"revert change {change_id} (web, {username})",
    )
