"""Binned GOSH over all subsets (gosh_summary): at k where every fit can be kept, its counts,
ranges and per-study means equal those of gosh()'s full result binned the same way; the
result does not depend on the number of threads (nor its counts on the chunk size); its
quantile bins hold the quantiles of the full result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import gosh_summary, pool
from sci_evidence.meta._gosh_blocks import _bin_index
from sci_evidence.meta.gosh import compiled_kernel_available, gosh
from sci_evidence.meta.gosh_summary import GoshSummary
from support.cli_run import run
from tolerances import GOSH_SUMMARY_MEAN_RTOL

ENGINES = ["numpy"] + (["compiled"] if compiled_kernel_available() else [])
ARRAYS = ("counts", "est_fine", "I2_fine", "n_with", "est_with", "est_without", "I2_with",
          "I2_without", "est_edges", "I2_edges")  # fmt: skip


def _res(k, method, seed=3):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.5, k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.1))
    return pool(yi, vi, method=method)


def assert_same_summary(a: GoshSummary, b: GoshSummary) -> None:
    assert (a.k, a.method, a.n_subsets, a.n_finite) == (b.k, b.method, b.n_subsets, b.n_finite)
    assert a.estimate_range == b.estimate_range and a.I2_range == b.I2_range
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method, k", [("DL", 13), ("EE", 11), ("REML", 10), ("ML", 9)])
def test_summary_equals_the_full_result_binned(engine, method, k):
    res = _res(k, method)
    full = gosh(res, engine=engine)
    s = gosh_summary(res, engine=engine, chunk_size=1024, n_jobs=2)
    assert s.n_subsets == s.n_finite == full.n_subsets == 2**k - 1
    lo, hi = float(np.min(res.yi)), float(np.max(res.yi))
    fe = _bin_index(full.estimate, lo, hi, 2000)
    fi = _bin_index(full.I2, 0.0, 100.0, 2000)
    assert np.array_equal(s.est_fine, np.bincount(fe, minlength=2000))
    assert np.array_equal(s.I2_fine, np.bincount(fi, minlength=2000))
    cells = np.bincount((fe // 10) * 100 + fi // 20, minlength=200 * 100).reshape(200, 100)
    assert np.array_equal(s.counts, cells)
    assert s.estimate_range == (full.estimate.min(), full.estimate.max())
    assert s.I2_range == (full.I2.min(), full.I2.max())
    # every study is in half of the 2^k subsets
    assert s.n_with.tolist() == [2 ** (k - 1)] * k
    si = full.study_influence()
    for ours, theirs in (("est_with", "estimate_with"), ("est_without", "estimate_without"),
                         ("I2_with", "I2_with"), ("I2_without", "I2_without")):  # fmt: skip
        np.testing.assert_allclose(getattr(s, ours), si[theirs], rtol=GOSH_SUMMARY_MEAN_RTOL)
    # the same summary whatever the threads (chunks merge in any order) ...
    assert_same_summary(s, gosh_summary(res, engine=engine, chunk_size=1024, n_jobs=1))
    # ... and the same counts whatever the chunk size (the sums of the means are rounded
    # per chunk, so they may move in the last bits)
    other = gosh_summary(res, engine=engine, chunk_size=1 << 17, n_jobs=1)
    for name in ("counts", "est_fine", "I2_fine", "n_with"):
        assert np.array_equal(getattr(s, name), getattr(other, name)), name
    np.testing.assert_allclose(other.I2_with, s.I2_with, rtol=GOSH_SUMMARY_MEAN_RTOL)


def test_quantile_bins_hold_the_quantiles_of_every_subset():
    res = _res(12, "DL", seed=8)
    full = gosh(res)
    s = gosh_summary(res)
    for what, values in (("estimate", full.estimate), ("I2", full.I2)):
        for q in (0.025, 0.25, 0.5, 0.975):
            x = float(np.quantile(values, q, method="inverted_cdf"))
            lo, hi = s.quantile(what, q)
            assert lo <= x <= hi, (what, q, lo, x, hi)
            edges = s.est_fine_edges if what == "estimate" else s.I2_fine_edges
            assert hi - lo == pytest.approx(edges[1] - edges[0])
    # the marginals of the 2-D counts add up the fine counts
    assert np.array_equal(s.counts.sum(axis=1), s.est_fine.reshape(200, 10).sum(axis=1))
    assert np.array_equal(s.counts.sum(axis=0), s.I2_fine.reshape(100, 20).sum(axis=1))


def test_outputs(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    s = gosh_summary(_res(9, "DL"), bins=(50, 40), fine_bins=200)
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["n_subsets"] == 511 and sum(map(sum, d["counts"])) == 511
    frame = s.to_frame()
    assert int(frame["count"].sum()) == 511 and (frame["count"] > 0).all()
    assert "511 fits to all 511 subsets of k = 9" in s.summary()
    fig = s.plot()
    fig.savefig(tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0


def test_bad_requests_are_one_line():
    res = pool([0.1, 0.3, 0.2, 0.5], [0.1, 0.2, 0.1, 0.3], mods={"x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InputError, match="without moderators"):
        gosh_summary(res)
    with pytest.raises(InputError, match="multiple"):
        gosh_summary(_res(5, "DL"), bins=(30, 100), fine_bins=2000)


def test_cli_gosh_all_bins_every_subset_beyond_the_exhaustive_limit(tmp_path, capsys, monkeypatch):
    # the limit lowered to 10 so that --gosh-all is exercised at the example's k = 13
    import importlib

    monkeypatch.setattr(importlib.import_module("sci_evidence.meta.gosh"), "MAX_EXHAUSTIVE_K", 10)
    argv = ["meta", "--example", "--method", "DL", "--json", "--gosh", str(tmp_path / "g.png")]
    code, out, err = run([*argv, "--gosh-all"], capsys)
    assert code == 0, err
    g = json.loads(out)["gosh"]
    assert g["binned"] and g["n_subsets"] == g["n_finite"] == 2**13 - 1
    assert sum(map(sum, g["counts"])) == 2**13 - 1
    assert (tmp_path / "g.png").stat().st_size > 0
