"""Pieces shared by the command modules: consoles and output helpers."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
