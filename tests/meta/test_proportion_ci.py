"""Clopper–Pearson and Wilson intervals against R (binom.test, prop.test(correct=FALSE))."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import proportion_ci

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "small_k" / "proportion_ci.json"
CASES = json.loads(FIXTURE.read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['x']}/{c['n']}@{c['level']}")
def test_against_r(case):
    lo, hi = proportion_ci(case["x"], case["n"], level=case["level"])
    assert lo == pytest.approx(case["cp"][0], rel=1e-10, abs=1e-14)
    assert hi == pytest.approx(case["cp"][1], rel=1e-10, abs=1e-14)
    lo, hi = proportion_ci(case["x"], case["n"], method="wilson", level=case["level"])
    assert lo == pytest.approx(case["wilson"][0], rel=1e-10, abs=1e-14)
    assert hi == pytest.approx(case["wilson"][1], rel=1e-10, abs=1e-14)


def test_arrays_match_scalars():
    x = [c["x"] for c in CASES if c["level"] == 0.95]
    n = [c["n"] for c in CASES if c["level"] == 0.95]
    lo, hi = proportion_ci(np.array(x), n)
    assert isinstance(lo, np.ndarray) and lo.shape == (len(x),)
    for i in range(len(x)):
        assert (lo[i], hi[i]) == proportion_ci(x[i], n[i])


def test_closed_forms_at_the_edges():
    # x = 0: upper = 1 − (α/2)^(1/n); x = n: lower = (α/2)^(1/n)
    for n in (1, 5, 50):
        assert proportion_ci(0, n)[1] == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-12)
        assert proportion_ci(n, n)[0] == pytest.approx(0.025 ** (1 / n), rel=1e-12)
    assert proportion_ci(0, 50, method="wilson")[0] == 0.0
    assert proportion_ci(50, 50, method="wilson")[1] == 1.0
    assert proportion_ci(3, 122, level=95) == proportion_ci(3, 122, level=0.95)


@pytest.mark.parametrize(
    "x, n, kw, fragment",
    [
        (3, 2, {}, "0 <= x <= n"),
        (0, 0, {}, "n >= 1"),
        (1.5, 3, {}, "whole number"),
        (-1, 3, {}, "non-negative"),
        ([1, 2], [3, 4, 5], {}, "one per study"),
        (1, 3, {"method": "wald"}, "method='wald' is not supported"),
        (1, 3, {"level": 0}, "level"),
    ],
)
def test_refuses(x, n, kw, fragment):
    with pytest.raises(InputError) as exc:
        proportion_ci(x, n, **kw)
    assert fragment in str(exc.value)
