"""Migration 0003: a database at 0001 gains the new columns and tables, keeps its rows, and
goes back down cleanly."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from sci_evidence.evidence.schema import metadata
from sci_evidence.evidence.store import MIGRATIONS_DIR


def _cfg(conn) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def test_upgrade_from_0001_keeps_rows_and_adds_the_new_schema(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(_cfg(conn), "0001")
        conn.execute(
            text(
                "INSERT INTO evidence_studies (position, study_id, design, status) "
                "VALUES (0, 'old-2001', 'case_series', 'reported')"
            )
        )
        assert "label" not in {c["name"] for c in inspect(conn).get_columns("evidence_studies")}
    with engine.begin() as conn:
        command.upgrade(_cfg(conn), "head")
        insp = inspect(conn)
        for table in metadata.sorted_tables:
            got = [c["name"] for c in insp.get_columns(table.name)]
            assert got == [c.name for c in table.columns], table.name
        row = conn.execute(text("SELECT study_id, label, source_tier FROM evidence_studies")).one()
        assert tuple(row) == ("old-2001", "", "")
    with engine.begin() as conn:
        command.downgrade(_cfg(conn), "0001")
        insp = inspect(conn)
        assert "evidence_conflicts" not in insp.get_table_names()
        assert "label" not in {c["name"] for c in insp.get_columns("evidence_studies")}
        assert conn.execute(text("SELECT study_id FROM evidence_studies")).scalar() == "old-2001"
