"""`sci-evidence trial`: not yet implemented (placeholder while the feature is built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `trial` command(s) to ``app``."""
