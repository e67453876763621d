"""GOSH: every subset fitted, checked against a plain loop of ``fit_design`` over the subsets
and against metafor 3.8-1's ``gosh()`` (``metafor_bias_extra.json``: all 255 subsets of the
first 8 BCG trials with DL, EE and REML)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import pool
from sci_evidence.meta.gosh import compiled_kernel_available, gosh
from sci_evidence.meta.models import fit_design

DATA = Path(__file__).resolve().parents[1] / "data"
EXTRA = json.loads((DATA / "metafor_bias_extra.json").read_text())


def _data(k, seed=11, tau2=0.08):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.4, k)
    yi = rng.normal(0.4, np.sqrt(vi + tau2))
    return yi, vi


def _loop(res, g, method):
    """The plain loop: fit_design on each subset's studies."""
    X = np.asarray(res.X)
    out = []
    for row in g.membership():
        f = fit_design(res.yi[row], res.vi[row], X[row], method=method)
        out.append((f.estimate, f.tau2, f.I2, f.Q))
    return np.array(out)


@pytest.mark.parametrize("method", ["EE", "DL", "REML", "ML"])
def test_gosh_equals_a_loop_over_fit_design(method):
    yi, vi = _data(9)
    res = pool(yi, vi, method=method)
    g = gosh(res)
    assert g.exhaustive and g.n_subsets == 2**9 - 1 and g.method == method
    ref = _loop(res, g, method)
    got = np.column_stack([g.estimate, g.tau2, g.I2, g.Q])
    tol = 1e-10 if method in ("EE", "DL") else 1e-7  # REML/ML: both iterate to ~1e-10
    assert got == pytest.approx(ref, rel=tol, abs=tol)
    assert g.n_studies.tolist() == g.membership().sum(axis=1).tolist()


def test_gosh_with_a_moderator_equals_a_loop():
    yi, vi = _data(8, seed=3)
    x = np.linspace(0, 1, 8)
    res = pool(yi, vi, mods={"x": x}, method="DL")
    g = gosh(res)
    assert g.n_subsets == 2**8 - 1 - 8  # subsets with fewer than p = 2 studies are skipped
    assert (g.n_studies >= 2).all()
    ref = _loop(res, g, "DL")
    assert np.column_stack([g.estimate, g.tau2, g.I2, g.Q]) == pytest.approx(
        ref, rel=1e-9, abs=1e-9
    )


ENGINES = ["numpy"] + (["compiled"] if compiled_kernel_available() else [])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", EXTRA["gosh"], ids=lambda c: c["name"])
def test_gosh_matches_metafor(case, engine):
    res = pool(case["input"]["yi"], case["input"]["vi"], method=case["method"])
    g = gosh(res, engine=engine)
    e = case["expected"]
    pos = np.asarray(e["mask"], dtype=np.int64) - 1  # our subset j holds mask j + 1
    assert g.masks[pos].tolist() == e["mask"]
    for name in ("estimate", "tau2", "I2", "Q"):
        assert getattr(g, name)[pos] == pytest.approx(
            np.asarray(e[name], float), rel=1e-6, abs=1e-8
        ), name
    # metafor's closed-form DL path reports H2 = Q / (k - 1) even when tau2 = 0, where rma()
    # (and we) give H2 = 1: compare where the definitions agree
    h2 = np.asarray(e["H2"], float)
    same = np.asarray(e["tau2"], float) > 0 if case["method"] == "DL" else np.ones(h2.size, bool)
    assert g.H2[pos][same] == pytest.approx(h2[same], rel=1e-6, abs=1e-8)
    assert g.n_studies[pos].tolist() == e["k"]


def test_closed_form_kernel_over_several_chunks_and_threads():
    yi, vi = _data(14, seed=8)
    res = pool(yi, vi, method="DL")
    one = gosh(res, n_jobs=1, chunk_size=1024)
    two = gosh(res, n_jobs=2, chunk_size=2048)
    big = gosh(res, chunk_size=1 << 20)
    for name in ("estimate", "tau2", "I2", "Q"):
        a = getattr(one, name)
        assert getattr(two, name) == pytest.approx(a, rel=1e-12, abs=1e-12)
        assert getattr(big, name) == pytest.approx(a, rel=1e-12, abs=1e-12)
    # spot check against fit_design
    for j in (0, 5, 777, 4095, 2**14 - 2):
        row = one.membership()[j]
        f = fit_design(yi[row], vi[row], np.ones((row.sum(), 1)), method="DL")
        assert (one.estimate[j], one.tau2[j], one.I2[j], one.Q[j]) == pytest.approx(
            (f.estimate, f.tau2, f.I2, f.Q), rel=1e-10, abs=1e-12
        )


