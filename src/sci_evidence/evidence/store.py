"""Storage of the evidence base in a real database (SQLite by default, PostgreSQL by URL).

URL resolution (:func:`resolve_url`): the ``--db`` option or ``db=`` argument, else
``SCI_EVIDENCE_DB``, else an SQLite file ``evidence.sqlite`` in
``platformdirs.user_data_dir("sci-evidence")``. ``postgresql://`` URLs use the psycopg 3
driver; a plain path is an SQLite file.

Every write is one transaction: an import lands whole or not at all. Each write appends to
``evidence_history`` (when, who = ``SCI_EVIDENCE_USER`` or the OS user, what, why).
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, create_engine, delete, event, func, insert, inspect, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from sci_evidence.errors import InputError
from sci_evidence.evidence.columns import FRAME_NAMES, FRAMES, KEYS, coerce_frame, empty_frame
from sci_evidence.evidence.model import EvidenceSet, _records
from sci_evidence.evidence.schema import (
    SCHEMA_VERSION,
    history_table,
    meta_table,
    tables,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Frames whose rows belong to a study (replaced study by study on import).
STUDY_FRAMES = ("studies", "arms", "outcomes", "adverse_events", "risk_of_bias")


def default_sqlite_path() -> Path:
    """The default database file: ``<user data dir>/sci-evidence/evidence.sqlite``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("sci-evidence")) / "evidence.sqlite"


def resolve_url(db: str | None = None) -> str:
    """The SQLAlchemy URL to use: ``db``, else ``SCI_EVIDENCE_DB``, else the default SQLite file.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://``; a value without
    ``://`` is taken as an SQLite file path.
    """
    raw = db or os.environ.get("SCI_EVIDENCE_DB") or ""
    if not raw:
        path = default_sqlite_path()
        return f"sqlite:///{path}"
    raw = raw.strip()
    if "://" not in raw:
        return f"sqlite:///{Path(raw).expanduser()}"
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw[len("postgresql://") :]
    return raw


