"""Fixtures for the evidence tests: SQLite always, PostgreSQL when a server can be reached.

The PostgreSQL URL is ``SCI_EVIDENCE_TEST_PG_URL`` (``.ci/run`` sets it), default
``postgresql+psycopg://sci:sci@127.0.0.1:5432/sci_evidence_test``. Each PostgreSQL test gets a
fresh schema, dropped afterwards. When no server answers, the PostgreSQL tests are skipped and
say so loudly (a warning plus the skip reason in the summary).
"""

from __future__ import annotations

import os
import uuid
import warnings

import pytest

from sci_evidence.evidence.store import EvidenceStore

PG_URL = os.environ.get(
    "SCI_EVIDENCE_TEST_PG_URL", "postgresql+psycopg://sci:sci@127.0.0.1:5432/sci_evidence_test"
)
_pg_state: dict = {}


def _pg_reachable() -> str | None:
    """None when the server answers, else the reason."""
    if "reason" not in _pg_state:
        try:
            import psycopg

            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # any failure means: no server for these tests
            _pg_state["reason"] = (
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
    return _pg_state["reason"]


def _skip_pg(reason: str) -> None:
    msg = (
        f"!!! PostgreSQL NOT REACHABLE at {PG_URL} ({reason}) — the PostgreSQL evidence-store "
        "tests are SKIPPED; only SQLite was tested !!!"
    )
    warnings.warn(msg, stacklevel=2)
    pytest.skip(msg)


@pytest.fixture
def pg_store():
    """An EvidenceStore on a fresh PostgreSQL schema (dropped after the test)."""
    reason = _pg_reachable()
    if reason:
        _skip_pg(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = EvidenceStore(PG_URL, schema=schema)
    try:
        yield store
    finally:
        store.dispose()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_store(tmp_path):
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.sqlite'}")
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        s = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.sqlite'}")
        yield s
        s.dispose()
    else:
        yield request.getfixturevalue("pg_store")


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """No SCI_EVIDENCE_DB from the developer's shell; user data dir in tmp."""
    monkeypatch.delenv("SCI_EVIDENCE_DB", raising=False)
    monkeypatch.setenv("SCI_EVIDENCE_USER", "tester")
    monkeypatch.setattr(
        "sci_evidence.evidence.store.default_sqlite_path",
        lambda: tmp_path / "userdata" / "evidence.sqlite",
    )
    return tmp_path
