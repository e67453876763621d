"""Traffic-light plots of thousands of studies (issue 16): beyond RASTER_STUDIES the cells are
one image, so the figure's artists and SVG stay small, and each judgement is still drawn in
its colour at its cell."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from sci_evidence.report.figures import rob as R  # noqa: E402

DOMAINS = ["D1 randomisation", "D2 deviations", "D3 missing data", "D4 measurement", "overall"]
KINDS = np.array(["low", "some_concerns", "high", "critical", "no_information"])


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _rob(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (f"s{i}", "RoB2", d, KINDS[rng.integers(len(KINDS))]) for i in range(n) for d in DOMAINS
    ]
    return pd.DataFrame(rows, columns=["study_id", "tool", "domain", "judgement"])


def _labels(n: int) -> dict[str, str]:
    return {f"s{i}": f"Author{i} 2020" for i in range(n)}


def _rgba_of(keys: np.ndarray) -> np.ndarray:
    """The colour each judgement is drawn in, as 0–255 RGBA."""
    table = {k: np.round(255 * np.array(to_rgba(c))) for k, (c, _) in R.JUDGEMENTS.items()}
    return np.array([table[k] for k in keys.ravel()]).reshape(*keys.shape, 4)


@pytest.fixture(scope="module")
def big():
    """The traffic light of 2,000 studies and their judgement matrix."""
    rob = _rob(2000)
    mat, _ = R.tool_matrix(rob, "RoB2")
    return mat, R.rob_traffic_light_tool(rob, "RoB2", _labels(2000))


def test_2000_studies_draw_one_image_not_an_artist_per_cell(big):
    mat, fig = big
    n = len(mat)
    ax = fig.axes[0]
    # one image; no disc collection, and text only for labels, ticks, title, key and legend
    # (the drawing per cell had n × 5 discs and n × 5 symbols)
    assert len(ax.images) == -(-n // R._IMAGE_ROWS) and not ax.collections
    assert not ax.texts
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert len(texts) < n + 60
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    # ~440 bytes per study (its label); a disc and a symbol per cell made ~6 MB
    assert len(buf.getvalue()) < 1_000_000
    assert f"{n} studies: one coloured block per judgement, without symbols" in ax.get_title()


def test_the_image_has_each_judgement_in_its_colour_at_its_cell(big):
    mat, fig = big
    n = len(mat)
    n_cols = mat.shape[1]
    # the images (a block of rows each) tile the cells: cell (i, j) at x = j, y = i
    ims = fig.axes[0].images
    tops = [-0.5] + [im.get_extent()[2] for im in ims]
    for im, top in zip(ims, tops, strict=False):
        left, right, _, upper = im.get_extent()
        assert (left, right, upper) == (-0.5, n_cols - 0.5, top)
    assert tops[-1] == n - 0.5
    arr = np.concatenate([np.asarray(im.get_array()) for im in ims])
    (ch, cw), (bh, bw) = R._CELL_PX, R._BLOCK_PX
    assert arr.shape == (n * ch, n_cols * cw, 4)
    centres = arr[ch // 2 :: ch, cw // 2 :: cw]
    np.testing.assert_array_equal(centres, _rgba_of(mat.to_numpy()))
    # each block is its colour throughout, with transparent gaps between blocks
    cell = arr[:ch, :cw]
    assert (cell[..., 3] == 255).sum() == bh * bw
    assert (cell[..., 3] == 0).sum() == ch * cw - bh * bw


def test_the_rendered_cells_have_their_colours():
    n = R.RASTER_STUDIES + 1  # the first size drawn as an image
    rob = _rob(n, seed=3)
    mat, _ = R.tool_matrix(rob, "RoB2")
    fig = R.rob_traffic_light_tool(rob, "RoB2", _labels(n))
    ax = fig.axes[0]
    assert len(ax.images) == 4  # of 100 rows each
    dpi = 40
    fig.set_dpi(dpi)
    fig.canvas.draw()
    px = np.asarray(fig.canvas.buffer_rgba())
    height = px.shape[0]
    expect = _rgba_of(mat.to_numpy())
    for i, j in [(0, 0), (1, 4), (150, 2), (n - 1, 3), (n - 1, 4)]:
        x, y = ax.transData.transform((j, i))
        got = px[int(round(height - y)), int(round(x))]
        np.testing.assert_array_equal(got, expect[i, j], err_msg=f"cell {i}, {j}")


def test_up_to_the_threshold_cells_are_discs_with_symbols():
    n = R.RASTER_STUDIES
    rob = _rob(n, seed=5)
    mat, _ = R.tool_matrix(rob, "RoB2")
    fig = R.rob_traffic_light_tool(rob, "RoB2", _labels(n))
    ax = fig.axes[0]
    assert not ax.images
    colours = ax.collections[0].get_facecolors()
    np.testing.assert_allclose(255 * colours, _rgba_of(mat.to_numpy()).reshape(-1, 4), atol=0.5)
    symbols = [t.get_text() for t in ax.texts]
    assert len(symbols) == mat.size
    assert symbols[0] == R.JUDGEMENTS[mat.iloc[0, 0]][1]


def test_the_plot_without_tools_uses_the_image_too():
    n = 400
    rob = _rob(n).drop(columns="tool")
    studies = [f"s{i}" for i in range(n)]
    fig = R.rob_traffic_light(rob, studies, _labels(n))
    ax = fig.axes[0]
    assert len(ax.images) == 4 and not ax.texts
    assert "400 studies: one coloured block per judgement" in fig.get_suptitle()
    mat = R._matrix(rob, studies, {})
    arr = np.concatenate([np.asarray(im.get_array()) for im in ax.images])
    (ch, cw) = R._CELL_PX
    np.testing.assert_array_equal(arr[ch // 2 :: ch, cw // 2 :: cw], _rgba_of(mat.to_numpy()))
