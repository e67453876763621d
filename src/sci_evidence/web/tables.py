"""The web application's own tables: users, sessions, audit log, risk-of-bias assessments,
consensus and review runs.

They live in the evidence database beside the evidence tables, created by the Alembic
revision ``0004_web`` of the evidence migrations (so ``evidence init`` and ``serve`` bring
any database to one schema). This module is the query-side definition (SQLAlchemy Core);
the migration keeps its own frozen copy, as migrations should.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

metadata = MetaData()

users = Table(
    "web_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text(), nullable=False, unique=True),
    Column("password_hash", Text(), nullable=False),
    Column("role", Text(), nullable=False),
    Column("active", Boolean(), nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "web_sessions",
    metadata,
    Column("token", Text(), primary_key=True),
    Column("user_id", Integer, ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

audit = Table(
    "web_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", Text(), nullable=False),
    Column("action", Text(), nullable=False),
    Column("target", Text(), nullable=False, server_default=""),
    Column("old", Text(), nullable=False, server_default=""),
    Column("new", Text(), nullable=False, server_default=""),
    Column("store_change", Integer, nullable=True),
)

rob_assessments = Table(
    "web_rob_assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Text(), nullable=False),
    Column("tool", Text(), nullable=False),
    Column("user_id", Integer, ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False),
    Column("answers", Text(), nullable=False, server_default="{}"),
    Column("done", Boolean(), nullable=False, server_default=false()),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("study_id", "tool", "user_id", name="uq_web_rob_assessor"),
)

rob_consensus = Table(
    "web_rob_consensus",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Text(), nullable=False),
    Column("tool", Text(), nullable=False),
    Column("judgements", Text(), nullable=False),
    Column("username", Text(), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("study_id", "tool", name="uq_web_rob_consensus"),
)

review_runs = Table(
    "web_review_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text(), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", Text(), nullable=False),
    Column("out_dir", Text(), nullable=False),
    Column("data_hash", Text(), nullable=False, server_default=""),
    Column("message", Text(), nullable=False, server_default=""),
)

WEB_TABLES = tuple(metadata.tables)
