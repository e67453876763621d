"""Key messages (review/messages.py): one sentence per question of the protocol, generated
from the results — checked against closed forms and against hand-changed results."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from sci_evidence.review.messages import (
    absolute_per_1000,
    control_risk,
    key_messages,
)
from sci_evidence.review.protocol import QuestionSpec


def _msg(review, qid):
    return next(m for m in key_messages(review) if m.id == qid)


def _ask(review, **kw):
    """The message of one question (not in the protocol) about ``review``."""
    q = QuestionSpec(**kw)
    proto = replace(review.protocol, questions=(q,))
    return key_messages(replace(review, protocol=proto))[0]


def test_absolute_effect_per_1000_closed_form():
    # 1000 · CR · (RR − 1): CR = 10%, RR 2 (0.5 to 3) -> 100 more (50 fewer to 200 more)
    d, lo, hi = absolute_per_1000(2.0, 0.5, 3.0, 0.10)
    assert (d, lo, hi) == pytest.approx((100.0, -50.0, 200.0), rel=1e-12)
    assert absolute_per_1000(1.0, 1.0, 1.0, 0.3) == (0.0, 0.0, 0.0)


def test_risk_ratio_message_states_absolute_effect(handmade_review):
    a = handmade_review.analysis("ais_improved_rr")
    rows = a.main.rows
    # the hand-made control arms: 3/20, 1/12, 0/10 (tests/review/_handmade.py)
    assert sorted(rows["study_id"]) == ["s3", "s4", "s5"]
    risk = control_risk(rows)
    assert risk == pytest.approx(4 / 42, rel=1e-12)
    r = a.main.result
    rr, lo, hi = np.exp([r.estimate, r.ci_lb, r.ci_ub])
    d, dlo, dhi = (1000 * risk * (v - 1) for v in (rr, lo, hi))
    m = _msg(handmade_review, "ais_vs_control")
    assert m.answered and m.k == 3 and m.certainty == a.grade.certainty
    assert m.patients == a.grade.n_patients == 20 + 20 + 11 + 12 + 10 + 10
    assert f"RR {rr:.2f} (95% CI {lo:.2f}–{hi:.2f})" in m.message
    assert f"control-group risk of these studies ({100 * risk:.1f}%)" in m.message
    more = f"{round(d)} more" if round(d) > 0 else f"{-round(d)} fewer"
    upper = min(round(dhi), round(1000 * (1 - risk)))
    assert f"{more} per 1,000 patients ({round(dlo)} to {upper}" in m.message
    assert f"{a.grade.certainty} certainty" in m.message and "3 studies" in m.message


def _with_estimate(review, analysis_id, p):
    """``review`` with the main estimate of one analysis replaced (a hand-made result)."""
    logit = math.log(p / (1 - p))
    out = []
    for a in review.analyses:
        if a.spec.id == analysis_id:
            r = a.main.result
            fake = SimpleNamespace(
                estimate=logit, ci_lb=logit - 0.4, ci_ub=logit + 0.4, k=r.k, measure=r.measure
            )
            a = replace(a, main=replace(a.main, result=fake))
        out.append(a)
    return replace(review, analyses=tuple(out))


def test_messages_change_when_the_numbers_change(handmade_review):
    lo = _msg(_with_estimate(handmade_review, "ais_improved_prop", 0.30), "ais_treated")
    hi = _msg(_with_estimate(handmade_review, "ais_improved_prop", 0.60), "ais_treated")
    assert "30.0% (95% CI" in lo.message and "60.0% (95% CI" in hi.message
    assert lo.message != hi.message
    expit = 1 / (1 + math.exp(-(math.log(0.6 / 0.4) - 0.4)))
    assert f"60.0% (95% CI {100 * expit:.1f}–" in hi.message
    # the same results give the same words
    assert _msg(handmade_review, "ais_treated") == _msg(handmade_review, "ais_treated")


def test_one_or_no_study_cannot_answer(bundled_run):
    result, _ = bundled_run
    one = result.analysis("motor_change")
    assert one.main is None and len(one.selection.rows) == 1
    label = one.selection.rows["label"].iloc[0]
    m = _msg(result, "motor")
    assert not m.answered
    # the one study's own estimate and 95% CI, as its individual-studies table shows them
    row = one.individual[one.individual["status"] == "in the analysis"].iloc[0]
    assert row["label"] == label

    def signed(v):
        return f"{v:+.1f}".replace("-", "−")

    assert (
        f"{one.spec.title} — only one study gives usable data ({label}, {int(row['n'])} "
        f"patients: mean change {signed(row['estimate'])} points (95% CI "
        f"{signed(row['ci_lb'])} to {signed(row['ci_ub'])}) on the 0–100 scale): one study "
        "is too little evidence to answer this." in m.message
    )
    assert result.analysis("motor_md").status == "no data"
    title = result.analysis("motor_md").spec.title
    assert f"{title} — no study gives usable data, so the evidence cannot answer this" in m.message


def test_subgroups_of_one_or_two_studies_are_called_too_small(bundled_run):
    result, _ = bundled_run
    a = result.analysis("ais_improved_prop")
    sg = next(s for s in a.subgroups if s.variable == "route")
    ks = {g: sg.result.results[g].k for g in sg.result.groups}
    small = sorted(("not reported" if g == "unknown" else g) for g, k in ks.items() if k <= 2)
    assert small and len(small) < len(ks)
    m = _msg(result, "route")
    assert m.answered
    if len(small) == 1:
        assert f"The group {small[0]} rests on one or two studies" in m.message
    else:
        assert f"The groups {', '.join(small)} rest on one or two studies each" in m.message
    rows = a.main.rows
    for g, k in ks.items():
        name = "not reported" if g == "unknown" else g.replace("_", " ")
        # each group with its studies and patients (Σ ni of its rows)
        n = int(rows.loc[rows["route"].astype(str) == g, "ni"].sum())
        assert re.search(rf"{name} [^;]*\({k} stud(y|ies), {n} patients\)", m.message), (g, k)
    assert (
        sum(int(x) for x in re.findall(r"stud(?:y|ies), (\d+) patients\)", m.message))
        == m.patients
        == int(rows["ni"].sum())
    )
    # the main model is the GLMM: its test with route as moderator, not the IV Q
    assert sg.glmm_test is not None and sg.glmm_test["converged"]
    p = sg.glmm_test["pval"]
    assert f"test for subgroup differences (GLMM with route as moderator) p = {p:.2f}" in m.message
    assert f"{p:.2f}" != f"{sg.result.Q_between_pval:.2f}"


def test_subgroup_message_uses_the_glmm_test_of_the_main_model(bundled_run):
    """With a GLMM main model the key message gives the p of the GLMM with the variable as
    moderator (the subgroup section's test), e.g. injury phase p = 0.09, not the
    inverse-variance Q's p = 0.03; a degenerate GLMM test falls back to the Q, named so."""
    result, _ = bundled_run
    a = result.analysis("ais_improved_prop")
    sg = next(s for s in a.subgroups if s.variable == "injury_phase")
    m = _msg(result, "injury_phase")
    assert f"(GLMM with injury phase as moderator) p = {sg.glmm_test['pval']:.2f}" in m.message
    assert f"p = {sg.result.Q_between_pval:.2f}" not in m.message
    bad = replace(sg, glmm_test={**sg.glmm_test, "diagnostics": ["diverges"]})
    subs = tuple(bad if s is sg else s for s in a.subgroups)
    review = replace(
        result,
        analyses=tuple(replace(x, subgroups=subs) if x is a else x for x in result.analyses),
    )
    m2 = _msg(review, "injury_phase")
    assert (
        "(inverse-variance Q; the GLMM test is degenerate) "
        f"p = {sg.result.Q_between_pval:.2f}" in m2.message
    )


def test_sensory_message_shows_xiao_2014_controlled_difference(bundled_run):
    """The sensory question also draws on the controlled sensory total (Xiao 2014, the one
    controlled score comparison), with its mean difference, CI and scale in the message."""
    result, _ = bundled_run
    a = result.analysis("sensory_md")
    assert a.main is None and list(a.selection.rows["label"]) == ["Xiao 2014"]
    row = a.individual[a.individual["status"] == "in the analysis"].iloc[0]
    m = _msg(result, "sensory")
    assert "sensory_md" in m.draws_on and not m.answered
    assert (
        f"Xiao 2014, {row['n']} patients: mean difference (MSC − control) "
        f"+{row['estimate']:.1f} points (95% CI +{row['ci_lb']:.1f} to +{row['ci_ub']:.1f}) "
        "on the 0–224 scale" in m.message
    )
    assert row["n"] == "35 vs 29"


def test_when_every_group_is_small_the_message_cannot_answer(handmade):
    from sci_evidence.evidence.model import EvidenceSet
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    # without s5 the routes are intrathecal (s1, s3), intralesional (s2), intravenous (s4)
    frames = {
        n: (df[df["study_id"] != "s5"] if "study_id" in df.columns else df)
        for n, df in handmade.frames().items()
    }
    review = run_review(EvidenceSet.from_frames(frames), load_protocol())
    m = _msg(review, "route")
    assert not m.answered
    assert "Every group rests on one or two studies: too few to tell" in m.message


def test_dose_message_reports_the_odds_ratio_per_tenfold_dose(bundled_run):
    result, _ = bundled_run
    reg = result.analysis("ais_improved_prop").regressions["log_dose"]
    c = next(x for x in reg.to_dict()["coefficients"] if x["term"] == "log_dose")
    m = _msg(result, "dose")
    ors = [math.exp(c[f]) for f in ("estimate", "ci_lb", "ci_ub")]
    assert f"odds ratio {ors[0]:.2f} per tenfold higher dose (95% CI {ors[1]:.2f}–" in m.message
    assert m.k == reg.k
    # the patients of the studies with a known dose
    rows = result.analysis("ais_improved_prop").main.rows
    n = int(rows.loc[rows["log_dose"].notna(), "ni"].sum())
    assert m.patients == n and f"({reg.k} studies with a known dose, {n} patients)" in m.message
    if reg.k < 10:
        assert not m.answered and "cannot show whether dose matters" in m.message


def test_synthesis_and_natural_history_messages(bundled_run):
    result, _ = bundled_run
    spec, res = next((s, r) for s, r in result.syntheses if s.id == "swim_neurophysiology")
    m = _msg(result, "neurophysiology")
    head = rf"{re.escape(spec.title)}( \(\d+ patients measured\))?: "
    assert re.match(head + rf"{res.n_benefit} of {res.n_studies} studies", m.message)
    assert m.certainty is None and m.k == res.n_studies
    nh = result.analysis("ais_improved_prop").natural_history_pooled
    m = _msg(result, "ais_vs_natural_history")
    assert f"against {100 * nh['expected']:.1f}% expected from spontaneous recovery" in m.message
    ex = nh["excess"]
    word = "more" if ex >= 0 else "fewer"
    assert f"{abs(100 * ex):.1f} percentage points {word}" in m.message
    assert f"{100 * nh['excess_lb']:.1f} to {100 * nh['excess_ub']:.1f})" in m.message
    # per 1,000 treated patients: 1000 × excess (and its bounds)
    per = round(1000 * ex)
    per_text = f"{per} more" if per > 0 else f"{-per} fewer" if per < 0 else "no difference"
    assert (
        f"that is {per_text} per 1,000 treated patients ({round(1000 * nh['excess_lb'])} to "
        f"{round(1000 * nh['excess_ub'])};" in m.message
    )


def test_a_missing_regression_or_subgroup_is_not_available(handmade_review):
    m = _ask(handmade_review, id="x", question="By level?", draws_on=("ais_improved_rr",),
             answer="subgroups", by="injury_level")  # fmt: skip
    assert not m.answered and "A comparison by injury level is not available" in m.message
    m = _ask(handmade_review, id="y", question="Dose?", draws_on=("ais_improved_rr",),
             answer="dose", by="year")  # fmt: skip
    assert not m.answered and "A dose–response analysis is not available" in m.message


def test_results_json_has_one_key_message_per_question(bundled_run):
    import json

    result, out = bundled_run
    doc = json.loads((out / "results.json").read_text())
    km = doc["key_messages"]
    assert [m["id"] for m in km] == [q.id for q in result.protocol.questions]
    grade = {g["analysis_id"]: g["certainty"] for g in doc["grade"]}
    for m in km:
        assert m["message"] and isinstance(m["answered"], bool)
        head = next((d for d in m["draws_on"] if d in grade), None)
        if m["certainty"] is not None:
            assert m["certainty"] == grade[head]
    html = (out / "report.html").read_text()
    assert html.index('id="key-messages"') < html.index('id="summary"')
    assert all(f'id="km-{m["id"]}"' in html for m in km)
    # the navigation bar leads to them first
    nav = html[html.index("<nav>") : html.index("</nav>")]
    assert nav.index('href="#key-messages"') < nav.index('href="#summary"')


def test_default_protocol_asks_the_review_questions():
    from sci_evidence.review.protocol import load_protocol

    qs = load_protocol().questions
    ids = {q.id for q in qs}
    assert {
        "ais_treated", "ais_vs_control", "ais_vs_natural_history", "motor", "sensory",
        "neurophysiology", "urodynamics", "mri", "adverse_events", "adverse_events_by_route",
        "cell_source", "route", "dose", "injury_phase",
    } == ids  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[[questions]]\nid = "q"\nquestion = "?"\ndraws_on = ["nope"]\n', "questions[1].draws_on"),
        ('[[questions]]\nid = "q"\nquestion = "?"\ndraws_on = []\n', "questions[1].draws_on"),
        (
            '[[questions]]\nid = "q"\nquestion = "?"\ndraws_on = ["ais"]\nanswer = "subgroups"\n'
            'by = "colour"\n',
            "questions[1].by",
        ),
        (
            '[[questions]]\nid = "q"\nquestion = "?"\ndraws_on = ["ais"]\nanswer = "x"\n',
            "questions[1].answer",
        ),  # fmt: skip
        ('[[questions]]\nid = "q"\ndraws_on = ["ais"]\n', "questions[1].question"),
        ('[[questions]]\nid = "q"\nquestion = "?"\ndraws_on = ["ais"]\nwhy = 1\n', "why"),
    ],
)
def test_bad_questions_are_one_line_errors(extra, key):
    from sci_evidence.errors import InputError
    from sci_evidence.review.protocol import parse_protocol

    base = (
        'title = "t"\nseed = 1\n[[analyses]]\nid = "ais"\noutcome = "ais_improved"\n'
        'design = "single_arm"\nmeasure = "PLO"\n'
    )
    with pytest.raises(InputError) as exc:
        parse_protocol(base + extra, source="p.toml")
    assert key in str(exc.value) and "\n" not in str(exc.value)


