"""The corrected evidence base: labels, duplicate relations, source tiers, risk-of-bias
sources, source conflicts, the list of sources and the candidates of an anchor review (schema
version 0003).

The column lists are frozen here (as of this revision), like 0001's.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sci_evidence.evidence.schema import build_metadata

revision = "0003"
down_revision = "0002_history"
branch_labels = None
depends_on = None

#: Text columns appended to existing tables: table → new columns (in order).
ADDED_COLUMNS_0003 = {
    "evidence_studies": ["label", "duplicate_of", "overlap_note", "source_tier"],
    "evidence_outcomes": ["source_tier"],
    "evidence_adverse_events": ["source_tier"],
    "evidence_risk_of_bias": ["source_url"],
}

NEW_FRAMES_0003 = {
    "conflicts": [
        ("conflict_id", "str"),
        ("study_id", "str"),
        ("table", "str"),
        ("field", "str"),
        ("value_used", "str"),
        ("source_used", "str"),
        ("quote_used", "str"),
        ("value_other", "str"),
        ("source_other", "str"),
        ("quote_other", "str"),
        ("decision", "str"),
        ("audit_ref", "str"),
    ],
    "sources": [
        ("source_key", "str"),
        ("what", "str"),
        ("url", "str"),
        ("tier", "str"),
    ],
    "review_candidates": [
        ("review", "str"),
        ("candidate_id", "str"),
        ("label", "str"),
        ("publication", "str"),
        ("n_patients", "str"),
        ("cells", "str"),
        ("design", "str"),
        ("study_id", "str"),
        ("eligible", "str"),
        ("inclusion_status", "str"),
        ("evidence_url", "str"),
        ("evidence_quote", "str"),
        ("note", "str"),
    ],
}


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in ADDED_COLUMNS_0003.items():
        with op.batch_alter_table(table) as batch:
            for col in columns:
                batch.add_column(sa.Column(col, sa.Text(), nullable=False, server_default=""))
    md = build_metadata(NEW_FRAMES_0003)
    for name in NEW_FRAMES_0003:
        md.tables[f"evidence_{name}"].create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    md = build_metadata(NEW_FRAMES_0003)
    for name in NEW_FRAMES_0003:
        md.tables[f"evidence_{name}"].drop(bind)
    for table, columns in ADDED_COLUMNS_0003.items():
        with op.batch_alter_table(table) as batch:
            for col in reversed(columns):
                batch.drop_column(col)
