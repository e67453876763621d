"""`sci-evidence users` and `serve --help`: accounts from the command line."""

from __future__ import annotations

import re

from support.cli_run import run


def test_users_add_list_and_refusals(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'ev.sqlite'}"
    code, out, _ = run(
        ["users", "add", "alice", "--admin", "--password", "a long password", "--db", db], capsys
    )
    assert code == 0 and "alice added (admin)" in out
    code, out, _ = run(
        ["users", "add", "bob", "--role", "assessor", "--password", "another password", "--db", db],
        capsys,
    )
    assert "bob added (assessor)" in out
    code, out, _ = run(["users", "list", "--db", db], capsys)
    assert re.search(r"alice\s+admin\s+active", out) and re.search(r"bob\s+assessor\s+active", out)
    # mistakes: one line, exit 2
    code, _, err = run(
        ["users", "add", "alice", "--password", "a long password", "--db", db], capsys
    )
    assert code == 2 and "exists" in err and "Traceback" not in err
    code, _, err = run(["users", "add", "carol", "--password", "short", "--db", db], capsys)
    assert code == 2 and "at least 10" in err
    code, _, err = run(
        ["users", "add", "carol", "--role", "king", "--password", "a long password", "--db", db],
        capsys,
    )
    assert code == 2 and "unknown role" in err
    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.web import accounts

    store = EvidenceStore(db)
    assert accounts.authenticate(store.engine, "alice", "a long password").role == "admin"
    assert accounts.authenticate(store.engine, "alice", "wrong password") is None
    h = __import__("sqlalchemy").select(
        __import__("sci_evidence.web.tables", fromlist=["x"]).users.c.password_hash
    )
    with store.engine.connect() as conn:
        hashes = list(conn.execute(h).scalars())
    assert all(x.startswith("$argon2id$") for x in hashes)  # never the password itself
    store.dispose()


def test_serve_help_documents_its_options(capsys):
    code, out, _ = run(["serve", "--help"], capsys)
    assert code == 0
    for option in ("--db", "--host", "--port", "--runs-dir"):
        assert option in out


def test_serve_on_a_new_database_initialises_it_and_says_how_to_add_an_admin(
    tmp_path, capsys, monkeypatch
):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw, app=app))
    monkeypatch.setenv("SCI_EVIDENCE_WEB_SECRET", "test")
    db = f"sqlite:///{tmp_path / 'new.sqlite'}"
    code, out, err = run(
        ["serve", "--db", db, "--port", "8123", "--runs-dir", str(tmp_path / "runs")], capsys
    )
    assert code == 0
    assert "sci-evidence users add NAME --admin" in err
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    from sci_evidence.evidence.store import EvidenceStore

    store = EvidenceStore(db)
    assert store.is_initialised() and len(store.load().studies) > 0  # the bundled evidence
    store.dispose()
    started["app"].state.ctx.store.dispose()
