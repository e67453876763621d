"""Risk-of-bias tools: the suggested judgements and Cohen's kappa against hand-computed and
published values."""

from __future__ import annotations

import math

import pytest

from sci_evidence.web import rob


def _kappa_from_table(table: list[list[int]], cats: list[str]) -> rob.Kappa:
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [cats[i]] * count
            b += [cats[j]] * count
    return rob.cohen_kappa(a, b)


def test_kappa_two_categories_textbook_example():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # p_o = 35/50 = 0.70; p_e = (25*30 + 25*20)/2500 = 0.50; kappa = 0.20/0.50 = 0.40
    k = _kappa_from_table([[20, 5], [10, 15]], ["yes", "no"])
    assert k.n == 50
    assert k.observed == pytest.approx(0.70)
    assert k.expected == pytest.approx(0.50)
    assert k.kappa == pytest.approx(0.40)


def test_kappa_three_categories_hand_computed():
    # rows = rater A (low, some_concerns, high), columns = rater B; n = 30
    # p_o = (10+8+5)/30 = 23/30; margins A 12,12,6, B 11,11,8
    # p_e = (12*11 + 12*11 + 6*8)/900 = 312/900; kappa = (23/30 - 312/900)/(1 - 312/900) = 0.642857...
    k = _kappa_from_table([[10, 2, 0], [1, 8, 3], [0, 1, 5]], ["low", "some", "high"])
    assert k.kappa == pytest.approx((23 / 30 - 312 / 900) / (1 - 312 / 900), abs=1e-12)
    assert k.kappa == pytest.approx(0.642857142857, abs=1e-9)


def test_kappa_perfect_disagreement_and_undefined():
    assert rob.cohen_kappa(["a", "b"], ["b", "a"]).kappa == pytest.approx(-1.0)
    assert rob.cohen_kappa(["a", "a"], ["a", "a"]).kappa is None  # p_e = 1
    empty = rob.cohen_kappa([], [])
    assert empty.kappa is None and empty.n == 0 and math.isnan(empty.observed)
    with pytest.raises(ValueError):
        rob.cohen_kappa(["a"], ["a", "b"])


D1 = rob.ROB2.domains[0]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"1.1": "Y", "1.2": "Y", "1.3": "N"}, "low"),
        ({"1.1": "NI", "1.2": "PY", "1.3": "NI"}, "low"),
        ({"1.1": "Y", "1.2": "Y", "1.3": "Y"}, "some_concerns"),
        ({"1.1": "N", "1.2": "Y", "1.3": "N"}, "some_concerns"),
        ({"1.1": "Y", "1.2": "NI", "1.3": "N"}, "some_concerns"),
        ({"1.1": "Y", "1.2": "NI", "1.3": "Y"}, "high"),
        ({"1.1": "Y", "1.2": "N", "1.3": "N"}, "high"),
    ],
)
def test_rob2_domain1_follows_the_published_algorithm(answers, expected):
    assert rob.suggest(rob.ROB2, D1, answers) == expected


def test_rob2_other_domains_and_overall():
    d = {x.id: x for x in rob.ROB2.domains}
    assert rob.suggest(rob.ROB2, d["missing_data"], {"3.1": "Y"}) == "low"
    assert (
        rob.suggest(rob.ROB2, d["missing_data"], {"3.1": "N", "3.2": "N", "3.3": "Y", "3.4": "N"})
        == "some_concerns"
    )
    assert (
        rob.suggest(rob.ROB2, d["missing_data"], {"3.1": "N", "3.2": "N", "3.3": "Y", "3.4": "Y"})
        == "high"
    )
    assert rob.suggest(rob.ROB2, d["measurement"], {"4.1": "Y"}) == "high"
    assert rob.suggest(rob.ROB2, d["measurement"], {"4.1": "N", "4.2": "N", "4.3": "N"}) == "low"
    assert rob.suggest(rob.ROB2, d["reporting"], {"5.1": "Y", "5.2": "N", "5.3": "N"}) == "low"
    assert (
        rob.suggest(rob.ROB2, d["reporting"], {"5.1": "N", "5.2": "N", "5.3": "N"})
        == "some_concerns"
    )
    assert rob.suggest(rob.ROB2, d["deviations"], {"2.1": "N", "2.2": "N", "2.6": "Y"}) == "low"
    assert rob.suggest(rob.ROB2, d["deviations"], {"2.1": "Y", "2.3": "Y", "2.6": "Y"}) == "high"
    assert rob.suggest(rob.ROB2, D1, {}) == ""
    assert rob.suggest_overall(rob.ROB2, ["low"] * 5) == "low"
    assert (
        rob.suggest_overall(rob.ROB2, ["low", "some_concerns", "low", "low", "low"])
        == "some_concerns"
    )
    assert rob.suggest_overall(rob.ROB2, ["low", "some_concerns", "high", "low", "low"]) == "high"
    assert rob.suggest_overall(rob.ROB2, ["low", "", "low", "low", "low"]) == ""


def test_robins_heuristic_and_jbi():
    conf = rob.ROBINS_I.domains[0]
    assert rob.suggest(rob.ROBINS_I, conf, {"1.1": "N", "1.4": "Y"}) == "low"
    assert rob.suggest(rob.ROBINS_I, conf, {"1.1": "PY", "1.4": "Y"}) == "moderate"
    assert rob.suggest(rob.ROBINS_I, conf, {"1.1": "Y"}) == "serious"
    assert rob.suggest(rob.ROBINS_I, conf, {"1.1": "NI", "1.4": "NI"}) == "no_information"
    assert (
        rob.suggest_overall(
            rob.ROBINS_I, ["low", "serious", "moderate", "low", "low", "low", "low"]
        )
        == "serious"
    )
    q1 = rob.JBI.domains[0]
    assert rob.suggest(rob.JBI, q1, {"Q1": "unclear"}) == "unclear"
    assert rob.suggest_overall(rob.JBI, ["yes"] * 10) == ""  # the checklist has no overall


def test_tool_by_design_and_vocabulary_of_the_evidence_base():
    from sci_evidence.evidence.columns import RISK_OF_BIAS_JUDGEMENTS

    assert rob.tool_for_design("rct") is rob.ROB2
    assert rob.tool_for_design("non_randomised_controlled") is rob.ROBINS_I
    assert rob.tool_for_design("case_series") is rob.JBI
    assert rob.tool_for_design("single_arm_trial") is rob.JBI
    for tool in rob.TOOLS.values():
        # judgements must be storable in the evidence base's risk_of_bias table
        assert set(tool.judgements) <= set(RISK_OF_BIAS_JUDGEMENTS[tool.name])
