"""``report.pdf``: the HTML report printed by headless Chromium when it is installed,
otherwise a matplotlib-only PDF of the figures. Never fails the run: when neither works the
reason is returned as a warning.

Chromium prints a copy of the page with every ``<details>`` block open (a closed block would
leave its tables out of the PDF), under the page's print style: A4 landscape, tables at full
page width with wrapping cells, so that every column of every table is on the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

from sci_evidence.errors import DataWarning

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def write_pdf(out: Path, review=None, tables=None, *, timeout: float = 60.0) -> str | None:
    """Write ``out/report.pdf``; return its relative path, or None (with a warning)."""
    target = out / "report.pdf"
    exe = find_chromium()
    if exe:
        page = print_copy(out / "report.html")
        try:
            _chromium(exe, page, target, timeout)
        finally:
            page.unlink(missing_ok=True)
        if target.is_file() and target.stat().st_size > 0:
            return "report.pdf"
    return _matplotlib_pdf(out, target)


_CLOSED_DETAILS = re.compile(r"<details(?![^>]*\bopen\b)")


def print_copy(page: Path) -> Path:
    """A hidden copy of ``page`` beside it with every ``<details>`` open (what is printed)."""
    copy = page.with_name(f".{page.stem}.print.html")
    # line by line: the page can be tens of MB of inline SVG
    with open(page, encoding="utf-8") as src, open(copy, "w", encoding="utf-8") as dst:
        for line in src:
            dst.write(_CLOSED_DETAILS.sub("<details open", line))
    return copy


def _chromium(exe: str, page: Path, target: Path, timeout: float) -> None:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pdf-header-footer",
        f"--print-to-pdf={target}",
        page.resolve().as_uri(),
    ]
    try:
        subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _matplotlib_pdf(out: Path, target: Path) -> str | None:
    """Fallback: the figures' PDFs concatenated into one (matplotlib only)."""
    try:
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_pdf import PdfPages

        pngs = sorted((out / "figures").glob("*.png"))
        with PdfPages(target) as pdf:
            for png in pngs:
                img = mpimg.imread(png)
                h, w = img.shape[:2]
                fig = plt.figure(figsize=(8.27, 8.27 * h / w))
                ax = fig.add_axes([0, 0, 1, 1])
                ax.imshow(img)
                ax.axis("off")
                pdf.savefig(fig)
                plt.close(fig)
        return "report.pdf"
    except Exception as exc:  # the PDF is optional: say why it is missing, keep the run
        warnings.warn(f"report.pdf not written: {exc}", DataWarning, stacklevel=2)
        return None
