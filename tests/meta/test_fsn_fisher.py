"""Fisher-type fail-safe N pinned to metafor (fsn with Fisher's pooling of p-values).

Fixture tests/data/fsn_fisher.json (tests/data/generate_fsn_fisher.R, metafor 3.8-1 with
metafor 4's search interval [0, 50k]); the published value is metafor's own test
(test_misc_fsn.r: 40 for dat.raudenbush1985).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sci_evidence.meta import fail_safe_n, pool
from sci_evidence.meta.bias import _uniroot_up

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "fsn_fisher.json").read_text("utf-8")
)
CASES = FIXTURE["cases"]


def _fit(case):
    return pool(np.asarray(case["yi"], float), np.asarray(case["vi"], float), method="EE")


def test_published_value_raudenbush1985():
    case = next(c for c in CASES if c["name"] == "raudenbush1985")
    assert fail_safe_n(_fit(case), "Fisher").fsnum == FIXTURE["published"]["raudenbush1985"] == 40


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_metafor(case):
    out = fail_safe_n(_fit(case), "Fisher")
    assert out.fsnum == case["fsnum"]
    assert out.pval == pytest.approx(case["pval"], rel=1e-10, abs=1e-300)


def test_the_number_is_metafor_s_not_the_smallest_sufficient_n():
    # what the docstring says N means: with 40 null studies Fisher's combined p for
    # dat.raudenbush1985 is still below 0.05 (41 would be needed), yet metafor reports 40
    case = next(c for c in CASES if c["name"] == "raudenbush1985")
    z = np.asarray(case["yi"]) / np.sqrt(case["vi"])
    x0 = -2 * np.sum(np.log(stats.norm.sf(np.abs(z))))
    k = len(z)
    assert stats.chi2.sf(x0 + 40 * 2 * np.log(2), 2 * (k + 40)) < 0.05
    assert stats.chi2.sf(x0 + 41 * 2 * np.log(2), 2 * (k + 41)) >= 0.05
    assert fail_safe_n(_fit(case), "Fisher").fsnum == 40


def test_zero_when_not_significant():
    case = next(c for c in CASES if c["fsnum"] == 0)
    out = fail_safe_n(_fit(case), "Fisher")
    assert out.fsnum == 0 and out.pval >= 0.05


def test_uniroot_follows_r_on_a_monotone_function():
    # R: uniroot(function(x) x^3 - 2, c(0, 50), extendInt="upX", tol=.Machine$double.eps^.25)
    root = _uniroot_up(lambda x: x**3 - 2.0, 0.0, 50.0, tol=np.finfo(float).eps ** 0.25)
    assert abs(root - 2 ** (1 / 3)) < 1e-4
    # the interval is extended upwards when the root lies beyond it
    root = _uniroot_up(lambda x: x - 120.0, 0.0, 50.0, tol=1e-10)
    assert math.isclose(root, 120.0, rel_tol=1e-9)
