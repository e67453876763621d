"""Users, roles, passwords, sessions and the login rate limit.

- Passwords are hashed with Argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106
  low-memory profile); hashes are re-computed on login when the parameters change.
- A session is a random token (``secrets.token_urlsafe(32)``) stored in ``web_sessions``; the
  browser holds it inside Starlette's signed session cookie (HttpOnly, SameSite=Lax), so a
  logout or a deactivated user ends the session on the server.
- Roles and what each may do are listed in :data:`PERMISSIONS`; every write checks one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from sci_evidence.errors import InputError
from sci_evidence.web import tables as T

ROLES = ("viewer", "extractor", "assessor", "editor", "admin")

#: What each permission needs: the set of roles that hold it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "enter_data": frozenset({"extractor", "editor", "admin"}),
    "assess": frozenset({"assessor", "editor", "admin"}),
    "resolve": frozenset({"editor", "admin"}),
    "revert": frozenset({"editor", "admin"}),
    "run_review": frozenset({"editor", "admin"}),
    "manage_users": frozenset({"admin"}),
}

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool = True

    def can(self, permission: str) -> bool:
        return self.active and self.role in PERMISSIONS[permission]


def _hasher():  # noqa: ANN202 - argon2.PasswordHasher, imported lazily
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (salted, parameters inside the hash string)."""
    return _hasher().hash(password)


def check_new_user(username: str, password: str, role: str) -> None:
    """InputError for an unusable user name, a short password or an unknown role."""
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        raise InputError(
            "user names are 1-64 letters, digits, '.', '_' or '-'",
            column="username",
            value=username,
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", column="password"
        )
    if role not in ROLES:
        raise InputError(f"unknown role; allowed: {', '.join(ROLES)}", column="role", value=role)


def add_user(engine: Engine, username: str, password: str, role: str) -> User:
    """Create a user; InputError when the name is taken or a value is unusable."""
    check_new_user(username, password, role)
    try:
        with engine.begin() as conn:
            uid = conn.execute(
                insert(T.users).values(
                    username=username,
                    password_hash=hash_password(password),
                    role=role,
                    active=True,
                    created_at=_now(),
                )
            ).inserted_primary_key[0]
    except IntegrityError as exc:
        raise InputError("a user with this name exists", column="username", value=username) from exc
    return User(int(uid), username, role)


def set_role(engine: Engine, user_id: int, role: str, active: bool = True) -> None:
    if role not in ROLES:
        raise InputError(f"unknown role; allowed: {', '.join(ROLES)}", column="role", value=role)
    with engine.begin() as conn:
        conn.execute(
            update(T.users).where(T.users.c.id == user_id).values(role=role, active=active)
        )
        if not active:
            conn.execute(delete(T.sessions).where(T.sessions.c.user_id == user_id))


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(T.users.c.id, T.users.c.username, T.users.c.role, T.users.c.active).order_by(
                T.users.c.username
            )
        ).all()
    return [User(int(r.id), r.username, r.role, bool(r.active)) for r in rows]


def count_admins(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(T.users)
                .where(T.users.c.role == "admin", T.users.c.active.is_(True))
            ).scalar_one()
        )


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user when name and password match an active account, else None.

    A missing user costs one hash too, so timing does not tell which names exist.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    ph = _hasher()
    with engine.connect() as conn:
        row = conn.execute(select(T.users).where(T.users.c.username == username)).first()
    if row is None:
        ph.hash(password)
        return None
    try:
        ph.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if not row.active:
        return None
    if ph.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(
                update(T.users)
                .where(T.users.c.id == row.id)
                .values(password_hash=ph.hash(password))
            )
    return User(int(row.id), row.username, row.role, bool(row.active))


def open_session(engine: Engine, user: User) -> str:
    token = secrets.token_urlsafe(32)
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            insert(T.sessions).values(token=token, user_id=user.id, created_at=now, last_seen=now)
        )
    return token


def close_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(T.sessions).where(T.sessions.c.token == token))


def session_user(engine: Engine, token: str | None) -> User | None:
    """The active user of a session token, or None."""
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(T.users.c.id, T.users.c.username, T.users.c.role, T.users.c.active)
            .join(T.sessions, T.sessions.c.user_id == T.users.c.id)
            .where(T.sessions.c.token == token)
        ).first()
    if row is None or not row.active:
        return None
    return User(int(row.id), row.username, row.role, True)


class LoginRateLimit:
    """At most ``limit`` failed logins per ``window`` seconds per client address and per
    user name (in memory: one server process)."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def reset(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


def _now() -> datetime:
    return datetime.now(UTC)
