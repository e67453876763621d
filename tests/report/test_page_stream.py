"""The report page streams each figure's SVG from its file (report.page_figures): the same
page as rendered with every SVG text in memory, the same inline SVG as ``inline_svg``, and a
failure half way through the page leaves no partial report."""

from __future__ import annotations

import pytest

from sci_evidence.evidence import load_evidence
from sci_evidence.report import page_figures
from sci_evidence.report.figures._save import inline_svg
from sci_evidence.report.html import page_document, render_report
from sci_evidence.report.page_figures import FigureFiles, inline_svg_pieces
from sci_evidence.report.writer import FigureRenderer, _render_in_worker, write_review
from sci_evidence.review.pipeline import run_review
from sci_evidence.review.protocol import parse_protocol

PROTOCOL = """
title = "stream"
seed = 3
[[analyses]]
id = "ais"
outcome = "ais_improved"
design = "single_arm"
measure = "PLO"
subgroups = ["route"]
robustness = true
"""


@pytest.fixture(scope="module")
def review():
    return run_review(load_evidence(), parse_protocol(PROTOCOL))


@pytest.fixture(scope="module")
def written(review, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report"
    write_review(review, out)
    return out


def _names(out) -> list[str]:
    return sorted(p.stem for p in (out / "figures").glob("*.svg"))


def test_streamed_page_equals_the_page_rendered_with_every_svg_in_memory(review, written):
    names = _names(written)
    assert {"forest_ais", "forest_ais_by_route", "prisma_flow"} <= set(names)
    results = review.to_dict()
    texts = {
        n: inline_svg((written / "figures" / f"{n}.svg").read_text("utf-8"), prefix=n)
        for n in names
    }
    in_memory = render_report(review, results, texts)
    streamed = render_report(review, results, FigureFiles(written / "figures", names))
    assert streamed == in_memory
    # the page written by the review is that page (the run record is the review's own)
    assert (written / "report.html").read_text("utf-8") == in_memory
    assert "\x00" not in in_memory
    assert in_memory.count("<svg") == len(names)
    for n in names:  # each figure's ids carry its name in the page
        assert f'id="{n}-' in in_memory or 'id="' not in texts[n]


@pytest.mark.parametrize("size", [1, 997, page_figures.PIECE])
def test_inline_svg_pieces_join_to_inline_svg(written, size):
    for n in _names(written):
        path = written / "figures" / f"{n}.svg"
        pieces = list(inline_svg_pieces(path, n, size=size))
        assert "".join(pieces) == inline_svg(path.read_text("utf-8"), prefix=n)
        if size == 1:  # one piece per line from <svg on
            text = path.read_text("utf-8")
            body = text[text.find("<svg") :]
            assert len(pieces) == body.count("\n") + (not body.endswith("\n")) > 10


def test_inline_svg_pieces_of_a_handmade_svg(tmp_path):
    svg = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg">\n'
        '<defs><clipPath id="c1"><rect/></clipPath><path id="m 1"/></defs>\n'
        '<g clip-path="url(#c1)"><use xlink:href="#m 1" x="0"/><use href="#c1"/></g>\n'
        '<text>"#c1" and #c1) stay text only where they are not ids: #nope)</text>\n'
        "</svg>\n"
    )
    path = tmp_path / "f.svg"
    path.write_text(svg, "utf-8")
    expected = inline_svg(svg, prefix="fig/1")
    assert 'id="fig_1-c1"' in expected and 'href="#fig_1-m 1"' in expected
    for size in (1, 5, 10_000):
        assert "".join(inline_svg_pieces(path, "fig/1", size=size)) == expected
    # no ids: the text from <svg on, as it is
    path.write_text('<?xml version="1.0"?>\n<svg><g/>\n</svg>\n', "utf-8")
    assert "".join(inline_svg_pieces(path, "x")) == "<svg><g/>\n</svg>\n"


def test_figure_files_is_the_figures_drawn(tmp_path):
    files = FigureFiles(tmp_path, ["a", "b"])
    assert list(files) == ["a", "b"] and len(files) == 2
    assert "a" in files and "c" not in files and files.get("c") is None
    assert files["a"].path == tmp_path / "a.svg" and files["a"].name == "a"
    with pytest.raises(KeyError):
        files["c"]
    (tmp_path / "a.svg").write_text('<svg><g id="x"/></svg>', "utf-8")
    assert files["a"].text() == '<svg><g id="a-x"/></svg>'


def test_workers_send_back_the_names_only(review, tmp_path):
    name = _render_in_worker("prisma", "prisma_flow", (review.prisma, dict(review.study_labels)),
                 str(tmp_path), ("svg",))  # fmt: skip
    assert name == "prisma_flow" and (tmp_path / "prisma_flow.svg").stat().st_size > 0
    renderer = FigureRenderer(tmp_path / "figs", workers=2)
    try:
        for a in review.analyses:
            renderer.submit_analysis(a)
        drawn = renderer.collect()
    finally:
        renderer.close()
    assert drawn == renderer.names and "forest_ais" in drawn
    assert all((tmp_path / "figs" / f"{n}.svg").is_file() for n in drawn)


@pytest.mark.parametrize("fault", [RuntimeError("injected"), KeyboardInterrupt()])
def test_a_failure_half_way_through_the_page_leaves_the_previous_report(
    review, tmp_path, monkeypatch, fault
):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("the previous report")
    streamed = []

    def broken(path, prefix, **kw):
        streamed.append(prefix)
        yield "<svg>"  # part of the page is written, then the figure fails
        raise fault

    monkeypatch.setattr(page_figures, "inline_svg_pieces", broken)
    with pytest.raises(type(fault)):
        write_review(review, out)
    assert streamed  # the failure came from inside the page
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert (out / "report.html").read_text() == "the previous report"


def test_writing_the_page_needs_no_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, sci_evidence.report.html, sci_evidence.report.page_figures\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_page_reads_only_the_page_document(review, written):
    # write_review frees the rest of the results document before the page is rendered
    results = review.to_dict()
    svgs = FigureFiles(written / "figures", _names(written))
    page = page_document(results)
    fits = [e for e in page["analyses"] if e["parent"] is not None]
    assert fits and all("studies" not in e for e in fits)
    assert all("studies" in e for e in page["analyses"] if e["parent"] is None)
    assert render_report(review, page, svgs) == render_report(review, results, svgs)