def test_an_absolute_upper_bound_beyond_certainty_is_capped(bundled_run):
    """A wide RR interval can imply a treated risk above 100%; the sentence caps the bound at
    1000 · (1 − CR) more per 1,000 and says so."""
    result, _ = bundled_run
    a = result.analysis("ais_improved_rr")
    risk = control_risk(a.main.rows)
    hi = float(np.exp(a.main.result.ci_ub))
    m = _msg(result, "ais_vs_control")
    if 1000 * risk * (hi - 1) > 1000 * (1 - risk):
        assert f"to {round(1000 * (1 - risk))}, the upper bound capped at a risk of 100%)" in (
            m.message
        )
    else:
        assert "capped" not in m.message


def test_adverse_events_by_route_from_the_route_comparison(bundled_run):
    """With a comparison by route in the results (``safety_by_route``: per route group the
    proportion and the GLMM moderator test) the message reads it; without, the subgroups."""
    import pandas as pd

    result, _ = bundled_run

    def stand_in(by_route):  # the results with (or without) a comparison by route
        return SimpleNamespace(
            protocol=result.protocol,
            analyses=result.analyses,
            syntheses=result.syntheses,
            safety_by_route=by_route,
        )

    plain = _msg(stand_in(None), "adverse_events_by_route")
    assert plain.draws_on == ("ae_any_prop", "ae_serious_prop")
    # the default protocol has no subgroups by route for adverse events (the safety section
    # compares routes): without the comparison the message says it is not available
    assert plain.message.startswith("A comparison by route is not available for adverse events")
    groups = pd.DataFrame(
        [
            {"route_group": "intrathecal", "k": 6, "patients": 90, "events": 9,
             "proportion": 0.1, "ci_lb": 0.05, "ci_ub": 0.18},
            {"route_group": "intravenous", "k": 2, "patients": 30, "events": 6,
             "proportion": 0.2, "ci_lb": 0.09, "ci_ub": 0.38},
            {"route_group": "combined", "k": 0, "patients": 0, "events": 0,
             "proportion": None, "ci_lb": None, "ci_ub": None},
        ]
    )  # fmt: skip
    fake = SimpleNamespace(
        analysis_id="ae_any_prop", level=0.95, groups=groups, test={"pval": 0.0043}, note=""
    )
    m = _msg(stand_in((fake,)), "adverse_events_by_route")
    title = result.analysis("ae_any_prop").spec.title
    assert m.message.startswith(
        f"{title} by route: intrathecal 10.0% (95% CI 5.0–18.0%; 6 studies, 9 of 90 patients); "
        "intravenous 20.0% (95% CI 9.0–38.0%; 2 studies, 6 of 30 patients). Route as a "
        "moderator (GLMM, Wald test): p = 0.004. The group intravenous rests on one or two "
        "studies, too few to compare."
    )
    assert "combined" not in m.message and m.k == 8 and m.patients == 120
    # the serious-event analysis has no comparison by route: its sentence says so
    assert "A comparison by route is not available for serious adverse events" in m.message