def test_random_subsets_are_seeded_and_reproducible():
    yi, vi = _data(30, seed=2)
    res = pool(yi, vi, method="DL")
    a = gosh(res, subsets=5000, seed=42)
    b = gosh(res, subsets=5000, seed=42, n_jobs=1, chunk_size=4096)
    c = gosh(res, subsets=5000, seed=43)
    assert not a.exhaustive and a.seed == 42 and a.n_subsets == 5000
    assert np.array_equal(a.masks, b.masks) and np.array_equal(a.estimate, b.estimate)
    assert not np.array_equal(a.masks, c.masks)
    # each study is in about half the subsets
    share = a.membership().mean(axis=0)
    assert np.all(np.abs(share - 0.5) < 0.05)
    for j in range(0, 5000, 997):
        row = a.membership()[j]
        f = fit_design(yi[row], vi[row], np.ones((row.sum(), 1)), method="DL")
        assert a.estimate[j] == pytest.approx(f.estimate, rel=1e-10)
    d = gosh(res, subsets=3000)
    assert isinstance(d.seed, int)


def test_default_is_exhaustive_up_to_k_24_and_subsets_argument():
    yi, vi = _data(6)
    res = pool(yi, vi)
    assert gosh(res, subsets=10, seed=1).n_subsets == 10
    assert gosh(res, subsets=10**6).exhaustive  # more than 2^6 - 1 asked: all of them


def test_study_selection_frames_and_dict():
    yi, vi = _data(6)
    res = pool(yi, vi, labels=list("ABCDEF"), method="DL")
    g = gosh(res)
    has_b = g.contains("B")
    assert has_b.sum() == 2**5 and np.array_equal(has_b, g.contains(1))
    frame = g.to_frame(membership=True)
    assert list(frame.columns[:6]) == ["estimate", "tau2", "I2", "H2", "Q", "k"]
    assert frame["B"].tolist() == has_b.tolist() and len(frame) == 63
    d = g.to_dict()
    json.dumps(d)
    assert len(d["estimate"]) == 63 and d["masks"][0] == 1
    si = g.study_influence()
    assert list(si.index) == list("ABCDEF")
    assert "GOSH" in g.summary()
    with pytest.raises(InputError, match="label"):
        g.contains("Z")
    with pytest.raises(InputError, match="index"):
        g.contains(6)


def test_gosh_rejects_unsupported_estimators_and_tiny_inputs():
    yi, vi = _data(6)
    with pytest.raises(InputError, match="method"):
        gosh(pool(yi, vi, method="PM"))
    assert gosh(pool(yi, vi, method="PM"), method="DL").method == "DL"
    with pytest.raises(InputError, match="at least 2"):
        gosh(pool(yi, vi), subsets=1)


def test_progress_callback_and_interrupt_stops_cleanly():
    yi, vi = _data(16)
    res = pool(yi, vi, method="DL")
    seen = []
    gosh(res, chunk_size=4096, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2**16 - 1, 2**16 - 1)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gosh(res, chunk_size=1024, progress=interrupt)


# ---- properties (hypothesis) -------------------------------------------------------------
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sci_evidence.meta._batch import fit_batch  # noqa: E402


