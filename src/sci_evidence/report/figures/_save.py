"""Write a figure as PNG, SVG and PDF; return the SVG text for inline embedding."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; also the fastest backend
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sci_evidence.report.page_figures import inline_svg  # noqa: E402 - its one home

# Text stays text in the SVG: smaller files, and the numbers can be searched in the page.
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "sci-evidence"  # reproducible ids across runs
matplotlib.rcParams["pdf.fonttype"] = 3  # Type 3 subsetting is far faster than Type 42

FORMATS = ("png", "svg", "pdf")


def save_figure(
    fig: Figure, out_dir: str | Path, name: str, *, formats=FORMATS, dpi: int = 150
) -> str:
    """Save ``fig`` as ``out_dir/name.{png,svg,pdf}`` and return the SVG markup.

    The returned SVG has its XML prolog and DOCTYPE removed and the element ids prefixed
    with ``name`` so that several figures can live in one HTML page without clashing ids.
    The figure is closed afterwards.
    """
    return inline_svg(write_figure(fig, out_dir, name, formats=formats, dpi=dpi), prefix=name)


def write_figure(
    fig: Figure, out_dir: str | Path, name: str, *, formats=FORMATS, dpi: int = 150
) -> str:
    """Save ``fig`` as ``out_dir/name.{png,svg,pdf}`` (``formats``), close it and return its
    SVG text as saved (the report inlines it from the file: ``report/page_figures.py``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    # No bbox_inches="tight": it draws every figure twice; the figures lay themselves out.
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    if "svg" in formats:
        (out / f"{name}.svg").write_text(svg, encoding="utf-8")
    if "png" in formats:
        # zlib level 1: a third of the encoding time for files ~20% larger
        fig.savefig(out / f"{name}.png", dpi=png_dpi(fig, dpi), pil_kwargs={"compress_level": 1})
    if "pdf" in formats:
        fig.savefig(out / f"{name}.pdf")
    plt.close(fig)
    return svg


#: Most pixels of a PNG figure (4 bytes each in the Agg buffer it is drawn into: 80 MB).
MAX_PNG_PIXELS = 20_000_000


def png_dpi(fig: Figure, dpi: float) -> float:
    """``dpi``, or less for a figure so large that its PNG would pass :data:`MAX_PNG_PIXELS`
    (a forest plot of 1,600 studies is 10 × 480 inches: 110 million pixels, 440 MB to draw,
    at 150 dpi; 64 dpi keeps it at 20 million)."""
    w, h = fig.get_size_inches()
    return min(float(dpi), (MAX_PNG_PIXELS / (w * h)) ** 0.5)
