"""``inline_svg``: one pass over the SVG text, byte-identical to the former id-by-id rewrite."""

from __future__ import annotations

import io
import re

import numpy as np

from sci_evidence.report.figures._save import inline_svg


def _reference(svg: str, *, prefix: str) -> str:
    """The former implementation (one str.replace per id: quadratic in the rows)."""
    svg = svg[svg.find("<svg") :]
    ids = set(re.findall(r'id="([^"]+)"', svg))
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", prefix)
    for old in sorted(ids, key=len, reverse=True):
        new = f"{safe}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"')
        svg = svg.replace(f"#{old})", f"#{new})")
        svg = svg.replace(f'"#{old}"', f'"#{new}"')
    return svg


def test_forest_plot_svg_is_byte_identical_to_the_reference():
    import matplotlib

    matplotlib.use("Agg")
    from sci_evidence import meta
    from sci_evidence.meta.plots import forest_plot

    rng = np.random.default_rng(1)
    k = 40
    res = meta.pool(
        rng.normal(size=k), rng.uniform(0.01, 0.1, k), labels=[f"S{i}" for i in range(k)]
    )
    fig = forest_plot(res)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "t"}):
        fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    assert len(re.findall(r'id="', svg)) > 100
    assert inline_svg(svg, prefix="forest a:1") == _reference(svg, prefix="forest a:1")


def test_references_follow_their_ids_and_nothing_else_changes():
    svg = (
        '<?xml version="1.0"?>\n<svg><defs><clipPath id="p1"><rect/></clipPath>'
        '<path id="m2"/></defs><g clip-path="url(#p1)"><use xlink:href="#m2" '
        'style="fill:#ff0000"/></g><text>#p1) "#m3" id=</text></svg>'
    )
    out = inline_svg(svg, prefix="f 1")
    assert out == _reference(svg, prefix="f 1")
    assert out.startswith("<svg>")
    assert 'id="f_1-p1"' in out and "url(#f_1-p1)" in out and 'href="#f_1-m2"' in out
    assert "fill:#ff0000" in out and '"#m3"' in out