def mask_url(url: str) -> str:
    """The URL with its password hidden (for messages and history)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def current_user() -> str:
    """Who writes: ``SCI_EVIDENCE_USER`` or the operating-system user."""
    user = os.environ.get("SCI_EVIDENCE_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


@dataclass(frozen=True)
class WriteSummary:
    """What one write did: studies added/replaced, rows written per frame, the history ids."""

    action: str
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{self.action}: {len(self.added)} studies added, {len(self.replaced)} replaced"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged")
        written = ", ".join(f"{n} {k}" for k, n in self.rows.items() if n)
        return "; ".join(parts) + (f" ({written} rows written)" if written else "")

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "added": list(self.added),
            "replaced": list(self.replaced),
            "unchanged": list(self.unchanged),
            "rows": dict(self.rows),
        }


class EvidenceStore:
    """The evidence base in a database.

    Parameters
    ----------
    url : str, optional
        Database URL or SQLite path (see :func:`resolve_url`).
    schema : str, optional
        PostgreSQL schema (namespace) to use instead of ``public`` (tests use a fresh one).
    """

    def __init__(self, url: str | None = None, *, schema: str | None = None) -> None:
        self.url = resolve_url(url)
        self.schema = schema
        self._engine: Engine | None = None

    # ------------------------------------------------------------------ connection
    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for other databases and in-memory SQLite."""
        if not self.is_sqlite:
            return None
        try:
            database = make_url(self.url).database
        except ArgumentError:
            return None
        return Path(database) if database and database != ":memory:" else None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    def _make_engine(self) -> Engine:
        try:
            url = make_url(self.url)
        except ArgumentError as exc:
            raise InputError("not a database URL", column="--db", value=self.url) from exc
        kwargs: dict = {}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        elif url.get_backend_name() == "postgresql" and self.schema:
            kwargs["connect_args"] = {"options": f"-csearch_path={self.schema}"}
        try:
            engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError, SQLAlchemyError) as exc:
            raise InputError(
                f"cannot use database {mask_url(self.url)}: {exc}".splitlines()[0]
            ) from exc
        if url.get_backend_name() == "sqlite":

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        return engine

    def _connect_error(self, exc: Exception) -> InputError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputError(f"cannot open the evidence database {self.display_url}: {first}")

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # ------------------------------------------------------------------ schema
    def is_initialised(self) -> bool:
        """True when the evidence tables exist (``evidence init`` has run).

        A missing SQLite file is not created by asking.
        """
        path = self.sqlite_path
        if path is not None and not path.is_file():
            return False
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table("evidence_meta") and (
                    conn.execute(
                        select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                    ).scalar()
                    is not None
                )
        except (OperationalError, SQLAlchemyError) as exc:
            raise self._connect_error(exc) from exc

    def migrate(self, conn: Connection) -> None:
        """Bring the schema to the newest revision (Alembic, run programmatically)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    def init(self, *, load_bundled: bool = True, message: str = "") -> WriteSummary:
        """Create the tables (migrations) and, when the database is empty, load the bundled set.

        Re-running on an initialised database changes nothing (the bundled set is loaded only
        into an empty database).
        """
        try:
            with self.engine.begin() as conn:
                self.migrate(conn)
                version = conn.execute(
                    select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                ).scalar()
                if version is None:
                    conn.execute(
                        insert(meta_table),
                        [
                            {"key": "schema_version", "value": SCHEMA_VERSION},
                            {"key": "created_at", "value": _now().isoformat()},
                        ],
                    )
                n_studies = conn.execute(
                    select(func.count()).select_from(tables["studies"])
                ).scalar_one()
                if load_bundled and n_studies == 0:
                    from sci_evidence.evidence.bundled import read_bundled_frames

                    return self._write(
                        conn,
                        read_bundled_frames(),
                        action="init",
                        message=message or "load the bundled evidence base",
                        source="bundled",
                    )
                self._history(conn, "init", message or "initialise the database", "", "", {})
                return WriteSummary(action="init")
        except OperationalError as exc:
            raise self._connect_error(exc) from exc

    def _require_initialised(self) -> None:
        if not self.is_initialised():
            raise InputError(
                f"the evidence database {self.display_url} is not initialised; "
                "run 'sci-evidence evidence init' first"
            )

    # ------------------------------------------------------------------ read
    def read_frames(self) -> dict[str, pd.DataFrame]:
        """Every frame, typed, in stored order."""
        self._require_initialised()
        out = {}
        with self.engine.connect() as conn:
            for name in FRAME_NAMES:
                out[name] = self._read_frame(conn, name)
        return out

    def _read_frame(self, conn: Connection, name: str) -> pd.DataFrame:
        t = tables[name]
        cols = [c for c, _ in FRAMES[name]]
        rows = conn.execute(select(*[t.c[c] for c in cols]).order_by(t.c.position, t.c.id)).all()
        if not rows:
            return empty_frame(name)
        return coerce_frame(pd.DataFrame([tuple(r) for r in rows], columns=cols), name)

    def load(self) -> EvidenceSet:
        """The stored evidence as an :class:`EvidenceSet`."""
        return EvidenceSet.from_frames(self.read_frames(), origin=self.display_url)

    def history(self) -> pd.DataFrame:
        """The change history, oldest first: ``id, at, user, action, message, source,
        study_id, detail`` (detail is JSON text)."""
        self._require_initialised()
        with self.engine.connect() as conn:
            rows = conn.execute(select(history_table).order_by(history_table.c.id)).all()
        cols = ["id", "at", "user", "action", "message", "source", "study_id", "detail"]
        return pd.DataFrame([tuple(r) for r in rows], columns=cols)

    # ------------------------------------------------------------------ write
    def import_frames(
        self, frames: dict[str, pd.DataFrame], *, message: str = "", source: str = ""
    ) -> WriteSummary:
        """Write validated frames in one transaction.

        Study-level frames (``studies, arms, outcomes, adverse_events, risk_of_bias``) replace
        whole studies: every study named in the file has all its old rows (and its provenance
        and per-study screening rows) replaced by the file's. The other frames are upserted by
        their key. Nothing is written when anything fails.
        """
        self._require_initialised()
        with self.engine.begin() as conn:
            return self._write(conn, frames, action="import", message=message, source=source)

    def _write(
        self,
        conn: Connection,
        frames: dict[str, pd.DataFrame],
        *,
        action: str,
        message: str,
        source: str,
    ) -> WriteSummary:
        frames = {n: coerce_frame(df, n) for n, df in frames.items() if n in FRAMES}
        # Studies with a row in the file's `studies` frame are replaced whole; rows of other
        # frames are upserted by their key (e.g. an outcomes-only file adds outcomes).
        whole = list(dict.fromkeys(frames["studies"]["study_id"])) if "studies" in frames else []
        touched = list(whole)
        for name in STUDY_FRAMES[1:]:
            if name in frames:
                touched.extend(frames[name]["study_id"].tolist())
        touched = list(dict.fromkeys(s for s in touched if s))
        st = tables["studies"]
        existing = set(
            conn.execute(select(st.c.study_id).where(st.c.study_id.in_(touched))).scalars()
        )
        before = {sid: self._study_snapshot(conn, sid) for sid in touched if sid in existing}
        if whole:
            at = tables["arms"]
            arm_ids = list(
                conn.execute(select(at.c.arm_id).where(at.c.study_id.in_(whole))).scalars()
            )
            for name in ("outcomes", "adverse_events", "risk_of_bias", "arms", "studies"):
                t = tables[name]
                conn.execute(delete(t).where(t.c.study_id.in_(whole)))
            pt = tables["provenance"]
            conn.execute(delete(pt).where(pt.c.key.in_(whole + arm_ids)))
            sct = tables["screening"]
            conn.execute(delete(sct).where(sct.c.study_id.in_(whole)))
        rows_written: dict[str, int] = {}
        for name in FRAME_NAMES:
            if name not in frames or frames[name].empty:
                continue
            df = frames[name]
            t = tables[name]
            if name in STUDY_FRAMES:
                upsert = df[~df["study_id"].isin(whole)]
            elif name == "screening":
                upsert = df[~df["study_id"].isin(whole) | (df["study_id"] == "")]
            else:
                upsert = df
            if not upsert.empty:
                self._delete_by_keys(conn, name, upsert)
            start = conn.execute(select(func.coalesce(func.max(t.c.position), 0))).scalar_one() + 1
            records = _records(df)
            for i, rec in enumerate(records):
                rec["position"] = start + i
            conn.execute(insert(t), records)
            rows_written[name] = len(records)
        study_ids = touched
        added, replaced, unchanged = [], [], []
        for sid in study_ids:
            if sid not in existing:
                added.append(sid)
                self._history(conn, action, message, source, sid, {"change": "added"})
                continue
            diff = _diff(before[sid], self._study_snapshot(conn, sid))
            if diff:
                replaced.append(sid)
                self._history(conn, action, message, source, sid, {"change": "replaced", **diff})
            else:
                unchanged.append(sid)
        other = {n: k for n, k in rows_written.items() if n not in STUDY_FRAMES}
        if other or not study_ids:
            self._history(conn, action, message, source, "", {"rows": other})
        return WriteSummary(
            action=action,
            added=tuple(added),
            replaced=tuple(replaced),
            unchanged=tuple(unchanged),
            rows=rows_written,
        )

    def _delete_by_keys(self, conn: Connection, name: str, df: pd.DataFrame) -> None:
        """Delete the stored rows whose key the file brings again (an upsert's first half)."""
        t = tables[name]
        keys = KEYS[name]
        # One query for the stored keys, then deletes only for the keys that collide: a
        # round trip per row would dominate on PostgreSQL.
        stored = {tuple(r) for r in conn.execute(select(*[t.c[k] for k in keys])).all()}
        if not stored:
            return
        incoming = [tuple(_records(df[list(keys)])[i].values()) for i in range(len(df))]
        for rec in dict.fromkeys(k for k in incoming if k in stored):
            cond = [t.c[k] == v for k, v in zip(keys, rec, strict=True)]
            conn.execute(delete(t).where(*cond))

    def _study_snapshot(self, conn: Connection, study_id: str) -> dict[str, list[dict]]:
        snap = {}
        for name in STUDY_FRAMES:
            t = tables[name]
            cols = [c for c, _ in FRAMES[name]]
            rows = conn.execute(
                select(*[t.c[c] for c in cols]).where(t.c.study_id == study_id).order_by(t.c.id)
            ).all()
            df = coerce_frame(pd.DataFrame([tuple(r) for r in rows], columns=cols), name)
            snap[name] = _records(df)
        return snap

    def _history(
        self,
        conn: Connection,
        action: str,
        message: str,
        source: str,
        study_id: str,
        detail: dict,
    ) -> None:
        conn.execute(
            insert(history_table).values(
                at=_now(),
                user=current_user(),
                action=action,
                message=message,
                source=source,
                study_id=study_id,
                detail=json.dumps(detail, ensure_ascii=False, default=str),
            )
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _diff(old: dict[str, list[dict]], new: dict[str, list[dict]]) -> dict:
    """What changed in one study: rows added/removed per frame and changed fields (max 50)."""
    out: dict = {}
    changes: list[str] = []
    for name in STUDY_FRAMES:
        key = KEYS[name]
        o = {tuple(r[k] for k in key): r for r in old.get(name, [])}
        n = {tuple(r[k] for k in key): r for r in new.get(name, [])}
        added = [":".join(map(str, k)) for k in n if k not in o]
        removed = [":".join(map(str, k)) for k in o if k not in n]
        for k in n.keys() & o.keys():
            for col, v in n[k].items():
                if o[k].get(col) != v:
                    changes.append(
                        f"{name}[{':'.join(map(str, k))}].{col}: {o[k].get(col)!r} → {v!r}"
                    )
        if added:
            out.setdefault("added", {})[name] = added
        if removed:
            out.setdefault("removed", {})[name] = removed
    if changes:
        out["changed"] = changes[:50]
        if len(changes) > 50:
            out["changed_more"] = len(changes) - 50
    return out
