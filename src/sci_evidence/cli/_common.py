"""Pieces shared by the command modules: consoles and output helpers.

Light on purpose (rich and the standard library only): every command module imports it at
start-up, so ``sci-evidence --help`` must not pay for matplotlib here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

from sci_evidence.outputs import atomic_write, check_output_path

__all__ = ["PLOT_SUFFIXES", "check_output_path", "console", "err_console", "save_figure"]

console = Console()
err_console = Console(stderr=True)

#: Figure file types the commands write (matplotlib's formats; jpg/tif through Pillow).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".tif", ".tiff", ".eps", ".ps")


def save_figure(fig: Any, path: str | os.PathLike[str], **savefig_kw: Any) -> None:
    """Save a matplotlib figure atomically: to a temporary file beside ``path``, renamed
    into place only when complete (a failed or interrupted save leaves any existing file
    as it was). The format comes from the suffix, which callers checked with
    :func:`check_output_path` and :data:`PLOT_SUFFIXES` before any work.
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    with atomic_write(target, "wb") as fh:
        fig.savefig(fh, format=fmt, **savefig_kw)
