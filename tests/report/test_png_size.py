"""PNG figures keep 150 dpi up to MAX_PNG_PIXELS pixels and lower it beyond (issue 16): a
forest plot of 1,600 studies (10 × 480 inches) was 110 million pixels, 440 MB of Agg buffer."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from sci_evidence.report.figures._save import MAX_PNG_PIXELS, png_dpi, save_figure  # noqa: E402


@pytest.mark.parametrize(
    ("size", "dpi"),
    [((7.0, 5.0), 150.0), ((10.0, 80.0), 150.0), ((10.0, 480.0), (MAX_PNG_PIXELS / 4800) ** 0.5)],
)
def test_png_dpi(size, dpi):
    fig = plt.figure(figsize=size)
    try:
        assert png_dpi(fig, 150) == pytest.approx(dpi)
        w, h = size
        assert w * h * png_dpi(fig, 150) ** 2 <= MAX_PNG_PIXELS * (1 + 1e-12)
    finally:
        plt.close(fig)


def test_a_tall_png_is_written_within_the_pixel_budget(tmp_path):
    fig = plt.figure(figsize=(4.0, 600.0))
    fig.text(0.5, 0.5, "middle")
    save_figure(fig, tmp_path, "tall", formats=("svg", "png"))
    with Image.open(tmp_path / "tall.png") as im:
        w, h = im.size
    assert w * h <= MAX_PNG_PIXELS
    assert w * h > 0.99 * MAX_PNG_PIXELS  # lowered only as far as needed
    assert h / w == pytest.approx(150.0, rel=0.01)  # the figure's shape is kept
