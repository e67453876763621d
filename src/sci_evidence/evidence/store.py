"""Storage of the evidence base in a real database (SQLite by default, PostgreSQL by URL).

URL resolution (:func:`resolve_url`): the ``--db`` option or ``db=`` argument, else
``SCI_EVIDENCE_DB``, else an SQLite file ``evidence.sqlite`` in
``platformdirs.user_data_dir("sci-evidence")``. ``postgresql://`` URLs use the psycopg 3
driver; a plain path is an SQLite file.

Every write is one transaction: an import lands whole or not at all. Writers queue one behind
the other (SQLite ``BEGIN IMMEDIATE`` with a busy timeout, PostgreSQL an advisory lock), so
a write always compares against the state it changes. A write compares the incoming rows
with the stored ones by key and touches only what differs; every change appends one row to
``evidence_history`` (when, who, what, why) and one row per edited evidence row to
``evidence_row_changes`` (old and new values), from which :meth:`EvidenceStore.revert`
restores the state before a change. Writing data identical to what is stored changes and
records nothing.

Faults of the machine (a locked, read-only or full database, a value the database refuses)
become one :class:`~sci_evidence.errors.InputError` line; the transaction is rolled back, so
nothing is written.

The busy timeout (seconds a writer waits for another) is ``SCI_EVIDENCE_BUSY_TIMEOUT``,
default 30.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)

from sci_evidence.errors import InputError
from sci_evidence.evidence.columns import FRAME_NAMES, FRAMES, KEYS, coerce_frame, empty_frame
from sci_evidence.evidence.model import EvidenceSet, _records
from sci_evidence.evidence.schema import (
    _FOREIGN,
    SCHEMA_VERSION,
    TABLE_NAMES,
    history_table,
    meta_table,
    row_changes_table,
    tables,
)
from sci_evidence.outputs import is_sqlite_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Frames whose rows belong to a study (replaced study by study on import).
STUDY_FRAMES = ("studies", "arms", "outcomes", "adverse_events", "risk_of_bias")
#: Seconds a writer waits for another to finish before giving up (SQLite busy timeout,
#: PostgreSQL lock timeout); ``SCI_EVIDENCE_BUSY_TIMEOUT`` overrides it.
DEFAULT_BUSY_TIMEOUT = 30.0
#: PostgreSQL advisory-lock key that serialises the writers of one database.
_PG_WRITE_LOCK = 0x5C1E7D
_CHUNK = 500  # rows per IN (...) list: far below SQLite's and PostgreSQL's parameter limits

_F = TypeVar("_F", bound=Callable[..., Any])


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
    """Who writes by default: ``SCI_EVIDENCE_USER``, else the operating-system user."""
    user = os.environ.get("SCI_EVIDENCE_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def busy_timeout() -> float:
    """Seconds a writer waits for another writer: ``SCI_EVIDENCE_BUSY_TIMEOUT`` or 30."""
    raw = os.environ.get("SCI_EVIDENCE_BUSY_TIMEOUT", "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_BUSY_TIMEOUT
    except ValueError:
        raise InputError(
            "not a number of seconds", column="SCI_EVIDENCE_BUSY_TIMEOUT", value=raw
        ) from None
    return max(value, 0.0)


# ------------------------------------------------------------------------ results
@dataclass(frozen=True)
class WriteSummary:
    """What one write did: studies added/replaced/unchanged, rows written per frame.

    ``change_id`` is the history id of the change (``None`` when nothing changed, so nothing
    was recorded).
    """

    action: str
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)
    change_id: int | None = None

    def summary(self) -> str:
        parts = [f"{self.action}: {len(self.added)} studies added, {len(self.replaced)} replaced"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged")
        written = ", ".join(f"{n} {k}" for k, n in self.rows.items() if n)
        text = "; ".join(parts) + (f" ({written} rows written)" if written else "")
        if self.change_id is None:
            return text + "; nothing changed, nothing recorded"
        return text + f"; change {self.change_id}"

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "added": list(self.added),
            "replaced": list(self.replaced),
            "unchanged": list(self.unchanged),
            "rows": dict(self.rows),
            "change_id": self.change_id,
        }


@dataclass(frozen=True)
class RowChange:
    """One edited row of one change.

    Attributes
    ----------
    table : str
        Frame name (``studies``, ``arms``, …).
    key : tuple
        The row's key values (``columns.KEYS[table]``).
    op : str
        ``insert``, ``update`` or ``delete``.
    old, new : dict or None
        ``insert``: ``old`` None, ``new`` the full row. ``delete``: ``old`` the full row,
        ``new`` None. ``update``: the changed fields only, before and after.
    """

    table: str
    key: tuple
    op: str
    old: dict | None
    new: dict | None

    @property
    def fields(self) -> tuple[str, ...]:
        """The changed columns (every column for an insert or delete)."""
        return tuple((self.new if self.new is not None else self.old) or {})

    def describe(self) -> str:
        """One line: ``arms[smith2020:treated] update: n 12 → 13``."""
        where = f"{self.table}[{':'.join(str(k) for k in self.key)}]"
        if self.op == "update":
            diffs = ", ".join(
                f"{c} {(self.old or {}).get(c)!r} → {(self.new or {}).get(c)!r}"
                for c in self.fields
            )
            return f"{where} update: {diffs}"
        return f"{where} {self.op}"

    def to_dict(self) -> dict:
        return {
            "table": self.table,
            "key": list(self.key),
            "op": self.op,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class Change:
    """One recorded change of the evidence base: who, when, what, why, and its rows.

    ``rows`` is empty when the change was listed without its rows, and for changes recorded
    before row-level history (schema revision 0001).
    """

    id: int
    at: datetime
    user: str
    action: str
    message: str
    source: str
    study_ids: tuple[str, ...]
    detail: dict
    rows: tuple[RowChange, ...] = ()

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows edited per table and operation, from ``detail`` (or from ``rows``)."""
        counts = self.detail.get("rows")
        if isinstance(counts, dict) and all(isinstance(v, dict) for v in counts.values()):
            return counts
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            out.setdefault(r.table, {}).setdefault(r.op, 0)
            out[r.table][r.op] += 1
        return out

    def summary(self) -> str:
        """One line: ``#7 2026-12-07 21:50 alice import: arms 1 update (why)``."""
        parts = []
        for table, ops in self.counts().items():
            parts.append(f"{table} " + ", ".join(f"{n} {op}" for op, n in ops.items()))
        what = "; ".join(parts) or self.detail.get("change", "") or "no rows"
        if "reverts" in self.detail:
            what = f"reverts change {self.detail['reverts']}: {what}"
        why = f" ({self.message})" if self.message else ""
        return f"#{self.id} {self.at:%Y-%m-%d %H:%M} {self.user} {self.action}: {what}{why}"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "user": self.user,
            "action": self.action,
            "message": self.message,
            "source": self.source,
            "study_ids": list(self.study_ids),
            "detail": self.detail,
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass
class _Op:
    """A planned edit: the row as it is (``old``) and as it will be (``new``), both full."""

    table: str
    key: tuple
    op: str
    row_id: int | None = None
    old: dict | None = None
    new: dict | None = None
    position: int | None = None

    def record(self) -> tuple[dict | None, dict | None]:
        """(old, new) as kept in the history: full rows, or the changed fields of an update."""
        if self.op == "update":
            assert self.old is not None and self.new is not None
            cols = [c for c in self.new if self.new[c] != self.old.get(c)]
            return {c: self.old.get(c) for c in cols}, {c: self.new[c] for c in cols}
        return self.old, self.new


