"""Permutation tests and trial-design simulations on a Dask cluster (a LocalCluster of two
worker processes, so every chunk is pickled to another process and back): the p-values, the
kept permutation distribution and the simulated power equal the local run's exactly for the
same seed; an unreachable --scheduler is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sci_evidence.meta import pool
from sci_evidence.meta.permutation import permutation_test
from sci_evidence.trials.design import design_from_evidence, simulate_power
from support.cli_run import run

PERM_FIELDS = ("pval_perm", "QM_pval_perm", "stat_perm", "estimate_perm", "QM_perm", "n_failed")


@pytest.fixture
def client(dask_client):
    return dask_client


def _data(k: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.4, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    return yi, vi


def _assert_same_test(local, remote):
    assert (remote.exact, remote.iterations, remote.seed) == (
        local.exact,
        local.iterations,
        local.seed,
    )
    for name in PERM_FIELDS:
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name


@pytest.mark.parametrize(
    "method, test, k, iterations, exact, mods",
    [
        ("REML", "z", 9, 2100, False, False),  # random sign flips, 3 chunks of 1024
        ("DL", "knha", 8, 0, True, False),  # all 2^8 sign patterns
        ("REML", "knha", 8, 2500, False, True),  # random row permutations (meta-regression)
        ("EE", "z", 7, 0, True, True),  # every distinct permutation of a factor moderator
    ],
)
def test_permutation_test_on_a_cluster_equals_the_local_run(
    client, method, test, k, iterations, exact, mods
):
    yi, vi = _data(k)
    kw = {}
    if mods:
        x = np.linspace(0, 1, k) if not exact else np.array([0, 0, 1, 1, 2, 2, 2])
        kw["mods"] = {"x": x}
    res = pool(yi, vi, method=method, test=test, **kw)
    args = {"iterations": max(iterations, 2), "exact": exact, "seed": 11, "chunk_size": 1024}
    local = permutation_test(res, n_jobs=1, **args)
    seen = []
    remote = permutation_test(res, client=client, progress=lambda d, t: seen.append((d, t)), **args)
    _assert_same_test(local, remote)
    assert seen[-1] == (local.iterations, local.iterations)
    assert 0 < local.pval_perm[-1] <= 1


def _design(endpoint: str):
    from sci_evidence.evidence import load_evidence

    ev = load_evidence()
    return design_from_evidence(
        ev.natural_history_conversion,
        ev.natural_history_scores if endpoint == "motor" else None,
        endpoint=endpoint,
        odds_ratio=2.0 if endpoint == "conversion" else 1.0,
        motor_gain=4.0 if endpoint == "motor" else 0.0,
    )


@pytest.mark.parametrize("endpoint", ["conversion", "motor"])
def test_power_on_a_cluster_equals_the_local_run(client, endpoint):
    d = _design(endpoint)
    # chunk=64: one block per step, so several steps per size travel to the workers
    kw = {"n_simulations": 700, "seed": 4, "chunk": 64}
    local = simulate_power(d, [20, 35], **kw)
    seen = []
    remote = simulate_power(
        d, [20, 35], client=client, progress=lambda a, b: seen.append((a, b)), **kw
    )
    assert remote.points == local.points
    assert seen[-1] == (1400, 1400)
    assert 0 < local.points[1].power < 1


def test_cli_permutations_and_trial_design_with_scheduler_equal_local(client, capsys):
    address = client.scheduler.address
    base = ["meta", "--example", "--method", "REML", "--json", "--permutations", "1500"]
    base += ["--seed", "3"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    local = json.loads(out)["permutation_test"]
    code, out, err = run([*base, "--scheduler", address], capsys)
    assert code == 0, err
    remote = json.loads(out)["permutation_test"]
    assert remote == local and local["iterations"] == 1500

    trial = ["trial", "design", "--odds-ratio", "2", "--n-per-arm", "30", "--simulations", "300"]
    code, out, err = run([*trial, "--json"], capsys)
    assert code == 0, err
    local = json.loads(out)
    code, out, err = run([*trial, "--json", "--scheduler", address], capsys)
    assert code == 0, err
    assert json.loads(out) == local


@pytest.mark.parametrize(
    "argv",
    [
        ["meta", "--example", "--permutations", "100"],
        ["trial", "design", "--n-per-arm", "20", "--simulations", "64"],
    ],
)
def test_unreachable_scheduler_is_one_line_exit_2(capsys, argv):
    pytest.importorskip("distributed")
    for address, message in (
        ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler"),  # nothing listens there
        ("tcp://127.0.0.1", "not a scheduler address"),
        ("tcp://127.0.0.1:port", "not a scheduler address"),
    ):
        code, out, err = run([*argv, "--scheduler", address], capsys)
        assert code == 2, (out, err)
        assert message in err and address in err
        assert "Traceback" not in out + err and err.strip().count("\n") == 0, err
