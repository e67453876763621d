"""Stored text made safe to display: Rich markup, matplotlib mathtext, terminal controls.

Text that users store (authors, titles, commit messages) may contain ``[/]`` (Rich markup),
``$...$`` (matplotlib mathtext) or terminal escape sequences. Every edge that shows such text
passes it through one of these functions. A leaf module: standard library only.
"""

from __future__ import annotations

import re

__all__ = ["escape_mathtext", "escape_rich", "strip_control"]

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other
# two-character escapes; then the C0/C1 control characters other than tab and newline.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[@-Z\\-_]"  # other Fe escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_control(text: object) -> str:
    """``text`` as a string without terminal escape sequences and control characters."""
    return _CONTROL.sub("", _ANSI.sub("", str(text)))


def escape_rich(text: object) -> str:
    """``text`` safe to print through Rich with markup on: controls stripped, ``[`` escaped."""
    from rich.markup import escape

    return escape(strip_control(text))


def escape_mathtext(text: object) -> str:
    """``text`` safe for a matplotlib label: ``$`` escaped so mathtext never parses it."""
    return strip_control(text).replace("$", r"\$")