def _db_errors(method: _F) -> _F:
    """Turn database faults raised by ``method`` into one InputError line."""

    @functools.wraps(method)
    def wrapper(self: EvidenceStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (SQLAlchemyError, OverflowError, UnicodeError, PermissionError) as exc:
            raise self._fault(exc) from exc

    return wrapper  # type: ignore[return-value]


class EvidenceStore:
    """The evidence base in a database.

    Parameters
    ----------
    url : str, optional
        Database URL or SQLite path (see :func:`resolve_url`).
    schema : str, optional
        PostgreSQL schema (namespace) to use instead of ``public`` (tests use a fresh one).

    Every public method raises :class:`~sci_evidence.errors.InputError` (one line, nothing
    written) for a database that cannot be opened or written: missing, not a database,
    locked by another writer past the busy timeout, read-only, full.
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
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

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
        backend = url.get_backend_name()
        timeout = busy_timeout()
        if backend == "sqlite":
            self._check_sqlite_file()
            kwargs["connect_args"] = {"timeout": timeout}
        elif backend == "postgresql":
            # connect_args replace the URL's own `options`: keep them (e.g. a search_path).
            given = url.query.get("options", "")
            given = " ".join(given) if isinstance(given, tuple) else given
            options = f"{given} -c lock_timeout={int(timeout * 1000)}".strip()
            if self.schema:
                options += f" -csearch_path={self.schema}"
            kwargs["connect_args"] = {"options": options}
        try:
            engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError, SQLAlchemyError) as exc:
            raise InputError(
                f"cannot use database {mask_url(self.url)}: {exc}".splitlines()[0]
            ) from exc
        if backend == "sqlite":

            @event.listens_for(engine, "connect")
            def _sqlite_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
                # The driver's own transaction handling off: BEGIN is issued below, so that
                # writers take the write lock first (BEGIN IMMEDIATE) and wait for it.
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn) -> None:  # noqa: ANN001
                write = conn.get_execution_options().get("evidence_write", False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _check_sqlite_file(self) -> None:
        """Refuse a path that is a folder or a file that is not an SQLite database."""
        path = self.sqlite_path
        if path is None or not path.exists():
            return
        if path.is_dir():
            raise InputError("the evidence database path is a folder", file=str(path))
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(
                f"cannot read the evidence database: {exc.strerror}", file=str(path)
            ) from None
        if size and not is_sqlite_file(path):
            raise InputError(
                "not an SQLite database; refusing to use (and overwrite) it", file=str(path)
            )

    @contextlib.contextmanager
    def _write_tx(self) -> Iterator[Connection]:
        """One write transaction, holding the database's write lock from its first statement."""
        path = self.sqlite_path
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"cannot create the folder of the evidence database: {exc.strerror}",
                    file=str(path),
                ) from None
        engine = self.engine.execution_options(evidence_write=True)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
            yield conn

    def _fault(self, exc: BaseException) -> InputError:
        """One line for a database fault; the transaction was rolled back."""
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        low = first.lower()
        where = self.display_url
        if isinstance(exc, InputError):
            return exc
        if "database is locked" in low or "lock timeout" in low or "locknotavailable" in low:
            return InputError(
                f"the evidence database {where} is busy: another program is writing to it "
                f"(waited {busy_timeout():g} s); nothing was written, try again"
            )
        if "readonly" in low or "read-only" in low or "read only" in low:
            return InputError(
                f"the evidence database {where} is read-only (the file or its folder); "
                "nothing was written"
            )
        if "disk is full" in low or "no space" in low or "disk full" in low:
            return InputError(
                f"the disk of the evidence database {where} is full; nothing was written"
            )
        if "file is not a database" in low:
            return InputError(f"{where} is not an SQLite database; nothing was written")
        if "unable to open database file" in low:
            return InputError(
                f"cannot open the evidence database {where} (its folder is missing or not writable)"
            )
        if isinstance(exc, IntegrityError):
            if "unique" in low or "duplicate key" in low:
                return InputError(
                    "another write stored the same rows at the same time; nothing was "
                    f"written, run the command again ({first})"
                )
            return InputError(f"the database refused the rows: {first}; nothing was written")
        if isinstance(exc, OverflowError) or "out of range" in low or "too large" in low:
            return InputError(
                f"a number is too large for the database: {first}; nothing was written"
            )
        if isinstance(exc, UnicodeError) or "nul" in low or "0x00" in low:
            return InputError(f"the database refused a text value: {first}; nothing was written")
        if isinstance(exc, PermissionError):
            return InputError(f"cannot use the evidence database {where}: permission denied")
        if isinstance(exc, OperationalError | DatabaseError | StatementError):
            return InputError(f"cannot use the evidence database {where}: {first}")
        return InputError(f"the evidence database {where} failed: {first}")

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
            self._check_sqlite_file()
            return False
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table("evidence_meta") and (
                    conn.execute(
                        select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                    ).scalar()
                    is not None
                )
        except (OperationalError, DatabaseError) as exc:
            raise self._connect_error(exc) from exc

    def migrate(self, conn: Connection) -> None:
        """Bring the schema to the newest revisions (Alembic, run programmatically).

        ``heads``: revisions added on separate branches (e.g. new evidence tables and the
        row-level history) are all applied.
        """
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")

    def _needs_migration(self) -> bool:
        with self.engine.connect() as conn:
            return not inspect(conn).has_table(row_changes_table.name)

    @_db_errors
    def init(
        self, *, load_bundled: bool = True, message: str = "", user: str | None = None
    ) -> WriteSummary:
        """Create the tables (migrations) and, when the database is empty, load the bundled set.

        Re-running on an initialised database only applies new migrations; the bundled set is
        loaded only into an empty database. ``user`` (default :func:`current_user`) is
        recorded as who made the change.
        """
        user = user or current_user()
        with self._write_tx() as conn:
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
                    user=user,
                )
            if version is None:
                change_id = self._record(
                    conn, "init", message or "initialise the database", "", user, [], {}, []
                )
                return WriteSummary(action="init", change_id=change_id)
            return WriteSummary(action="init")

    def _require_initialised(self) -> None:
        if not self.is_initialised():
            raise InputError(
                f"the evidence database {self.display_url} is not initialised; "
                "run 'sci-evidence evidence init' first"
            )

    def _require_current_schema(self) -> None:
        """Writes need the newest schema: apply pending migrations first (one transaction)."""
        self._require_initialised()
        if self._needs_migration():
            with self._write_tx() as conn:
                self.migrate(conn)

    # ------------------------------------------------------------------ read
    @_db_errors
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

    @_db_errors
    def history(self) -> pd.DataFrame:
        """The change history, oldest first: ``id, at, user, action, message, source,
        study_id, detail`` (``study_id``: the studies touched, comma-separated; ``detail``:
        JSON text). See :meth:`changes` for typed records with row-level diffs."""
        self._require_initialised()
        with self.engine.connect() as conn:
            rows = conn.execute(select(history_table).order_by(history_table.c.id)).all()
        cols = ["id", "at", "user", "action", "message", "source", "study_id", "detail"]
        return pd.DataFrame([tuple(r) for r in rows], columns=cols)

    @_db_errors
    def changes(
        self,
        *,
        with_rows: bool = False,
        study_id: str | None = None,
        limit: int | None = None,
    ) -> list[Change]:
        """The recorded changes, newest first.

        Parameters
        ----------
        with_rows : bool
            Also load each change's row-level diffs (:class:`RowChange`); otherwise only the
            per-table counts in ``detail`` are there (cheap for long histories).
        study_id : str, optional
            Only changes that touched this study.
        limit : int, optional
            At most this many changes.
        """
        self._require_initialised()
        h = history_table
        q = select(h).order_by(h.c.id.desc())
        if limit is not None and not study_id:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            has_rows = inspect(conn).has_table(row_changes_table.name)
            out = []
            for r in conn.execute(q).all():
                # study_id holds the comma-separated studies of a change: match whole ids
                # (in Python: LIKE would read '_' in an id as a wildcard).
                if study_id and study_id not in (r.study_id or "").split(","):
                    continue
                row_changes = self._row_changes(conn, r.id) if with_rows and has_rows else ()
                out.append(_change_from_row(r, row_changes))
                if limit is not None and len(out) >= limit:
                    break
        return out

    @_db_errors
    def change(self, change_id: int) -> Change:
        """One change with its row-level diffs.

        Raises
        ------
        InputError
            When no change has that id.
        """
        self._require_initialised()
        with self.engine.connect() as conn:
            r = conn.execute(select(history_table).where(history_table.c.id == change_id)).first()
            if r is None:
                raise InputError("no such change in the history", value=change_id)
            has_rows = inspect(conn).has_table(row_changes_table.name)
            return _change_from_row(r, self._row_changes(conn, change_id) if has_rows else ())

    def _row_changes(self, conn: Connection, change_id: int) -> tuple[RowChange, ...]:
        rc = row_changes_table
        rows = conn.execute(
            select(rc.c.table_name, rc.c.row_key, rc.c.op, rc.c.old, rc.c.new)
            .where(rc.c.change_id == change_id)
            .order_by(rc.c.seq)
        ).all()
        return tuple(
            RowChange(
                table=r.table_name,
                key=tuple(json.loads(r.row_key)),
                op=r.op,
                old=json.loads(r.old) if r.old is not None else None,
                new=json.loads(r.new) if r.new is not None else None,
            )
            for r in rows
        )

    # ------------------------------------------------------------------ write
    @_db_errors
    def import_frames(
        self,
        frames: dict[str, pd.DataFrame],
        *,
        message: str = "",
        source: str = "",
        user: str | None = None,
    ) -> WriteSummary:
        """Write validated frames in one transaction; record what changed.

        Study-level frames (``studies, arms, outcomes, adverse_events, risk_of_bias``) replace
        whole studies: every study named in the file's ``studies`` frame ends with exactly the
        file's rows (and its provenance and per-study screening rows). The other frames are
        upserted by their key. Rows are compared by key and only differences are written;
        each edited row is recorded with its old and new values under one change (``user``,
        default :func:`current_user`; ``message``; ``source``). Data identical to what is
        stored writes and records nothing. Nothing is written when anything fails.
        """
        self._require_current_schema()
        with self._write_tx() as conn:
            return self._write(
                conn,
                frames,
                action="import",
                message=message,
                source=source,
                user=user or current_user(),
            )

    @_db_errors
    def revert(self, change_id: int, *, user: str | None = None, message: str = "") -> WriteSummary:
        """Restore the rows a change edited to their state before it; record that as a change.

        Inserted rows are deleted, deleted rows come back with their old values and place,
        updated fields get their old values. A revert is itself a change (``action``
        ``"revert"``, ``detail["reverts"]``) and can be reverted in turn.

        Raises
        ------
        InputError
            No such change; a change recorded before row-level history or one that edited no
            rows; or a row the change edited was changed again later (the message names the
            later changes: revert those first).
        """
        self._require_current_schema()
        user = user or current_user()
        with self._write_tx() as conn:
            h = conn.execute(select(history_table).where(history_table.c.id == change_id)).first()
            if h is None:
                raise InputError("no such change in the history", value=change_id)
            recorded = self._row_changes(conn, change_id)
            if not recorded:
                detail = json.loads(h.detail or "{}")
                if detail.get("rows") or detail.get("change"):
                    raise InputError(
                        f"change {change_id} was recorded before row-level history "
                        "(schema 0001) and cannot be reverted"
                    )
                raise InputError(f"change {change_id} edited no rows; there is nothing to revert")
            names = {r.table for r in recorded}
            unknown = sorted(names - set(FRAMES))
            if unknown:
                raise InputError(
                    f"change {change_id} edited tables this version does not know "
                    f"({', '.join(unknown)}); it cannot be reverted"
                )
            stored = {n: self._load_table(conn, n) for n in FRAME_NAMES if n in names}
            positions = self._positions(conn, change_id)
            ops: list[_Op] = []
            conflicts: list[RowChange] = []
            for r in reversed(recorded):
                cur = stored[r.table].get(tuple(r.key))
                if r.op == "insert":
                    if cur is None or not _same(cur[2], r.new or {}):
                        conflicts.append(r)
                        continue
                    ops.append(_Op(r.table, r.key, "delete", cur[0], old=cur[2], position=cur[1]))
                elif r.op == "delete":
                    if cur is not None:
                        conflicts.append(r)
                        continue
                    ops.append(
                        _Op(
                            r.table,
                            r.key,
                            "insert",
                            new=dict(r.old or {}),
                            position=positions.get((r.table, r.key)),
                        )
                    )
                else:
                    if cur is None or not _same(cur[2], r.new or {}):
                        conflicts.append(r)
                        continue
                    new = dict(cur[2])
                    new.update(r.old or {})
                    ops.append(_Op(r.table, r.key, "update", cur[0], old=cur[2], new=new))
            conflicts.extend(self._orphans(conn, ops))
            if conflicts:
                later = self._later_changes(conn, change_id, conflicts)
                first = conflicts[0]
                raise InputError(
                    f"change {change_id} cannot be reverted: {len(conflicts)} of its rows were "
                    f"changed again later (e.g. {first.table}[{':'.join(map(str, first.key))}])"
                    + (
                        f" by change {', '.join(map(str, later))}; revert "
                        + ("it" if len(later) == 1 else "those")
                        + " first"
                        if later
                        else ""
                    )
                )
            self._apply(conn, ops)
            studies = _studies_of(ops)
            detail = {"reverts": change_id, "rows": _count_ops(ops)}
            new_id = self._record(
                conn,
                "revert",
                message or f"revert change {change_id}",
                "",
                user,
                sorted(studies),
                detail,
                ops,
            )
            return WriteSummary(
                action="revert",
                replaced=tuple(sorted(studies)),
                rows={n: c for n, c in _rows_per_table(ops).items()},
                change_id=new_id,
            )

    def _positions(self, conn: Connection, change_id: int) -> dict[tuple[str, tuple], int]:
        rc = row_changes_table
        rows = conn.execute(
            select(rc.c.table_name, rc.c.row_key, rc.c.position).where(
                rc.c.change_id == change_id, rc.c.op == "delete"
            )
        ).all()
        return {(r.table_name, tuple(json.loads(r.row_key))): r.position for r in rows}

    def _orphans(self, conn: Connection, ops: list[_Op]) -> list[RowChange]:
        """Rows that a revert's deletes would take with them (rows added by later changes)."""
        gone: dict[str, set] = {}
        for op in ops:
            if op.op == "delete" and op.table in ("studies", "arms"):
                col = "study_id" if op.table == "studies" else "arm_id"
                gone.setdefault(op.table, set()).add((col, op.old[col] if op.old else None))
        if not gone:
            return []
        deleted = {(op.table, tuple(op.key)) for op in ops if op.op == "delete"}
        out = []
        for (child, col), parent in _FOREIGN.items():
            parent_frame = next(n for n, t in TABLE_NAMES.items() if t == parent.split(".")[0])
            ids = {v for c, v in gone.get(parent_frame, set()) if c == col}
            if not ids:
                continue
            for key, (_rid, _pos, rec) in self._load_table(conn, child).items():
                if rec[col] in ids and (child, key) not in deleted:
                    out.append(RowChange(child, key, "insert", None, rec))
        return out

    def _later_changes(
        self, conn: Connection, change_id: int, conflicts: list[RowChange]
    ) -> list[int]:
        rc = row_changes_table
        found: set[int] = set()
        for r in conflicts[:200]:
            ids = conn.execute(
                select(rc.c.change_id).where(
                    rc.c.table_name == r.table,
                    rc.c.row_key == _key_json(r.key),
                    rc.c.change_id > change_id,
                )
            ).scalars()
            found.update(ids)
        return sorted(found, reverse=True)

    # ------------------------------------------------------------------ the write itself
    def _write(
        self,
        conn: Connection,
        frames: dict[str, pd.DataFrame],
        *,
        action: str,
        message: str,
        source: str,
        user: str,
    ) -> WriteSummary:
        try:
            frames = {
                n: df if _is_coerced(df, n) else coerce_frame(df, n)
                for n, df in frames.items()
                if n in FRAMES
            }
        except (TypeError, ValueError, OverflowError) as exc:
            # Unvalidated frames (library callers): e.g. 10**19 in a 64-bit integer column.
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise InputError(
                f"a value is too large for its column or not of its kind ({first}); "
                "nothing was written"
            ) from None
        incoming = {n: _records(df) for n, df in frames.items()}
        # Studies with a row in the file's `studies` frame are replaced whole; rows of other
        # frames are upserted by their key (e.g. an outcomes-only file adds outcomes).
        whole = set(r["study_id"] for r in incoming.get("studies", []))
        touched = list(dict.fromkeys(r["study_id"] for r in incoming.get("studies", [])))
        for name in STUDY_FRAMES[1:]:
            touched.extend(r["study_id"] for r in incoming.get(name, []))
        touched = list(dict.fromkeys(s for s in touched if s))
        stored: dict[str, dict[tuple, tuple[int, int, dict]]] = {}
        for name in FRAME_NAMES:
            if incoming.get(name) or (
                whole and (name in STUDY_FRAMES or name in ("provenance", "screening"))
            ):
                stored[name] = self._load_table(conn, name)
        whole_arms = (
            {rec["arm_id"] for _id, _p, rec in stored["arms"].values() if rec["study_id"] in whole}
            if whole
            else set()
        )
        ops: list[_Op] = []
        for name, current in stored.items():
            key_cols = KEYS[name]
            new_rows = {tuple(r[k] for k in key_cols): r for r in incoming.get(name, [])}
            for key, rec in new_rows.items():
                have = current.get(key)
                if have is None:
                    ops.append(_Op(name, key, "insert", new=rec))
                elif not _same(have[2], rec):
                    ops.append(_Op(name, key, "update", have[0], old=have[2], new=rec))
            if not whole:
                continue
            for key, (row_id, position, rec) in current.items():
                if key not in new_rows and _replaced(name, rec, whole, whole_arms):
                    ops.append(_Op(name, key, "delete", row_id, old=rec, position=position))
        stored_studies = set(stored["studies"]) if "studies" in stored else set()
        if not stored_studies and touched:
            st = tables["studies"]
            stored_studies = {
                (s,)
                for chunk in _chunks(touched)
                for s in conn.execute(select(st.c.study_id).where(st.c.study_id.in_(chunk)))
                .scalars()
                .all()
            }
        changed = _studies_of(ops)
        added = tuple(s for s in touched if (s,) not in stored_studies)
        replaced = tuple(s for s in touched if (s,) in stored_studies and s in changed)
        unchanged = tuple(s for s in touched if (s,) in stored_studies and s not in changed)
        if not ops:
            return WriteSummary(action=action, unchanged=unchanged)
        self._apply(conn, ops)
        detail = {
            "studies": {"added": list(added), "replaced": list(replaced)},
            "rows": _count_ops(ops),
        }
        studies = list(dict.fromkeys([*added, *replaced, *sorted(changed - set(touched))]))
        change_id = self._record(conn, action, message, source, user, studies, detail, ops)
        return WriteSummary(
            action=action,
            added=added,
            replaced=replaced,
            unchanged=unchanged,
            rows=_rows_per_table(ops),
            change_id=change_id,
        )

    def _load_table(self, conn: Connection, name: str) -> dict[tuple, tuple[int, int, dict]]:
        """Stored rows of a frame by key: ``key → (id, position, row)``.

        Rows come as the driver returns them (str, int, float, bool, None), which compare
        equal to the JSON-safe records of :func:`~sci_evidence.evidence.model._records`.
        """
        t = tables[name]
        cols = [c for c, _ in FRAMES[name]]
        key_idx = [cols.index(k) for k in KEYS[name]]
        out = {}
        for r in conn.execute(select(t.c.id, t.c.position, *[t.c[c] for c in cols])):
            values = r[2:]
            rec = dict(zip(cols, values, strict=True))
            out[tuple(values[i] for i in key_idx)] = (r[0], r[1], rec)
        return out

    def _apply(self, conn: Connection, ops: list[_Op]) -> None:
        """Execute planned edits: inserts parents first, then updates, deletes children first."""
        by: dict[tuple[str, str], list[_Op]] = {}
        for op in ops:
            by.setdefault((op.table, op.op), []).append(op)
        for name in FRAME_NAMES:
            todo = by.get((name, "insert"))
            if not todo:
                continue
            t = tables[name]
            start = conn.execute(select(func.coalesce(func.max(t.c.position), 0))).scalar_one()
            records = []
            for op in todo:
                if op.position is None:
                    start += 1
                    op.position = start
                records.append({**(op.new or {}), "position": op.position})
            for chunk in _chunks(records, 5000):
                conn.execute(insert(t), chunk)
        for name in FRAME_NAMES:
            todo = by.get((name, "update"))
            if not todo:
                continue
            t = tables[name]
            cols = [c for c, _ in FRAMES[name]]
            stmt = (
                update(t)
                .where(t.c.id == bindparam("_row_id"))
                .values({c: bindparam(f"_v_{c}") for c in cols})
            )
            params = [
                {"_row_id": op.row_id, **{f"_v_{c}": (op.new or {}).get(c) for c in cols}}
                for op in todo
            ]
            for chunk in _chunks(params, 5000):
                conn.execute(stmt, chunk)
        for name in reversed(FRAME_NAMES):
            todo = by.get((name, "delete"))
            if not todo:
                continue
            t = tables[name]
            for chunk in _chunks([op.row_id for op in todo]):
                conn.execute(delete(t).where(t.c.id.in_(chunk)))

    def _record(
        self,
        conn: Connection,
        action: str,
        message: str,
        source: str,
        user: str,
        studies: list[str],
        detail: dict,
        ops: list[_Op],
    ) -> int:
        """Append one change to the history (and its edited rows); return its id."""
        change_id = conn.execute(
            insert(history_table).values(
                at=_now(),
                user=user,
                action=action,
                message=message,
                source=source,
                study_id=",".join(studies),
                detail=json.dumps(detail, ensure_ascii=False, default=str),
            )
        ).inserted_primary_key[0]
        records = []
        for seq, op in enumerate(ops):
            old, new = op.record()
            records.append(
                {
                    "change_id": change_id,
                    "seq": seq,
                    "table_name": op.table,
                    "row_key": _key_json(op.key),
                    "op": op.op,
                    "old": None if old is None else json.dumps(old, ensure_ascii=False),
                    "new": None if new is None else json.dumps(new, ensure_ascii=False),
                    "position": op.position if op.op == "delete" else None,
                }
            )
        for chunk in _chunks(records, 5000):
            conn.execute(insert(row_changes_table), chunk)
        return int(change_id)


