"""Shared fixtures of the meta-analysis tests: the reference cases and tolerances.

The reference files are copied from ``shared/reference/meta`` (see ``tests/data/SOURCES.md``):
``metafor_cases.json`` (metafor 3.8-1, every fit iterated to tol 1e-12),
``metafor_grid_cases.json`` (PyMARE's pinned metafor 4.6.0 fits, printed with %.17g) and
``published_cases.json`` (published/pinned values; each case states its tolerance).
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tolerances import METAFOR_ATOL, METAFOR_CLOSED_RTOL, METAFOR_ITERATIVE_RTOL

DATA = Path(__file__).resolve().parents[1] / "data"

#: Tolerances: see tests/tolerances.py (the one home of every tolerance and its reason).
RTOL_CLOSED = METAFOR_CLOSED_RTOL
RTOL_ITERATIVE = METAFOR_ITERATIVE_RTOL
ATOL = METAFOR_ATOL
CLOSED_FORM = {"EE", "FE", "DL", "HE", "SJ", "HS"}


@cache
def load(name: str):
    with open(DATA / name, encoding="utf-8") as fh:
        return json.load(fh)


def metafor_cases(kind: str) -> list[dict]:
    return [c for c in load("metafor_cases.json") if c["kind"] == kind]


def grid_cases() -> list[dict]:
    return list(load("metafor_grid_cases.json"))


def published_case(name: str) -> dict:
    for c in load("published_cases.json"):
        if c["name"] == name:
            return c
    raise KeyError(name)


def assert_close(actual, expected, *, rtol, atol=ATOL, what=""):
    """assert_allclose that treats ``None`` expected as "must be None/NaN"."""
    if expected is None:
        assert actual is None or (isinstance(actual, float) and np.isnan(actual)), what
        return
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float),
        np.asarray(expected, dtype=float),
        rtol=rtol,
        atol=atol,
        err_msg=what,
    )


# Test modules import these helpers as ``meta_refcases`` (pytest runs with
# --import-mode=importlib, where a conftest cannot be imported by its own name).
sys.modules.setdefault("meta_refcases", sys.modules[__name__])


@pytest.fixture(scope="session")
def dask_client():
    """One LocalCluster of two single-threaded worker processes for the whole session
    (starting one and importing sci_evidence on its workers takes seconds); skips the test
    when dask.distributed is not installed."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