@st.composite
def _datasets(draw):
    k = draw(st.integers(2, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.005, 1.0, k)
    yi = rng.normal(rng.normal(0, 1), np.sqrt(vi + rng.choice([0.0, 0.05, 0.5])))
    return yi, vi


@settings(max_examples=30, deadline=None)
@example(
    data=(
        np.array([0.55301962, 0.19112119, 0.84354883, 1.33384201, -1.36138575, 1.04390545]),
        np.array([0.63877688, 0.27343778, 0.04576866, 0.021445, 0.81420389, 0.9131918]),
    ),
    method="ML",
)  # subset {2, 3, 5}: metafor 3.8-1 ML gives tau2 = 0.1817092 (log-lik -3.6537 > -3.7422 at 0)
@example(
    data=(np.array([0.25994061, 1.94231226]), np.array([0.67738799, 0.13733262])),
    method="ML",
)  # metafor 3.8-1 ML: tau2 = 0.09911715 although the likelihood at 0 is higher by 1.1e-5
@example(
    data=(
        np.array([0.49586915, 0.27553829, 3.45599218, 0.61246813]),
        np.array([0.26268545, 0.51289213, 0.83280484, 0.03658434]),
    ),
    method="ML",
)  # all four: ML Fisher scoring does not converge (metafor 3.8-1: "Fisher scoring algorithm
#    did not converge"); GOSH records NaN there, not its last iterate (tau2 0.295, no maximum)
@given(_datasets(), st.sampled_from(["EE", "DL", "REML", "ML"]))
def test_every_subset_agrees_with_fit_design(data, method):
    yi, vi = data
    g = gosh(pool(yi, vi, method=method))
    ref = _loop(pool(yi, vi, method=method), g, method)
    got = np.column_stack([g.estimate, g.tau2, g.I2, g.Q])
    failed = np.isnan(g.tau2)
    # a subset whose Fisher scoring does not converge has no estimate (NA in metafor's gosh(),
    # whose rma() stops there): the metafor-compatible fit of it says so too
    member = g.membership()
    for j in np.flatnonzero(failed):
        row = member[j]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pool(yi[row], vi[row], method=method, control={"metafor_iterations": True})
        assert any("did not converge" in str(w.message) for w in caught), j
    got, ref = got[~failed], ref[~failed]
    g_tau2 = g.tau2[~failed]
    member = member[~failed]
    same = np.isclose(got[:, 1], ref[:, 1], rtol=1e-6, atol=1e-7)
    if not same.all():
        # (RE)ML likelihoods with two maxima where GOSH follows metafor's Fisher scoring to
        # the boundary (its HE start is 0) while fit_design finds the higher interior
        # maximum (tests/meta/test_models_bimodal.py checks both against metafor 3.8-1)
        from sci_evidence.meta.tau2 import _loglik

        for j in np.flatnonzero(~same):
            row = member[j]
            X1 = np.ones((row.sum(), 1))
            ll0 = _loglik(method, 0.0, yi[row], vi[row], X1)
            if g_tau2[j] == 0.0:
                # fit_design found the higher interior maximum
                assert _loglik(method, ref[j, 1], yi[row], vi[row], X1) > ll0
            else:
                # the opposite tie: fit_design keeps tau2 = 0 when its likelihood is higher
                # by more than 1e-8; GOSH, as metafor's ll0check, only by more than eps^(1/4)
                assert ref[j, 1] == 0.0
                ll_gosh = _loglik(method, g_tau2[j], yi[row], vi[row], X1)
                assert 0.0 < ll0 - ll_gosh <= np.finfo(float).eps ** 0.25
    assert got[same] == pytest.approx(ref[same], rel=1e-6, abs=1e-7)
    assert np.all((got[:, 2] >= 0) & (got[:, 2] <= 100)) and np.all(got[:, 1] >= 0)


@settings(max_examples=30, deadline=None)
@example(
    data=(
        np.array([-1.33488567, -1.44971824, -0.51446011, 0.4872479, -1.57626674]),
        np.array([0.73394653, 0.13561384, 0.10995675, 0.04542687, 0.89576278]),
    ),
    method="ML",
    test="z",
)  # metafor 3.8-1: rma(yi, vi, mods = ~ x, method = "ML") gives tau2 = 0.1076579
@given(_datasets(), st.sampled_from(["DL", "REML", "ML"]), st.sampled_from(["z", "knha", "t"]))
def test_batched_fits_with_a_moderator_agree_with_fit_design(data, method, test):
    yi, vi = data
    k = yi.size
    if (method, test) == ("ML", "z") and k == 5 and abs(yi[0] + 1.33488567) < 1e-8:
        b = fit_batch(yi, vi, np.column_stack([np.ones(k), np.linspace(-1, 1, k)]), method="ML")
        assert b.tau2[0] == pytest.approx(0.1076579, abs=1e-7)
    if k < 4:
        return
    X = np.column_stack([np.ones(k), np.linspace(-1, 1, k)])
    f = fit_design(yi, vi, X, method=method, test=test)
    b = fit_batch(yi, vi, X, method=method, test=test)
    if (method, test) == ("ML", "z") and k == 5 and abs(yi[0] + 1.33488567) < 1e-8:
        assert f.tau2 == pytest.approx(0.1076579, abs=1e-7)  # fit_design agrees with metafor
    if abs(b.tau2[0] - f.tau2) > 1e-6 * max(1.0, f.tau2):
        # a likelihood with two maxima where the batched kernel follows metafor's Fisher
        # scoring to the boundary and fit_design finds the higher interior maximum
        from sci_evidence.meta.tau2 import _loglik

        assert b.tau2[0] == 0.0
        assert _loglik(method, f.tau2, yi, vi, X) > _loglik(method, 0.0, yi, vi, X)
        return
    assert b.beta[0] == pytest.approx(f.beta, rel=1e-6, abs=1e-7)
    assert b.se[0] == pytest.approx(f.beta_se, rel=1e-6, abs=1e-7)
    assert b.tau2[0] == pytest.approx(f.tau2, rel=1e-6, abs=1e-7)
    assert b.QM[0] == pytest.approx(f.QM, rel=1e-6, abs=1e-7)


def test_bimodal_ml_subset_keeps_the_metafor_estimate():
    """metafor 3.8-1: rma(y[c(2,3,5)], v[c(2,3,5)], method = "ML") -> tau2 = 0.1817092,
    estimate 0.3634492 (the interior maximum has the higher likelihood)."""
    y = np.array([0.55301962, 0.19112119, 0.84354883, 1.33384201, -1.36138575, 1.04390545])
    v = np.array([0.63877688, 0.27343778, 0.04576866, 0.021445, 0.81420389, 0.9131918])
    g = gosh(pool(y, v, method="ML"))
    j = (1 << 1) + (1 << 2) + (1 << 4) - 1
    assert g.membership()[j].tolist() == [False, True, True, False, True, False]
    assert g.tau2[j] == pytest.approx(0.1817092, abs=2e-7)
    assert g.estimate[j] == pytest.approx(0.3634492, abs=2e-7)
    # and the plain loop over fit_design (the reference of the property test) agrees
    ref = _loop(pool(y, v, method="ML"), g, "ML")
    assert ref[j, 1] == pytest.approx(0.1817092, abs=2e-7)
    assert ref[j, 0] == pytest.approx(0.3634492, abs=2e-7)
    assert np.column_stack([g.estimate, g.tau2]) == pytest.approx(ref[:, :2], rel=1e-6, abs=1e-7)
