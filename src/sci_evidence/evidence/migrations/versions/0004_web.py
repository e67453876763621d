"""The web application's tables: users, sessions, audit log, risk-of-bias assessments and
consensus, review runs.

A frozen copy of ``sci_evidence.web.tables`` as of this revision (later changes add their
own migrations). The revision chain is re-linked by the lead at merge time.

Revision ID: 0004_web
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_web"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.Text(), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        _when("created_at"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token", sa.Text(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("web_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _when("created_at"),
        _when("last_seen"),
    )
    op.create_table(
        "web_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _when("at"),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False, server_default=""),
        sa.Column("old", sa.Text(), nullable=False, server_default=""),
        sa.Column("new", sa.Text(), nullable=False, server_default=""),
        sa.Column("store_change", sa.Integer, nullable=True),
    )
    op.create_table(
        "web_rob_assessments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Text(), nullable=False),
        sa.Column("tool", sa.Text(), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("web_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("answers", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.false()),
        _when("updated_at"),
        sa.UniqueConstraint("study_id", "tool", "user_id", name="uq_web_rob_assessor"),
    )
    op.create_table(
        "web_rob_consensus",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Text(), nullable=False),
        sa.Column("tool", sa.Text(), nullable=False),
        sa.Column("judgements", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        _when("at"),
        sa.UniqueConstraint("study_id", "tool", name="uq_web_rob_consensus"),
    )
    op.create_table(
        "web_review_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.Text(), nullable=False),
        _when("started_at"),
        _when("finished_at", nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("data_hash", sa.Text(), nullable=False, server_default=""),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    for name in (
        "web_review_runs",
        "web_rob_consensus",
        "web_rob_assessments",
        "web_audit",
        "web_sessions",
        "web_users",
    ):
        op.drop_table(name)
