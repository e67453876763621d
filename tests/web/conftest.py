"""Fixtures of the web tests: a fresh evidence database per test (SQLite, or PostgreSQL when
``SCI_EVIDENCE_TEST_PG_URL`` is set: a fresh schema each, dropped afterwards), users of every
role, and a logged-in Starlette TestClient per user.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

PG_URL = os.environ.get("SCI_EVIDENCE_TEST_PG_URL", "")
PASSWORD = "correct horse battery"
ROLES = ("viewer", "extractor", "assessor", "editor", "admin")
USERS = {
    "viewer": "vera",
    "extractor": "ezra",
    "assessor": "anna",
    "assessor2": "ali",
    "editor": "edda",
    "admin": "adam",
}


def _role(key: str) -> str:
    return "assessor" if key.startswith("assessor") else key


def _add_users(url: str) -> None:
    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.web import accounts
    from sci_evidence.web.app import prepare_database

    store = EvidenceStore(url)
    prepare_database(store)
    for key, name in USERS.items():
        accounts.add_user(store.engine, name, PASSWORD, _role(key))
    store.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """One initialised SQLite base with the users, copied for every test (fast)."""
    path = tmp_path_factory.mktemp("template") / "evidence.sqlite"
    _add_users(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path, _sqlite_template) -> str:
    """A fresh evidence database with the bundled data and one user per role."""
    if not PG_URL:
        path = tmp_path / "evidence.sqlite"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    import psycopg

    schema = f"w_{uuid.uuid4().hex[:12]}"
    dsn = re.sub(r"^postgresql\+psycopg://", "postgresql://", PG_URL)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    _add_users(url)
    try:
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def app(db_url, tmp_path):
    from sci_evidence.web.app import create_app

    application = create_app(db_url, secret_key="test-secret", runs_dir=tmp_path / "runs")
    yield application
    application.state.ctx.store.dispose()


def csrf_of(client) -> str:
    """The CSRF token of a client (from a page that sets it)."""
    r = client.get("/login")
    m = re.search(r'name="csrftoken" value="([^"]+)"', r.text)
    assert m, "no CSRF token in the login page"
    return m.group(1)


def login(client, key: str) -> str:
    token = csrf_of(client)
    r = client.post(
        "/login",
        data={"username": USERS[key], "password": PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return token


@pytest.fixture
def client_for(app):
    """``client_for("editor")`` → (TestClient logged in as that role, its CSRF token)."""
    from starlette.testclient import TestClient

    clients = []

    def make(key: str):
        c = TestClient(app, base_url="http://testserver")
        clients.append(c)
        token = login(c, key) if key else csrf_of(c)
        return c, token

    yield make
    for c in clients:
        c.close()