_DTYPES = {"str": "object", "int": "Int64", "float": "float64", "bool": "boolean"}


def _is_coerced(df: pd.DataFrame, name: str) -> bool:
    """Whether ``df`` already has the columns and dtypes ``coerce_frame`` gives (a validated
    frame): coercing 100,000 rows again cost a third of an import."""
    spec = FRAMES[name]
    if list(df.columns) != [c for c, _ in spec]:
        return False
    for col, kind in spec:
        s = df[col]
        if str(s.dtype) != _DTYPES[kind]:
            return False
        if kind == "str" and s.isna().any():
            return False
    return True


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _key_json(key: tuple) -> str:
    return json.dumps(list(key), ensure_ascii=False)


def _same(stored: dict, new: dict) -> bool:
    """Whether every field of ``new`` equals the stored one (None = missing on both sides)."""
    return all(stored.get(c) == v for c, v in new.items())


def _replaced(name: str, rec: dict, whole: set[str], whole_arms: set[str]) -> bool:
    """Whether a stored row belongs to a study that the file replaces whole."""
    if name in STUDY_FRAMES or name == "screening":
        return rec.get("study_id") in whole
    if name == "provenance":
        return rec.get("key") in whole or rec.get("key") in whole_arms
    return False


def _study_of(op: _Op) -> str:
    rec = op.new or op.old or {}
    if op.table in STUDY_FRAMES or op.table == "screening":
        return rec.get("study_id") or ""
    if op.table == "provenance":
        key = str(rec.get("key") or "")
        return key.split(":", 1)[0] if key else ""
    return ""


def _studies_of(ops: list[_Op]) -> set[str]:
    return {s for s in (_study_of(op) for op in ops) if s}


def _count_ops(ops: list[_Op]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for op in ops:
        verb = {"insert": "inserted", "update": "updated", "delete": "deleted"}[op.op]
        out.setdefault(op.table, {}).setdefault(verb, 0)
        out[op.table][verb] += 1
    return out


def _rows_per_table(ops: list[_Op]) -> dict[str, int]:
    out: dict[str, int] = {}
    for op in ops:
        out[op.table] = out.get(op.table, 0) + 1
    return out


def _change_from_row(r: Any, rows: tuple[RowChange, ...]) -> Change:
    at = r.at
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        at = at.replace(tzinfo=UTC)
    try:
        detail = json.loads(r.detail or "{}")
    except ValueError:
        detail = {"text": r.detail}
    return Change(
        id=int(r.id),
        at=at,
        user=r.user,
        action=r.action,
        message=r.message,
        source=r.source,
        study_ids=tuple(s for s in (r.study_id or "").split(",") if s),
        detail=detail,
        rows=rows,
    )
