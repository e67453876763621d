"""The default review of the corrected bundled base, checked against metafor 3.8-1
(tests/data/metafor_bundled.json, made by make_metafor_bundled.R from the same study rows).

These are the numbers the audit's corrections moved (issue 17): AIS improvement now pools 12
studies (Dai 2013b, the EJHM series and Pal 2009 added), any adverse event 16 (Pal 2009, Saito
2012, Tien 2019's "no side effect"; issue 18: five studies without an "any" row with their
largest single-type count as a lower bound), serious adverse events 7 (Vij 2023, Kishk 2010's acute
disseminated encephalomyelitis)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tolerances import (
    BUNDLED_REVIEW_TAU2 as TOL_TAU2,
)
from tolerances import (
    BUNDLED_REVIEW_TOL as TOL,
)

REF = json.loads((Path(__file__).parents[1] / "data" / "metafor_bundled.json").read_text())


# the inverse-variance fits are sensitivity analyses of the GLMM main models (issue 18); the
# GLMMs themselves are pinned in test_review_models.py
@pytest.mark.parametrize(
    "analysis_id, fit_id",
    [
        ("ais_improved_prop", "ais_improved_prop:iv_logit"),
        ("ais_improved_prop_ft", "ais_improved_prop:iv_freeman_tukey"),
        ("ae_any_prop", "ae_any_prop:iv_freeman_tukey"),
        ("ae_serious_prop", "ae_serious_prop:iv_freeman_tukey"),
    ],
)
def test_bundled_pooled_numbers_equal_metafor(bundled_run, analysis_id, fit_id):
    _, out = bundled_run
    d = json.loads((out / "results.json").read_text())
    e = next(a for a in d["analyses"] if a["id"] == fit_id)
    ref = REF[analysis_id]
    # the same studies, in the same order, as the reference was made from
    assert [s["label"] for s in e["studies"]] == ref["labels"]
    np.testing.assert_allclose([s["yi"] for s in e["studies"]], ref["yi"], atol=1e-12)
    np.testing.assert_allclose([s["vi"] for s in e["studies"]], ref["vi"], atol=1e-12)
    p = e["pooled"]
    assert p["k"] == ref["k"]
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "Q", "Q_pval"):
        assert p[key] == pytest.approx(ref[key], abs=TOL_TAU2.get(key, TOL)), key
    assert p["I2"] == pytest.approx(ref["I2"], abs=0.05)
    np.testing.assert_allclose([s["weight"] for s in e["studies"]], ref["weights"], atol=0.02)
    for key in ("estimate", "ci_lb", "ci_ub"):
        assert p["back_transformed"][key] == pytest.approx(ref["bt"][key], abs=TOL), key
