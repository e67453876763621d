"""report.pdf shows every column of every table (the study table used to stop after
``cell_source``): the PDF's text, read with pypdf, holds the last column header of every
table of report.html, and all of the study characteristics' headers in their order."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from sci_evidence.report import pdf

pypdf = pytest.importorskip("pypdf")
pytestmark = pytest.mark.skipif(pdf.find_chromium() is None, reason="needs Chromium")


class _Headers(HTMLParser):
    """The header texts of each table (``<thead>``'s cells) of a page, by table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self._in_th = False
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "thead":
            self._in_head = True
        elif tag == "th" and self._in_head:
            self._in_th = True
            self.tables[-1].append("")

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data):
        if self._in_th and self.tables:
            self.tables[-1][-1] += data


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    from sci_evidence.evidence import load_evidence
    from sci_evidence.report.writer import write_review
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    out = tmp_path_factory.mktemp("pdf") / "report"
    files = write_review(run_review(load_evidence(), load_protocol()), out, pdf=True)
    assert "report.pdf" in files
    reader = pypdf.PdfReader(out / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    return out, reader, text


def test_every_table_shows_its_last_column(printed):
    out, reader, text = printed
    parser = _Headers()
    parser.feed((out / "report.html").read_text("utf-8"))
    # wrapped cells break lines between words; compare without whitespace
    flat = _squash(text)
    checked = 0
    for headers in parser.tables:
        named = [h.strip() for h in headers if h.strip()]
        if not named:
            continue
        assert _squash(named[-1]) in flat, named[-1]
        checked += 1
    assert checked >= 20
    # landscape pages, and no hidden print copy left behind
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)
    assert not list(out.glob(".*.print.html"))


def test_study_table_has_every_column_in_order(printed):
    out, _, text = printed
    parser = _Headers()
    parser.feed((out / "report.html").read_text("utf-8"))
    study = next(t for t in parser.tables if "cell_source" in t)
    assert study[-1] == "in_analyses"
    line = next(x for x in text.splitlines() if x.startswith("study design"))
    assert line.split() == study