def test_a_synthesis_without_any_direction_runs_no_sign_test(bundled_run):
    result, _ = bundled_run
    spec, res = next((s, r) for s, r in result.syntheses if s.id == "swim_mri")
    m = _msg(result, "mri")
    if res.n_benefit + res.n_harm == 0:
        assert "no study showed a direction, so no sign test" in m.message
    else:
        assert "exact sign test p" in m.message and "no sign test" not in m.message


def test_synthesis_message_counts_patients_measured():
    """Where a synthesis records the patients each study measured (``table.measured``), the
    message states them (per study the largest count of its outcomes)."""
    import pandas as pd

    from sci_evidence.review.messages import synthesis_sentence

    table = pd.DataFrame(
        {"study_id": ["a", "a", "b", "c"], "measured": [14, 10, 9, None]}
    )  # fmt: skip
    res = SimpleNamespace(
        n_studies=3, n_benefit=2, n_harm=0, n_no_change=0, n_unclear=0, n_no_clear_effect=1,
        p_value=0.5, table=table,
    )  # fmt: skip
    spec = SimpleNamespace(title="Neurophysiology")
    text = synthesis_sentence(spec, res)
    assert text == (
        "Neurophysiology (23 patients measured): 2 of 3 studies found a benefit, 0 harm, 1 no "
        "clear effect (exact sign test p = 0.50; not pooled, so no pooled effect or certainty "
        "rating)."
    )
    assert "patients measured" not in synthesis_sentence(spec, replace_table(res))


