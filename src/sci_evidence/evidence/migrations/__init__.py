"""Alembic migrations of the evidence database, run programmatically by the store."""
