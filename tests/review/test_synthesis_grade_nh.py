"""SWiM sign test (R binom.test) and GRADE rules (the natural-history engine is tested in
test_natural_history.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from sci_evidence.errors import InputError
from sci_evidence.review.grade import assess_certainty, summary_of_findings
from sci_evidence.review.protocol import GradeRules
from sci_evidence.review.swim_tables import text_direction
from sci_evidence.review.synthesis import sign_test, vote_count


def test_sign_test_matches_binom_test(metafor_extra):
    for case in metafor_extra["sign"]:
        p, prop, lo, hi = sign_test(case["x"], case["n"] - case["x"])
        assert p == pytest.approx(case["p"], abs=1e-12)
        assert prop == case["x"] / case["n"]
        assert lo == pytest.approx(case["ci_lb"], abs=1e-10)
        assert hi == pytest.approx(case["ci_ub"], abs=1e-10)
    assert sign_test(0, 0) == (None, None, None, None)


def test_vote_count_one_vote_per_study():
    t = pd.DataFrame(
        {
            "study_id": ["a", "a", "b", "c", "d", "e"],
            "direction": ["benefit", "benefit", "harm", "benefit", "no_change", "unclear"],
        }
    )
    r = vote_count(t, domain="x")
    assert (r.n_studies, r.n_benefit, r.n_harm, r.n_no_change, r.n_unclear) == (5, 2, 1, 1, 1)
    assert r.p_value == pytest.approx(1.0)
    assert "2 of 3 studies" in r.summary()
    d = r.to_dict()
    assert d["n_benefit"] == 2 and len(d["studies"]) == 6


def test_vote_count_rejects_unknown_direction():
    with pytest.raises(InputError, match="direction") as err:
        vote_count(pd.DataFrame({"study_id": ["a"], "direction": ["up"]}), domain="x")
    assert "'up'" in str(err.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("urologic function improved in 9", "benefit"),
        ("no significant change in SSEP", "no_change"),
        ("neurological deterioration in 1", "harm"),
        ("MRI assessed", "unclear"),
    ],
)
def test_text_direction(text, expected):
    assert text_direction(text) == expected


def _grade(**kw):
    base = dict(
        analysis_id="a",
        outcome="o",
        n_patients=500,
        randomised=[True] * 4,
        rob=["low"] * 4,
        weights=[1, 1, 1, 1],
        I2=10.0,
        ci=(0.2, 0.5),
        pi=(0.1, 0.6),
        null=0.0,
        egger_pval=None,
        single_arm=False,
    )
    base.update(kw)
    return assess_certainty(**base)


def test_grade_rules():
    assert _grade().certainty == "high"
    assert _grade(randomised=[True, False, True, True]).start == "low"
    # inconsistency: I2 over 50 -> -1, over 75 -> -2; PI crossing the null -> -1
    assert _grade(I2=60.0).downgrades[1].levels == 1
    assert _grade(I2=80.0).downgrades[1].levels == 2
    assert _grade(pi=(-0.1, 0.8)).downgrades[1].levels == 1
    # imprecision: OIS, CI crossing null, very few patients
    assert _grade(n_patients=300).downgrades[2].levels == 1
    assert _grade(ci=(-0.1, 0.5), pi=(-0.2, 0.6)).downgrades[2].levels == 1
    assert _grade(n_patients=300, ci=(-0.1, 0.5)).downgrades[2].levels == 2
    assert _grade(n_patients=50).downgrades[2].levels == 2
    # indirectness for single-arm evidence; publication bias only with k >= 10
    assert _grade(single_arm=True, null=None).downgrades[3].levels == 1
    assert _grade(egger_pval=0.01).downgrades[4].levels == 0
    ten = dict(randomised=[True] * 10, rob=["low"] * 10, weights=[1] * 10)
    assert _grade(egger_pval=0.01, **ten).downgrades[4].levels == 1
    assert _grade(egger_pval=0.5, **ten).downgrades[4].levels == 0
    # risk of bias
    assert _grade(rob=["high", "high", "low", "low"]).downgrades[0].levels == 0
    assert _grade(rob=["high", "high", "high", "low"]).downgrades[0].levels == 1
    assert _grade(rob=["high"] * 4).downgrades[0].levels == 2
    unassessed = _grade(rob=[None] * 4).downgrades[0]
    assert unassessed.levels == 1 and "not assessed" in unassessed.reason
    # floor at very low
    worst = _grade(randomised=[False] * 4, rob=["high"] * 4, I2=90.0, n_patients=20)
    assert worst.certainty == "very low"
    assert summary_of_findings([worst]).loc[0, "certainty"] == "very low"


def test_grade_thresholds_come_from_the_protocol():
    rules = GradeRules(ois_patients=100, inconsistency_I2=5.0)
    g = _grade(n_patients=150, rules=rules)
    assert g.downgrades[2].levels == 0 and g.downgrades[1].levels == 1


def test_risk_of_bias_reason_names_studies_without_the_derived_count_marker():
    """The risk-of-bias reason names studies by label; a row label's "[derived (lower
    bound)]" marker (how an adverse-event count was obtained) is not part of the study."""
    from sci_evidence.review.grade import assess_certainty

    g = assess_certainty(
        analysis_id="x",
        outcome="x",
        n_patients=50,
        randomised=[False, False],
        rob=["high", "low"],
        weights=[3.0, 1.0],
        I2=0.0,
        ci=(-2.0, -1.0),
        pi=None,
        null=None,
        egger_pval=None,
        single_arm=True,
        labels=["Bydon 2024 [derived (lower bound)]", "Oh 2016"],
    )
    reason = next(d.reason for d in g.downgrades if d.domain == "risk_of_bias")
    assert "Bydon 2024 high" in reason and "[derived" not in reason