def replace_table(res):
    return SimpleNamespace(**{**vars(res), "table": None})


def test_fewer_than_spontaneous_recovery_is_said_so(handmade_review):
    nh = {"observed": 0.10, "ci_lb": 0.05, "ci_ub": 0.2, "expected": 0.15, "excess": -0.05,
          "excess_lb": -0.1, "excess_ub": 0.05}  # fmt: skip
    analyses = tuple(
        replace(a, natural_history_pooled=nh) if a.spec.id == "ais_improved_prop" else a
        for a in handmade_review.analyses
    )
    m = _msg(replace(handmade_review, analyses=analyses), "ais_vs_natural_history")
    assert "10.0% of treated patients improved (95% CI 5.0–20.0%) against 15.0%" in m.message
    assert "5.0 percentage points fewer (95% CI -10.0 to 5.0), that is 50 fewer per 1,000 " in (
        m.message
    )
    assert "treated patients (-100 to 50;" in m.message


def test_proportion_messages_give_the_summed_counts_and_derived_bounds(bundled_run):
    """A GLMM's pooled proportion is the typical study's (1.6% for any adverse event, with
    τ² ≈ 6): the message also gives the share of all patients, summed from the study rows,
    and how many study counts are derived lower bounds."""
    result, _ = bundled_run
    a = result.analysis("ae_any_prop")
    rows = a.main.rows
    x, n = int(rows["xi"].sum()), int(rows["ni"].sum())
    derived = int((rows["count"] == "derived (lower bound)").sum())
    assert (x, n, derived) == (19, 310, 5)  # Bydon 2024's 8/10 among the derived counts
    m = _msg(result, "adverse_events")
    assert (
        f"Summed over the studies, {x} of {n} patients ({100 * x / n:.1f}%) had the outcome; "
        f"{derived} of {a.k} study counts are lower bounds" in m.message
    )
    serious = result.analysis("ae_serious_prop").main.rows
    assert int(serious["xi"].sum()) == 1  # Kishk 2010's ADEM
    # events in one study only: the message passes on that the GLMM cannot be identified
    assert (
        f"1 of {int(serious['ni'].sum())} patients (0.9%) had the outcome; events in 1 of "
        f"{len(serious)} studies only: the GLMM cannot separate the between-study variance "
        "from the mean, so its estimate and interval say little." in m.message
    )
    assert "cannot separate" not in m.message.split("Serious adverse events")[0]


