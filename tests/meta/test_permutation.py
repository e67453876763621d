"""Permutation tests against metafor 3.8-1's ``permutest`` (exact tests; random ones depend
on R's generator and are checked for reproducibility and consistency instead).

References: published case 29 (``permutest(res, exact=TRUE)``, dat.bcg: 12/8192) and
``metafor_bias_extra.json`` (exact tests: REML/z and DL/knha without moderators; REML/z and
DL/knha with a binary moderator, all 1716 distinct permutations).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import pool
from sci_evidence.meta.permutation import permutation_test

DATA = Path(__file__).resolve().parents[1] / "data"
PUBLISHED = {c["id"]: c for c in json.loads((DATA / "published_cases.json").read_text())}
EXTRA = json.loads((DATA / "metafor_bias_extra.json").read_text())


def _fit(case):
    inp = case["input"]
    return pool(
        inp["yi"], inp["vi"], method=case["method"], test=case["test"], mods=inp.get("mods")
    )


@pytest.mark.parametrize("case", EXTRA["permutation"], ids=lambda c: c["name"])
def test_exact_permutation_p_values_match_metafor(case):
    res = _fit(case)
    pt = permutation_test(res, exact=True)
    e = case["expected"]
    assert pt.exact and pt.iterations == e["iterations"]
    assert pt.pval_perm == pytest.approx(np.atleast_1d(e["pval"]), abs=1e-12)
    assert pt.QM_pval_perm == pytest.approx(e["QMp"], abs=1e-12)


def test_exact_sign_flip_test_published_case_29():
    case = EXTRA["permutation"][0]
    res = _fit(case)
    pt = permutation_test(res)  # 2^13 = 8192 > 1000: approximate unless asked
    assert not pt.exact
    pt = permutation_test(res, exact=True)
    e = PUBLISHED[29]["expected"]
    assert pt.iterations == e["iterations"]
    assert pt.pval_perm[0] == pytest.approx(e["pval_permutation"], abs=5e-5)
    assert pt.pval_perm[0] * 8192 == pytest.approx(12)
    assert pt.estimate[0] == pytest.approx(e["estimate"], abs=1e-4)
    assert pt.stat[0] == pytest.approx(e["zval"], abs=1e-4)


def test_exact_is_chosen_when_there_are_few_permutations():
    case = EXTRA["permutation"][2]  # binary moderator: 1716 distinct permutations
    res = _fit(case)
    assert permutation_test(res, iterations=2000).exact
    assert not permutation_test(res, iterations=500, seed=1).exact


def test_random_permutations_are_seeded_and_reproducible():
    case = EXTRA["permutation"][2]
    res = _fit(case)
    a = permutation_test(res, iterations=3000, seed=7, exact=False)
    b = permutation_test(res, iterations=3000, seed=7, exact=False, n_jobs=1, chunk_size=700)
    c = permutation_test(res, iterations=3000, seed=8, exact=False)
    assert a.seed == 7 and not a.exact and a.iterations == 3000
    assert np.array_equal(a.stat_perm, b.stat_perm) and np.array_equal(a.pval_perm, b.pval_perm)
    assert not np.array_equal(a.stat_perm, c.stat_perm)
    # the observed data are the first permutation
    assert a.stat_perm[0] == pytest.approx(res.beta_stat, rel=1e-8)
    # an approximate p-value is close to the exact one (binomial error, B = 3000)
    exact = np.atleast_1d(case["expected"]["pval"])
    assert np.all(np.abs(a.pval_perm - exact) < 4 * np.sqrt(exact * (1 - exact) / 3000) + 1e-3)


def test_random_sign_flips_are_close_to_the_exact_test():
    case = EXTRA["permutation"][1]
    res = _fit(case)
    exact = case["expected"]["pval"]
    a = permutation_test(res, iterations=4000, seed=1)
    assert abs(a.pval_perm[0] - exact) < 4 * np.sqrt(exact * (1 - exact) / 4000)


def test_continuous_moderator_every_permutation_refits_like_pool():
    rng = np.random.default_rng(4)
    k = 12
    x = rng.uniform(0, 10, k)
    vi = rng.uniform(0.01, 0.3, k)
    yi = rng.normal(0.2 + 0.05 * x, np.sqrt(vi + 0.05))
    res = pool(yi, vi, mods={"x": x}, method="REML")
    pt = permutation_test(res, iterations=200, seed=3)
    # re-derive some permutations: the moderator rows reassigned to the studies
    # (drawn in fixed blocks, each from SeedSequence(seed, spawn_key=(block,)))
    from sci_evidence.meta.permutation import _random_draws

    pis = _random_draws(3, 0, 200, k, False)
    for j in (1, 50, 199):
        f = pool(yi, vi, mods={"x": x[pis[j]]}, method="REML")
        assert pt.stat_perm[j] == pytest.approx(f.beta_stat, rel=1e-6)
        assert pt.QM_perm[j] == pytest.approx(f.QM, rel=1e-6)


def test_result_presentation():
    res = _fit(EXTRA["permutation"][2])
    pt = permutation_test(res, exact=True)
    frame = pt.to_frame()
    assert list(frame.columns) == ["estimate", "se", "stat", "pval", "pval_perm"]
    assert len(frame) == 2
    json.dumps(pt.to_dict())
    assert "Test of moderators" in pt.summary()


def test_bad_requests_raise_input_error():
    res = _fit(EXTRA["permutation"][0])
    with pytest.raises(InputError, match="iterations"):
        permutation_test(res, iterations=1)
    with pytest.raises(InputError, match="estimators"):
        permutation_test(pool(res.yi, res.vi, method="PM"))
    rng = np.random.default_rng(0)
    big = pool(rng.normal(size=40), np.full(40, 0.1), mods={"x": rng.normal(size=40)})
    with pytest.raises(InputError, match="exact"):
        permutation_test(big, exact=True)


def test_progress_and_interrupt():
    res = _fit(EXTRA["permutation"][0])
    seen = []
    permutation_test(
        res, iterations=2000, seed=1, chunk_size=500, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (2000, 2000)

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        permutation_test(res, iterations=5000, seed=1, chunk_size=500, progress=stop)
