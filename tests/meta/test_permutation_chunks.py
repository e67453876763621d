"""Permutation tests in bounded memory (issue 12 item 7): results independent of the
chunking, distribution kept only up to a cap, p-values counted over every permutation,
requests that cannot fit refused up front, Ctrl-C ends with exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import permutation as perm
from sci_evidence.meta import pool
from sci_evidence.meta.permutation import permutation_memory, permutation_test


@pytest.fixture(scope="module")
def res_int():
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 0.2, 20)
    return pool(rng.normal(0.3, np.sqrt(vi + 0.04)), vi, method="REML")


@pytest.fixture(scope="module")
def res_mod():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 11)
    vi = rng.uniform(0.01, 0.2, 11)
    return pool(rng.normal(0.1 + x, np.sqrt(vi + 0.02)), vi, mods={"x": x}, method="DL")


@pytest.mark.parametrize("which", ["res_int", "res_mod"])
def test_chunked_equals_unchunked(which, request):
    res = request.getfixturevalue(which)
    one = permutation_test(res, iterations=3000, seed=5, chunk_size=3000, n_jobs=1)
    many = permutation_test(res, iterations=3000, seed=5, chunk_size=64, n_jobs=2)
    odd = permutation_test(res, iterations=3000, seed=5, chunk_size=777, n_jobs=1)
    for other in (many, odd):
        assert np.array_equal(one.stat_perm, other.stat_perm)
        assert np.array_equal(one.estimate_perm, other.estimate_perm)
        assert np.array_equal(one.pval_perm, other.pval_perm)
        assert one.QM_pval_perm == other.QM_pval_perm
    assert one.stat_perm[0] == pytest.approx(np.atleast_1d(res.beta_stat), rel=1e-8)


def test_p_values_count_every_permutation_beyond_the_stored_cap(res_int, monkeypatch):
    full = permutation_test(res_int, iterations=5000, seed=9, chunk_size=256)
    monkeypatch.setattr(perm, "MAX_STORED_PERMUTATIONS", 1000)
    capped = permutation_test(res_int, iterations=5000, seed=9, chunk_size=256)
    assert capped.stat_perm.shape == (1000, 1) and capped.QM_perm.shape == (1000,)
    assert np.array_equal(capped.stat_perm, full.stat_perm[:1000])
    assert np.array_equal(capped.pval_perm, full.pval_perm)  # from all 5000
    assert capped.iterations == 5000
    # and the counted p-value is the share of the full distribution at least as extreme
    z = abs(full.stat_perm[0, 0]) - perm.COMPTOL
    assert full.pval_perm[0] == np.mean(np.abs(full.stat_perm[:, 0]) >= z)


def test_exact_results_do_not_depend_on_chunks(res_mod):
    a = permutation_test(res_mod, exact=False, iterations=500, seed=1)
    small = pool(res_mod.yi[:8], res_mod.vi[:8], mods={"x": res_mod.X[:8, 1]}, method="DL")
    e1 = permutation_test(small, exact=True, chunk_size=64, n_jobs=1)
    e2 = permutation_test(small, exact=True, chunk_size=100_000, n_jobs=2)
    assert e1.iterations == e2.iterations == 40320
    assert np.array_equal(e1.pval_perm, e2.pval_perm)
    assert a.iterations == 500


def test_memory_does_not_grow_with_iterations():
    small = permutation_memory(10**6, 13, 1, chunk_size=4096, n_jobs=2)
    huge = permutation_memory(10**8, 13, 1, chunk_size=4096, n_jobs=2)
    assert huge == small < 200 * 2**20


def test_request_that_cannot_fit_is_refused_with_the_figure(res_int, monkeypatch):
    monkeypatch.setattr(perm, "available_memory", lambda: 10 * 2**20)  # 10 MiB left
    need = permutation_memory(10**6, res_int.k, 1, chunk_size=4096, n_jobs=1)
    with pytest.raises(InputError, match=rf"needs about {need / 2**20:.0f} MiB .* 10 MiB are"):
        permutation_test(res_int, iterations=10**6, exact=False, seed=1, n_jobs=1)


def test_huge_request_starts_in_bounded_memory_and_ctrl_c_exits_130(tmp_path):
    """`meta --permutations 100000000`: runs with flat memory, stops on SIGINT with 130."""
    code = (
        "import resource, sys\n"
        "from sci_evidence.cli import main\n"
        "try:\n"
        "    main(['meta', '--example', '--mods', 'ablat', '--permutations', '100000000'])\n"
        "finally:\n"
        "    print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    time.sleep(8)  # imports, the fit, then the first chunks of the 10^8 permutations
    assert proc.poll() is None, proc.communicate()
    early_mb = _rss_mb(proc.pid)
    time.sleep(6)  # thousands more permutations: memory must stay flat
    late_mb = _rss_mb(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    peak_mb = int(err.split("maxrss_kb")[-1].split()[0]) / 1024
    # the old code grew towards 24 GB; here ~240 MB on an idle machine, flat while it runs
    assert late_mb - early_mb < 64, (early_mb, late_mb)
    assert peak_mb < 1024, peak_mb


def _rss_mb(pid: int) -> float:
    """Resident memory of a running process (Linux /proc), in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        line = next(text for text in fh if text.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_trillion_permutations_start_without_listing_their_chunks(res_int):
    """Chunks are made on demand: the first progress report comes at once, in flat memory."""
    import tracemalloc

    seen = []

    def stop(done, total):
        seen.append((done, total))
        raise KeyboardInterrupt

    tracemalloc.start()
    with pytest.raises(KeyboardInterrupt):
        permutation_test(res_int, iterations=10**12, exact=False, seed=1, n_jobs=1, progress=stop)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seen == [(4096, 10**12)]
    assert peak < 200 * 2**20, peak


def test_progress_bar_with_time_left_goes_to_stderr():
    env = {**os.environ, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "120"}
    args = ["meta", "--example", "--mods", "ablat", "--permutations", "100000"]
    out = subprocess.run(
        [sys.executable, "-m", "sci_evidence", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "permutation test (100,000)" in out.stderr and " left " in out.stderr
    assert "permutation test (100,000)" not in out.stdout
    assert "Permutation test (100,000 permutations" in out.stdout
