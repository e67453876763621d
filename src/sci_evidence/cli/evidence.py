"""`sci-evidence evidence`: not yet implemented (placeholder while the feature is built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `evidence` command(s) to ``app``."""
