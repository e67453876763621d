"""SWiM direction rule: a study counts by the direction of its summary effect, never because
one patient improved; each row says how many patients were measured; the sign test uses the
new directions (issue 18)."""

from __future__ import annotations

import pandas as pd
import pytest

from sci_evidence.review.swim_tables import (
    DIRECTION_RULE,
    MIN_SHARE,
    count_direction,
    direction_rows,
)
from sci_evidence.review.synthesis import vote_count

ARMS = pd.DataFrame(
    {
        "arm_id": ["a:treated", "b:treated", "c:treated", "c:control", "d:treated", "d:control"],
        "role": ["treated", "treated", "treated", "control", "treated", "control"],
    }
)
LABELS = {"a": "Alpha 2001", "b": "Beta 2002", "c": "Gamma 2003", "d": "Delta 2004"}


def _row(sid, arm, outcome, events=None, n=None, **kw):
    base = {
        "study_id": sid,
        "arm_id": f"{sid}:{arm}",
        "outcome": outcome,
        "events": events,
        "n": n,
        "mean": None,
        "is_change": False,
        "is_baseline": False,
        "timepoint_months": None,
        "verbatim": "",
    }
    base.update(kw)
    return base


def _outcomes(rows):
    return pd.DataFrame(rows).astype({"events": float, "n": float, "mean": float})


def test_one_of_fourteen_is_not_benefit_nine_of_fourteen_is():
    o = _outcomes(
        [
            _row("a", "treated", "ssep_improved", 1, 14),
            _row("b", "treated", "ssep_improved", 9, 14),
        ]
    )
    t = direction_rows(o, ARMS, ["ssep_improved"], LABELS)
    got = dict(zip(t["study_id"], t["direction"], strict=True))
    assert got == {"a": "no_clear_effect", "b": "benefit"}
    assert list(t["measured"]) == [14, 14]
    assert list(t["label"]) == ["Alpha 2001", "Beta 2002"]
    res = vote_count(t, domain="neurophysiology")
    assert (res.n_benefit, res.n_harm, res.n_no_clear_effect) == (1, 0, 1)
    # the sign test counts only the one study with a clear direction: binom.test(1, 1)$p.value
    assert res.p_value == pytest.approx(1.0)
    assert res.rule == DIRECTION_RULE
    d = res.to_dict()
    assert d["rule"] == DIRECTION_RULE and d["n_no_clear_effect"] == 1
    assert [s["measured"] for s in d["studies"]] == [14, 14]
    assert all(type(s["measured"]) is int for s in d["studies"])
    assert "28 patients measured" in res.summary()


@pytest.mark.parametrize(
    "improved, n, worsened, expected",
    [
        (1, 14, 0, "no_clear_effect"),
        (6, 14, 0, "no_clear_effect"),  # 43% < half
        (7, 14, 0, "benefit"),  # exactly half, more than the 0 who worsened
        (9, 14, 0, "benefit"),
        (7, 14, 7, "no_clear_effect"),  # as many worsened as improved
        (2, 14, 9, "harm"),
        (0, 14, 0, "no_change"),
        (0, 14, 3, "no_clear_effect"),
        (0, 0, 0, "unclear"),
    ],
)
def test_count_direction_rule(improved, n, worsened, expected):
    assert MIN_SHARE == 0.5
    assert count_direction(improved, n, worsened) == expected


def test_worsened_counts_enter_the_rule():
    o = _outcomes(
        [
            _row("a", "treated", "ssep_improved", 8, 14),
            _row("a", "treated", "ssep_worsened", 9, 14),
            _row("b", "treated", "ssep_improved", 8, 14),
            _row("b", "treated", "ssep_worsened", 1, 14),
        ]
    )
    t = direction_rows(o, ARMS, ["ssep_improved"], LABELS)
    assert list(t["outcome"]) == ["ssep_improved", "ssep_improved"]
    assert list(t["direction"]) == ["harm", "benefit"]
    assert t["detail"].iloc[0] == "8/14 patients, 9/14 worsened"


def test_controlled_study_compares_treated_with_control():
    o = _outcomes(
        [
            # few improved in the treated arm, but fewer in the control arm: benefit
            _row("c", "treated", "ssep_improved", 3, 20),
            _row("c", "control", "ssep_improved", 0, 20),
            # more improved in the control arm: harm
            _row("d", "treated", "ssep_improved", 2, 10),
            _row("d", "control", "ssep_improved", 5, 10),
        ]
    )
    t = direction_rows(o, ARMS, ["ssep_improved"], LABELS)
    assert list(t["direction"]) == ["benefit", "harm"]
    assert list(t["measured"]) == [40, 20]
    assert set(t["comparison"]) == {"treated vs control"}
    res = vote_count(t, domain="x")
    assert (res.n_benefit, res.n_harm) == (1, 1)
    assert res.p_value == pytest.approx(1.0)


def test_controlled_continuous_change_against_control():
    rows = []
    for arm, base, post in (("treated", 300.0, 200.0), ("control", 300.0, 150.0)):
        rows.append(_row("c", arm, "residual_urine", n=12, mean=base, is_baseline=True))
        rows.append(_row("c", arm, "residual_urine", n=12, mean=post, timepoint_months=6.0))
    t = direction_rows(_outcomes(rows), ARMS, ["residual_urine"], LABELS)
    # residual urine fell by 100 in the treated arm but by 150 under control: harm
    assert t["direction"].iloc[0] == "harm"
    assert t["measured"].iloc[0] == 24


def test_study_with_conflicting_outcomes_is_no_clear_effect():
    t = pd.DataFrame(
        {"study_id": ["a", "a", "b"], "direction": ["benefit", "harm", "no_clear_effect"]}
    )
    res = vote_count(t, domain="x")
    assert (res.n_studies, res.n_no_clear_effect, res.n_benefit, res.n_harm) == (2, 2, 0, 0)
    assert res.p_value is None


@pytest.fixture(scope="module")
def bundled_review():
    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    return run_review(load_evidence(), load_protocol())


def test_bundled_review_swim(bundled_review):
    syn = {spec.id: res for spec, res in bundled_review.syntheses}
    neuro = syn["swim_neurophysiology"].table.set_index("study_id")
    # Mendonça 2014 and Hur 2016: 1 of 14 patients changed: not benefit; Vaquero 2017: 9/10
    assert neuro.loc["mendonca-2014", "direction"] == "no_clear_effect"
    assert neuro.loc["hur-2016", "direction"] == "no_clear_effect"
    assert neuro.loc["vaquero-2017", "direction"] == "benefit"
    assert neuro.loc["hur-2016", "measured"] == 14
    r = syn["swim_neurophysiology"]
    assert (r.n_benefit, r.n_harm, r.n_no_clear_effect) == (1, 0, 2)
    uro = syn["swim_urodynamics"]
    assert (uro.n_benefit, uro.n_harm) == (2, 0)  # 9/14 and 8/10 improved
    assert uro.p_value == pytest.approx(0.5)  # binom.test(2, 2)
    mri = syn["swim_mri"]
    assert (mri.n_no_change, mri.n_benefit) == (2, 0)
    for res in syn.values():
        assert res.table["measured"].notna().all()
        assert res.rule == DIRECTION_RULE
