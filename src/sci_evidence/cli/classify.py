"""`sci-evidence classify`: not yet implemented (placeholder while the feature is built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `classify` command(s) to ``app``."""
