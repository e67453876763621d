"""Meta-regression under test="knha" with every yi on the fitted line (all residuals 0).

metafor 3.8-1 (tests/data/generate_knha_perfect_fit.R) sets the Knapp-Hartung factor to 0:
standard errors 0, t statistics ±Inf, p-values 0, intervals of zero width, and the omnibus
test QM (and its p-value) NA. The fit used to raise numpy's LinAlgError in the QM solve.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sci_evidence.errors import DataWarning
from sci_evidence.meta import pool
from tolerances import METAFOR_ATOL, METAFOR_CLOSED_RTOL

REF = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "metafor_knha_perfect_fit.json").read_text()
)
CASES = [name for name in REF if name != "metafor"]


def _num(values):
    return np.array([math.inf if v == "Inf" else -math.inf if v == "-Inf" else v for v in values])


@pytest.mark.parametrize("name", CASES)
def test_zero_residuals_under_knha_match_metafor(name):
    c = REF[name]
    mods = {"x1": c["x1"]} if c["mods"] == "x1" else {"x1": c["x1"], "x2": c["x2"]}
    with pytest.warns(DataWarning, match="scale factor is 0"):
        res = pool(c["yi"], c["vi"], mods=mods, method=c["method"], test="knha")
    np.testing.assert_allclose(res.beta, c["b"], rtol=METAFOR_CLOSED_RTOL, atol=METAFOR_ATOL)
    assert res.s2w == c["s2w"] == 0.0
    np.testing.assert_array_equal(res.beta_se, c["se"])
    np.testing.assert_array_equal(res.beta_stat, _num(c["tval"]))
    np.testing.assert_array_equal(res.beta_pval, c["pval"])
    np.testing.assert_allclose(res.beta_ci_lb, c["ci_lb"], rtol=METAFOR_CLOSED_RTOL)
    np.testing.assert_allclose(res.beta_ci_ub, c["ci_ub"], rtol=METAFOR_CLOSED_RTOL)
    assert res.tau2 == pytest.approx(c["tau2"], abs=METAFOR_ATOL)
    assert res.Q == pytest.approx(c["QE"], abs=METAFOR_ATOL)
    # QM is NA in metafor: NaN here, with its p-value, and left out of the summary
    assert c["QM"] is None and c["QMp"] is None
    assert math.isnan(res.QM) and math.isnan(res.QM_pval)
    assert res.QM_df == len(c["b"]) - 1 and res.QM_ddf == len(c["yi"]) - len(c["b"])
    assert "Test of Moderators" not in res.summary()
    assert res.to_dict()["QM"] is None
