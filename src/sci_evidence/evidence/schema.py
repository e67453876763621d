"""SQLAlchemy 2 tables of the evidence base, one per frame (columns from :mod:`.columns`).

Every table has a surrogate ``id`` and a ``position`` (the row order of the curated or imported
file, so a database returns its rows in the order they were written). Text columns are
``NOT NULL DEFAULT ''`` (missing text is the empty string, as in the frames); numbers and
booleans are nullable (missing = not reported). Foreign keys tie arms to studies and
outcomes/adverse events/risk of bias to studies and arms.

``evidence_history`` holds one row per change (who, when, what, why); since revision
``0002_history`` each change also keeps its row-level edits in ``evidence_row_changes``: the
table, the row's key, the operation and the old and new values (JSON), from which
:meth:`EvidenceStore.revert <sci_evidence.evidence.store.EvidenceStore.revert>` restores the
state before a change.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

from sci_evidence.evidence.columns import FRAMES, KEYS

#: Database table of each frame.
TABLE_NAMES: dict[str, str] = {
    "studies": "evidence_studies",
    "arms": "evidence_arms",
    "outcomes": "evidence_outcomes",
    "adverse_events": "evidence_adverse_events",
    "risk_of_bias": "evidence_risk_of_bias",
    "screening": "evidence_screening",
    "natural_history_conversion": "evidence_nh_conversion",
    "natural_history_scores": "evidence_nh_scores",
    "published_pooled": "evidence_published_pooled",
    "provenance": "evidence_provenance",
    "conflicts": "evidence_conflicts",
    "sources": "evidence_sources",
    "review_candidates": "evidence_review_candidates",
}

_FOREIGN: dict[tuple[str, str], str] = {
    ("arms", "study_id"): "evidence_studies.study_id",
    ("outcomes", "study_id"): "evidence_studies.study_id",
    ("outcomes", "arm_id"): "evidence_arms.arm_id",
    ("adverse_events", "study_id"): "evidence_studies.study_id",
    ("adverse_events", "arm_id"): "evidence_arms.arm_id",
    ("risk_of_bias", "study_id"): "evidence_studies.study_id",
}

SCHEMA_VERSION = "0003"


def column_type(kind: str):  # noqa: ANN201 - a SQLAlchemy type instance
    """The SQL type of a column kind (``Double`` keeps float64 values exact)."""
    return {"str": Text(), "int": BigInteger(), "float": Double(), "bool": Boolean()}[kind]


def build_metadata(frames: dict[str, list[tuple[str, str]]] = FRAMES) -> MetaData:
    """A MetaData with one table per frame plus the history and meta tables."""
    md = MetaData()
    for name, cols in frames.items():
        columns = [
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("position", Integer, nullable=False),
        ]
        for col, kind in cols:
            args = []
            fk = _FOREIGN.get((name, col))
            if fk:
                args.append(ForeignKey(fk, ondelete="CASCADE"))
            if kind == "str":
                columns.append(Column(col, Text(), *args, nullable=False, server_default=""))
            else:
                columns.append(Column(col, column_type(kind), *args, nullable=True))
        Table(
            TABLE_NAMES[name],
            md,
            *columns,
            UniqueConstraint(*KEYS[name], name=f"uq_{TABLE_NAMES[name]}_key"),
        )
    Table(
        "evidence_history",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("user", Text(), nullable=False, server_default=""),
        Column("action", Text(), nullable=False),
        Column("message", Text(), nullable=False, server_default=""),
        Column("source", Text(), nullable=False, server_default=""),
        Column("study_id", Text(), nullable=False, server_default=""),
        Column("detail", Text(), nullable=False, server_default="{}"),
    )
    Table(
        "evidence_meta",
        md,
        Column("key", Text(), primary_key=True),
        Column("value", Text(), nullable=False),
    )
    return md


def add_row_changes_table(md: MetaData) -> Table:
    """Add ``evidence_row_changes`` (revision ``0002_history``) to ``md``.

    One row per edited evidence row: ``change_id`` (the ``evidence_history`` row), ``seq``
    (order within the change), ``table_name`` (frame name), ``row_key`` (JSON list of the
    key values), ``op`` (``insert``, ``update`` or ``delete``), ``old`` and ``new`` (JSON
    objects: the full row for a delete's ``old`` and an insert's ``new``, the changed fields
    for an update) and ``position`` (the row's place, so a reverted delete returns there).
    Kept out of :func:`build_metadata`, which the frozen revision 0001 calls.
    """
    return Table(
        "evidence_row_changes",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "change_id",
            Integer,
            ForeignKey("evidence_history.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("seq", Integer, nullable=False),
        Column("table_name", Text(), nullable=False),
        Column("row_key", Text(), nullable=False),
        Column("op", Text(), nullable=False),
        Column("old", Text(), nullable=True),
        Column("new", Text(), nullable=True),
        Column("position", Integer, nullable=True),
        Index("ix_evidence_row_changes_change", "change_id"),
        Index("ix_evidence_row_changes_row", "table_name", "row_key"),
    )


metadata = build_metadata()
row_changes_table = add_row_changes_table(metadata)
tables = {name: metadata.tables[TABLE_NAMES[name]] for name in FRAMES}
history_table = metadata.tables["evidence_history"]
meta_table = metadata.tables["evidence_meta"]
