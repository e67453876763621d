"""Forest plots of proportions draw each study's raw x/n with its exact interval."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sci_evidence.errors import InputError  # noqa: E402
from sci_evidence.meta import effect_sizes, pool, proportion_ci  # noqa: E402
from sci_evidence.meta.plots import forest_plot  # noqa: E402
from sci_evidence.meta.transforms import back_transform  # noqa: E402
from support.forest_lines import study_whiskers

XI = np.array([0, 3, 0, 2])
NI = np.array([1, 122, 50, 14])


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _fit(measure):
    es = effect_sizes(measure, xi=XI, ni=NI)
    return pool(es["yi"], es["vi"], measure=measure)


@pytest.mark.parametrize("measure", ["PLO", "PFT", "PAS", "PR"])
def test_studies_are_raw_proportions_with_clopper_pearson(measure):
    res = _fit(measure)
    transf = lambda v: back_transform(measure, v, ni=NI)  # noqa: E731
    fig = forest_plot(res, transf=transf, counts=(XI, NI), show_refline=False)
    lo, hi = proportion_ci(XI, NI)
    lines = study_whiskers(fig)[: len(XI)]
    np.testing.assert_allclose([a for a, _ in lines], lo, atol=1e-12)
    np.testing.assert_allclose([b for _, b in lines], hi, atol=1e-12)
    texts = [t.get_text() for t in fig.axes[2].texts]
    assert "0.00 [0.00, 0.97]" in texts  # the 0/1 case report, not a back-transformed 8.9%
    assert "0.00 [0.00, 0.07]" in texts  # 0/50 has a non-degenerate upper bound


def test_percent_display_and_wilson():
    res = _fit("PLO")
    transf = lambda v: 100 * back_transform("PLO", v)  # noqa: E731
    fig = forest_plot(
        res, transf=transf, counts=(XI, NI), proportion_ci_method="wilson", show_refline=False
    )
    lo, hi = proportion_ci(XI, NI, method="wilson")
    lines = study_whiskers(fig)[: len(XI)]
    np.testing.assert_allclose([a for a, _ in lines], 100 * lo, atol=1e-9)
    np.testing.assert_allclose([b for _, b in lines], 100 * hi, atol=1e-9)


def test_counts_refused_where_they_do_not_fit():
    res = _fit("PLO")
    with pytest.raises(InputError, match="proportion scale"):
        forest_plot(res, counts=(XI, NI))  # logits on the axis: raw proportions would not fit
    with pytest.raises(InputError, match="has 3 studies"):
        forest_plot(res, transf=lambda v: back_transform("PLO", v), counts=(XI[:3], NI[:3]))
    rr = pool([0.1, 0.2], [0.01, 0.02], measure="RR")
    with pytest.raises(InputError, match="measure is 'RR'"):
        forest_plot(rr, counts=([1, 2], [3, 4]))