def test_key_messages_print_the_summary_of_findings_numbers(bundled_run):
    """The same number in two places is the same: every pooled analysis a key message of
    kind "effect" draws on is quoted with the summary-of-findings effect, studies and
    patients verbatim, and the pooled table (tables/pooled_results.csv) rounds to it."""
    import pandas as pd

    result, out = bundled_run
    pooled = pd.read_csv(out / "tables" / "pooled_results.csv").set_index("analysis_id")
    checked = 0
    for q in result.protocol.questions:
        if q.answer != "effect":
            continue
        m = _msg(result, q.id)
        for aid in q.draws_on:
            a = next((x for x in result.analyses if x.spec.id == aid), None)
            if a is None or a.grade is None:
                continue
            g = a.grade
            assert f"{g.effect} ({a.k} studies, {g.n_patients} patients; " in m.message, aid
            row = pooled.loc[aid]
            if row["scale"] == "%":
                shown = f"{row['estimate']:.1f}% (95% CI {row['ci_lb']:.1f}–{row['ci_ub']:.1f}%)"
                assert shown == g.effect
            elif row["scale"] == "RR":
                shown = f"RR {row['estimate']:.2f} (95% CI {row['ci_lb']:.2f}–{row['ci_ub']:.2f})"
                assert shown == g.effect
            checked += 1
    assert checked >= 4
