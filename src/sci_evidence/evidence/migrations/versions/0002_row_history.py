"""Row-level history: every change keeps the old and new values of every row it edited.

Adds ``evidence_row_changes`` (see :func:`sci_evidence.evidence.schema.add_row_changes_table`);
the definition is frozen here. Changes recorded before this revision keep only their summary
and cannot be reverted.

Revision ID: 0002_history
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_history"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_row_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "change_id",
            sa.Integer,
            sa.ForeignKey("evidence_history.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer, nullable=True),
    )
    op.create_index("ix_evidence_row_changes_change", "evidence_row_changes", ["change_id"])
    op.create_index(
        "ix_evidence_row_changes_row", "evidence_row_changes", ["table_name", "row_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_evidence_row_changes_row", table_name="evidence_row_changes")
    op.drop_index("ix_evidence_row_changes_change", table_name="evidence_row_changes")
    op.drop_table("evidence_row_changes")
