"""The figures of the report page, streamed from their files into the page.

At 100 times the bundled evidence the page is 52 MB, 43 MB of it inline SVG (one
traffic-light plot alone is 13 MB). Holding every figure's text while the page is rendered,
and passing each through Jinja2 (the text, its ``Markup`` copy, the chunk it is joined into,
its UTF-8 bytes), made the page the peak of the review's memory. Here a figure is a
:class:`FigureSvg`: the template writes a short marker where the figure goes, and
:func:`expand_figures` replaces each marker by the figure's SVG read from its file and made
safe to inline piece by piece (:func:`inline_svg_pieces`, the text of
:func:`~sci_evidence.report.figures.inline_svg` in pieces of about a megabyte).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = ["FigureFiles", "FigureSvg", "expand_figures", "inline_svg", "inline_svg_pieces"]

#: Around a figure's name in the rendered template; NUL never occurs in the page's text
#: (HTML forbids it), so the marker cannot be confused with data.
_MARK = "\x00sci-evidence-figure\x00"
_MARKED = re.compile(f"{_MARK}(.*?){_MARK}", re.DOTALL)

#: Characters of SVG text joined per piece yielded.
PIECE = 1 << 20

# The one home of the inline rewrite (figures._save re-exports inline_svg): here, because
# writing the page must need no matplotlib (figures/ imports it with any of its modules).
_ID = re.compile(r'id="([^"]+)"')
# id="X" | #X) | "#X" — the three places an id is defined or referred to
_REF = re.compile(r'(id=")([^"]+)(")|(#)([^)"#\s]+)(\))|("#)([^"]+)(")')


def _renamer(ids: set[str], prefix: str):
    """The substitution of :data:`_REF` that prefixes the names in ``ids``."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", prefix)

    def rename(m: re.Match) -> str:
        first = m.lastindex - 2  # the matched alternative's (head, name, tail) groups
        head, name, tail = m.group(first, first + 1, first + 2)
        return f"{head}{safe}-{name}{tail}" if name in ids else m.group(0)

    return rename


def inline_svg(svg: str, *, prefix: str) -> str:
    """SVG text made safe to inline: no prolog, ids unique to ``prefix``.

    Every ``id="X"`` becomes ``id="P-X"`` and every reference to it (``url(#X)``,
    ``href="#X"``) follows, in one pass over the text (linear in its size: a forest plot of
    thousands of rows has thousands of ids).
    """
    svg = svg[svg.find("<svg") :]
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    return _REF.sub(_renamer(ids, prefix), svg)


class FigureSvg:
    """One figure's SVG file; in the page (through ``__html__``, which Jinja2's ``|safe``
    and autoescaping call) a marker that :func:`expand_figures` replaces by the inline SVG."""

    __slots__ = ("name", "path")

    def __init__(self, path: str | Path, name: str) -> None:
        self.path, self.name = Path(path), name

    def __html__(self) -> str:
        return f"{_MARK}{self.name}{_MARK}"

    def text(self) -> str:
        """The inline SVG as one string (:func:`inline_svg_pieces` joined)."""
        return "".join(inline_svg_pieces(self.path, self.name))


class FigureFiles(Mapping):
    """Figure name → :class:`FigureSvg` of ``folder/<name>.svg``, for the figures drawn."""

    def __init__(self, folder: str | Path, names: Iterable[str]) -> None:
        self.folder = Path(folder)
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> FigureSvg:
        if name not in self._names:
            raise KeyError(name)
        return FigureSvg(self.folder / f"{name}.svg", name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def expand_figures(chunks: Iterable[str], svgs: Mapping) -> Iterator[str]:
    """``chunks`` of a rendered page with each figure marker replaced by its inline SVG,
    streamed from its file (``svgs[name]``, a :class:`FigureSvg`)."""
    for chunk in chunks:
        if _MARK not in chunk:
            yield chunk
            continue
        parts = _MARKED.split(chunk)
        # split with one group: text, name, text, name, ..., text
        for i, part in enumerate(parts):
            if i % 2:
                fig = svgs[part]
                yield from inline_svg_pieces(fig.path, fig.name)
            elif part:
                yield part


def inline_svg_pieces(path: str | Path, prefix: str, *, size: int = PIECE) -> Iterator[str]:
    """The text of :func:`inline_svg` of the file ``path``, in
    pieces of about ``size`` characters, reading the file line by line (twice: the ids to
    rename first, then the text).

    The same text as the whole-file function: its patterns (``id="X"``, ``#X)``, ``"#X"``)
    never span a line in an SVG (matplotlib writes ``"`` in text as ``&quot;``, and a name
    ends at white space or a quote), so line by line they find the same matches.
    """
    with open(path, encoding="utf-8", newline="") as fh:
        ids: set[str] = set()
        for line in _from_svg(fh):
            ids.update(_ID.findall(line))
        fh.seek(0)
        rename = _renamer(ids, prefix)
        piece: list[str] = []
        n = 0
        for line in _from_svg(fh):
            out = _REF.sub(rename, line) if ids else line
            piece.append(out)
            n += len(out)
            if n >= size:
                yield "".join(piece)
                piece, n = [], 0
        if piece:
            yield "".join(piece)


def _from_svg(lines: Iterable[str]) -> Iterator[str]:
    """The lines from the first ``<svg`` on (the XML prolog and DOCTYPE dropped)."""
    it = iter(lines)
    for line in it:
        at = line.find("<svg")
        if at >= 0:
            yield line[at:]
            break
    yield from it
