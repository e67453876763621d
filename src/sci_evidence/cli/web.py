"""`sci-evidence serve` and `sci-evidence users`: the web application for review teams."""

from __future__ import annotations

import typer

from sci_evidence.cli._common import console, err_console

users_app = typer.Typer(
    help="Accounts of the web application: add users (and the first administrator), list them.",
    no_args_is_help=True,
)

_DB_HELP = (
    "Evidence database URL or SQLite path (default: SCI_EVIDENCE_DB, else the CLI's default "
    "SQLite file). PostgreSQL: postgresql+psycopg://user:pw@host/db."
)


def _secret(db_store) -> str:  # noqa: ANN001
    """The session-signing secret: SCI_EVIDENCE_WEB_SECRET, else a random one kept in a
    private file beside the user data (so sessions survive a restart)."""
    import os
    import secrets
    from pathlib import Path

    import platformdirs

    env = os.environ.get("SCI_EVIDENCE_WEB_SECRET")
    if env:
        return env
    path = Path(platformdirs.user_data_dir("sci-evidence")) / "web-secret.key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


def serve_command(
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    runs_dir: str = typer.Option(
        None, "--runs-dir", help="Folder for review runs (default: the user data folder)."
    ),
    https_only: bool = typer.Option(
        False, "--https-only", help="Mark cookies Secure (behind an HTTPS proxy)."
    ),
) -> None:
    """Start the web application (explore, analyse, enter data, risk of bias, review runs).

    A new database is initialised with the bundled evidence. Without an administrator the
    first start asks for one (or run: sci-evidence users add NAME --admin).

    Example: sci-evidence serve --port 8000
    """
    import sys

    import uvicorn

    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.web import accounts
    from sci_evidence.web.app import create_app, prepare_database

    store = EvidenceStore(db)
    prepare_database(store)
    if accounts.count_admins(store.engine) == 0:
        if sys.stdin.isatty():
            err_console.print("No administrator yet: create one now.")
            name = typer.prompt("Administrator user name")
            password = typer.prompt(
                "Password (10 characters or more)", hide_input=True, confirmation_prompt=True
            )
            accounts.add_user(store.engine, name, password, "admin")
        else:
            err_console.print(
                "No administrator yet: create one with "
                "'sci-evidence users add NAME --admin' (the server starts anyway).",
                markup=False,
            )
    secret = _secret(store)
    store.dispose()
    app = create_app(db, secret_key=secret, runs_dir=runs_dir, https_only=https_only, warm=True)
    console.print(
        f"sci-evidence web on http://{host}:{port}/ (database {store.display_url})",
        highlight=False,
        markup=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="User name (letters, digits, '.', '_', '-')."),
    role: str = typer.Option(
        "viewer", "--role", help="viewer, extractor, assessor, editor or admin."
    ),
    admin: bool = typer.Option(
        False, "--admin", help="Make the user an administrator (same as --role admin)."
    ),
    password: str = typer.Option(
        None,
        "--password",
        help="Password (10+ characters); asked for when omitted. "
        "Also read from SCI_EVIDENCE_WEB_PASSWORD.",
        envvar="SCI_EVIDENCE_WEB_PASSWORD",
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Add a user of the web application.

    Example: sci-evidence users add alice --admin
    """
    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.web import accounts
    from sci_evidence.web.app import prepare_database

    if password is None:
        password = typer.prompt(
            "Password (10 characters or more)", hide_input=True, confirmation_prompt=True
        )
    store = EvidenceStore(db)
    prepare_database(store)
    user = accounts.add_user(store.engine, username, password, "admin" if admin else role)
    console.print(f"User {user.username} added ({user.role}).", highlight=False, markup=False)


@users_app.command("list")
def users_list(db: str = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """List the users of the web application and their roles."""
    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.web import accounts
    from sci_evidence.web.app import prepare_database

    store = EvidenceStore(db)
    prepare_database(store)
    for u in accounts.list_users(store.engine):
        console.print(
            f"{u.username}\t{u.role}\t{'active' if u.active else 'inactive'}",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add `serve` and `users` to ``app``."""
    app.command("serve")(serve_command)
    app.add_typer(users_app, name="users")
