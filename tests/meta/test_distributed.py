"""GOSH on a Dask cluster (a LocalCluster of 2 worker processes): the same numbers, bit for
bit, as the local run for the same data and seed; the one-line error without dask."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from sci_evidence.cluster import connect
from sci_evidence.errors import InputError
from sci_evidence.meta import pool
from sci_evidence.meta.gosh import compiled_kernel_available, gosh

FIELDS = ("estimate", "tau2", "I2", "Q", "n_studies", "masks")
ENGINES = ["numpy"] + (["compiled"] if compiled_kernel_available() else [])


@pytest.fixture
def client(dask_client):
    return dask_client


def _res(k, method, seed=3, mods=False):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.5, k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.1))
    if mods:
        return pool(yi, vi, mods={"x": np.linspace(0, 1, k)}, method=method)
    return pool(yi, vi, method=method)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "method, k, subsets, mods",
    [("DL", 14, None, False), ("REML", 11, None, False), ("REML", 30, 6000, False),
     ("DL", 9, None, True), ("EE", 12, None, False)],
)  # fmt: skip
def test_gosh_on_a_cluster_equals_the_local_run(client, engine, method, k, subsets, mods):
    res = _res(k, method, mods=mods)
    kw = {"subsets": subsets, "seed": 17, "engine": engine, "chunk_size": 2048}
    local = gosh(res, **kw)
    seen = []
    remote = gosh(res, client=client, progress=lambda d, t: seen.append((d, t)), **kw)
    assert remote.seed == local.seed and remote.exhaustive == local.exhaustive
    for name in FIELDS:
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name
    assert seen[-1] == (local.n_subsets, local.n_subsets)


def test_connect_without_dask_is_one_clear_line(monkeypatch):
    real_import = builtins.__import__

    def no_distributed(name, *args, **kw):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(InputError, match=r"sci-evidence\[dask\]") as err:
        connect("tcp://127.0.0.1:1")
    assert "\n" not in str(err.value)


def test_connect_to_nothing_is_one_clear_line():
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        connect("tcp://127.0.0.1:9", timeout=1.0)


def _run_cli(argv, capsys):
    from sci_evidence.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_cli_gosh_with_scheduler_equals_local(client, tmp_path, capsys):
    import json

    base = ["meta", "--example", "--method", "REML", "--json"]
    code, out, err = _run_cli([*base, "--gosh", str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    local = json.loads(out)["gosh"]
    address = client.scheduler.address
    argv = [*base, "--gosh", str(tmp_path / "b.png"), "--scheduler", address]
    code, out, err = _run_cli(argv, capsys)
    assert code == 0, err
    remote = json.loads(out)["gosh"]
    assert remote["n_subsets"] == local["n_subsets"] > 1000
    for name in ("estimate", "tau2", "I2", "Q", "masks"):
        assert remote[name] == local[name], name
    assert (tmp_path / "b.png").stat().st_size > 0


def test_cli_scheduler_unreachable_is_exit_2(tmp_path, capsys):
    pytest.importorskip("distributed")
    argv = ["meta", "--example", "--gosh", str(tmp_path / "g.png"), "--scheduler"]
    code, out, err = _run_cli([*argv, "tcp://127.0.0.1:9"], capsys)
    assert code == 2
    assert "cannot reach the Dask scheduler" in (out + err)
    assert "Traceback" not in (out + err)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method, k", [("DL", 13), ("REML", 10)])
def test_binned_gosh_on_a_cluster_equals_the_local_run(client, engine, method, k):
    from sci_evidence.meta.gosh_summary import gosh_summary

    res = _res(k, method)
    local = gosh_summary(res, engine=engine, chunk_size=1024)
    seen = []
    remote = gosh_summary(
        res, engine=engine, chunk_size=1024, client=client,
        progress=lambda d, t: seen.append((d, t)),
    )  # fmt: skip
    assert remote.n_subsets == local.n_subsets == 2**k - 1
    assert remote.estimate_range == local.estimate_range and remote.I2_range == local.I2_range
    for name in ("counts", "est_fine", "I2_fine", "n_with", "est_with", "est_without",
                 "I2_with", "I2_without", "est_edges", "I2_edges"):  # fmt: skip
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name
    assert seen[-1] == (2**k - 1, 2**k - 1) and len(seen) == 2**k // 1024


def test_cli_gosh_all_with_scheduler_equals_local(client, tmp_path, capsys, monkeypatch):
    import importlib
    import json

    # the limit lowered to 10 so that --gosh-all bins the example's k = 13 studies
    monkeypatch.setattr(importlib.import_module("sci_evidence.meta.gosh"), "MAX_EXHAUSTIVE_K", 10)
    base = ["meta", "--example", "--method", "DL", "--json", "--gosh-all", "--gosh"]
    code, out, err = _run_cli([*base, str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    local = json.loads(out)["gosh"]
    argv = [*base, str(tmp_path / "b.png"), "--scheduler", client.scheduler.address]
    code, out, err = _run_cli(argv, capsys)
    assert code == 0, err
    remote = json.loads(out)["gosh"]
    assert local.pop("plot") != remote.pop("plot")
    assert remote == local and local["binned"] and local["n_subsets"] == 2**13 - 1
