"""Key messages: one plain sentence (or a few) per question of the review, generated from its
results — never typed in.

The protocol's ``[[questions]]`` say which analyses and syntheses answer which question and
how (:class:`~sci_evidence.review.protocol.QuestionSpec`); ``key_messages(review)`` turns a
:class:`~sci_evidence.review.results.ReviewResult` into :class:`KeyMessage` objects. Each
message states its numbers on the reader's scale with their interval, the number of studies
and patients, and the GRADE certainty; a comparison with a control adds the absolute effect
per 1,000 patients. Where the evidence cannot answer (no study, or one), or subgroup
differences rest on groups of one or two studies, the message says so.

The builders read only the stable interface of the results (``AnalysisResult.status``,
``.main.result`` with :func:`~sci_evidence.review.results.back`, ``.grade``,
``.subgroups``, ``.regressions``, ``.natural_history_pooled``; ``ReviewResult.syntheses``);
anything else is read with ``getattr(..., None)`` and missing parts give a plain "not
available" sentence. Each builder is one small function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sci_evidence.meta.transforms import measure_scale
from sci_evidence.review.compare import format_estimate
from sci_evidence.review.models import glmm_identification
from sci_evidence.review.results import back
from sci_evidence.review.safety import DERIVED
from sci_evidence.review.score_studies import one_study_effect
from sci_evidence.review.swim_messages import fmt_p as _fmt_p
from sci_evidence.review.swim_messages import synthesis_patients, synthesis_sentence

__all__ = ["KeyMessage", "absolute_per_1000", "control_risk", "key_messages"]

#: A group of at most this many studies is too small to compare with the others.
SMALL_GROUP = 2


@dataclass(frozen=True)
class KeyMessage:
    """The answer to one question of the review.

    ``answered`` is False when the evidence cannot answer (no or one study); ``k`` and
    ``patients`` count the studies and patients of the headline analysis (None when not
    known); ``certainty`` is its GRADE rating (None when not rated, e.g. a SWiM synthesis).
    """

    id: str
    question: str
    message: str
    answered: bool
    k: int | None = None
    patients: int | None = None
    certainty: str | None = None
    draws_on: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "question": self.question,
            "message": self.message,
            "answered": self.answered,
            "k": self.k,
            "patients": self.patients,
            "certainty": self.certainty,
            "draws_on": list(self.draws_on),
        }


# ------------------------------------------------------------------------------ arithmetic


def absolute_per_1000(rr: float, lo: float, hi: float, risk: float) -> tuple[float, float, float]:
    """Absolute effect per 1,000 patients from a risk ratio and the control-group risk.

    ``1000 · CR · (RR − 1)`` for the estimate and for each bound of its interval (GRADE
    summary-of-findings convention: Guyatt et al. 2013, J Clin Epidemiol 66:158–172).
    """
    return tuple(1000.0 * risk * (v - 1.0) for v in (rr, lo, hi))  # type: ignore[return-value]


def control_risk(rows) -> float | None:  # noqa: ANN001 - the analysis rows (ci, n2i)
    """The control-group risk: events over patients of the control arms, pooled
    (``Σ ci / Σ n2i``); None without control arms."""
    if rows is None or "ci" not in rows or "n2i" not in rows:
        return None
    n = float(np.nansum(rows["n2i"].to_numpy(float)))
    return None if n <= 0 else float(np.nansum(rows["ci"].to_numpy(float))) / n


def _patients(a) -> int | None:  # noqa: ANN001
    g = getattr(a, "grade", None)
    if g is not None and getattr(g, "n_patients", None) is not None:
        return int(g.n_patients)
    return _row_patients(a.main.rows if a.main is not None else None)


def _row_patients(rows) -> int | None:  # noqa: ANN001
    """Patients of analysis rows: Σ ni (single arm) or Σ n1i + n2i (controlled)."""
    if rows is None:
        return None
    cols = [c for c in ("ni", "n1i", "n2i") if c in rows]
    if "ni" in cols:
        cols = ["ni"]
    return int(np.nansum(rows[cols].to_numpy(float))) if cols else None


def _studies(k: int) -> str:
    return f"{k} study" if k == 1 else f"{k} studies"


def _small_groups(names: list[str]) -> str:
    if len(names) == 1:
        return f"The group {names[0]} rests on one or two studies"
    return f"The groups {', '.join(names)} rest on one or two studies each"


def _certainty_phrase(c: str | None) -> str:
    return "certainty not rated" if not c else f"{c} certainty"


def _lower_first(s: str) -> str:
    """``s`` with a lower-case first letter, unless it opens an acronym (ASIA, MRI)."""
    return s[:1].lower() + s[1:] if s[1:2].islower() else s


# --------------------------------------------------------------------------------- builders


def _cannot_answer(a, level: float = 0.95) -> str:  # noqa: ANN001
    """An analysis that was not pooled: why the evidence cannot answer; a single study's
    own estimate is shown with its interval and scale (``a.individual``)."""
    rows = a.selection.rows
    k = int(rows["study_id"].nunique()) if len(rows) else 0
    title = a.spec.title
    if k == 0:
        return f"{title} — no study gives usable data, so the evidence cannot answer this."
    one = one_study_effect(a.spec, level, getattr(a, "individual", None)) if k == 1 else None
    if one is not None:
        return (
            f"{title} — only one study gives usable data ({one}): one study is too little "
            "evidence to answer this."
        )
    if k == 1:
        label = str(rows["label"].iloc[0]) if "label" in rows else str(rows["study_id"].iloc[0])
        return (
            f"{title} — only one study ({label}) gives usable data: too little evidence to "
            "answer this."
        )
    return f"{title} — {_studies(k)} give data, but they were not pooled ({a.status})."


def effect_sentence(a, level: float) -> str:  # noqa: ANN001
    """The pooled effect of one analysis in a sentence, with its interval, studies, patients
    and certainty; for a risk ratio the absolute effect per 1,000 patients."""
    if a.main is None:
        return _cannot_answer(a, level)
    res, rows, measure = a.main.result, a.main.rows, a.spec.measure
    est, lo, hi = (float(v) for v in back(measure, [res.estimate, res.ci_lb, res.ci_ub], rows))
    text = format_estimate(measure, est, lo, hi, level=level)
    n = _patients(a)
    g = getattr(a, "grade", None)
    who = f"{_studies(res.k)}" + ("" if n is None else f", {n} patients")
    out = f"{a.spec.title}: {text} ({who}; {_certainty_phrase(getattr(g, 'certainty', None))})."
    if measure == "RR":
        risk = control_risk(rows)
        if risk is None:
            out += " The absolute effect is not available (no control-group risk)."
        else:
            d, dlo, dhi = absolute_per_1000(est, lo, hi, risk)
            # a risk cannot exceed 100%: a bound beyond 1000·(1 − CR) more is shown capped
            cap = 1000.0 * (1.0 - risk)
            capped = dhi > cap
            out += (
                f" At the control-group risk of these studies ({100 * risk:.1f}%), that is "
                f"{_per_1000(d)} per 1,000 patients ({int(round(dlo))} to "
                f"{int(round(min(dhi, cap)))}"
                + (", the upper bound capped at a risk of 100%" if capped else "")
                + ")."
            )
    elif "xi" in rows and "ni" in rows:
        out += _raw_share(rows, res.k, glmm=getattr(a.spec, "model", "") == "glmm")
    elif measure == "RD":
        out += (
            f" That is {_per_1000(1000 * est)} per 1,000 patients "
            f"({int(round(1000 * lo))} to {int(round(1000 * hi))})."
        )
    if res.k <= SMALL_GROUP:
        out += f" It rests on only {_studies(res.k)}."
    return out


def _raw_share(rows, k: int, glmm: bool = False) -> str:  # noqa: ANN001 - rows: xi, ni[, count]
    """The summed counts beside a pooled proportion (a GLMM gives the typical study's
    proportion, which can lie far from the share of all patients), how many study counts
    are derived lower bounds (adverse events: :data:`~sci_evidence.review.safety.DERIVED`),
    and, for a GLMM, the fit's warning when the counts cannot identify it."""
    sink: list[tuple[str, str]] = []
    if glmm:
        glmm_identification("", rows, sink)
    x, n = int(np.nansum(rows["xi"].to_numpy(float))), int(np.nansum(rows["ni"].to_numpy(float)))
    out = f" Summed over the studies, {x} of {n} patients ({100 * x / n:.1f}%) had the outcome"
    d = int((rows["count"] == DERIVED).sum()) if "count" in rows else 0
    if d:
        out += f"; {d} of {k} study counts are lower bounds (an arm's largest single event type)"
    for _, why in sink:
        out += f"; {why.split(';')[0]}"
    return out + "."


def _per_1000(d: float) -> str:
    n = int(round(d))
    return f"{n} more" if n > 0 else f"{-n} fewer" if n < 0 else "no difference"


def _by_id(review) -> tuple[dict, dict]:  # noqa: ANN001
    analyses = {a.spec.id: a for a in review.analyses}
    syntheses = {spec.id: (spec, res) for spec, res in review.syntheses}
    return analyses, syntheses


def answer_effect(review, q) -> KeyMessage:  # noqa: ANN001
    """``answer = "effect"``: the pooled effect of each analysis, the vote count of each
    synthesis."""
    analyses, syntheses = _by_id(review)
    level = review.protocol.level
    sentences, head = [], None
    for d in q.draws_on:
        if d in analyses:
            a = analyses[d]
            sentences.append(effect_sentence(a, level))
            if head is None and a.main is not None:
                head = a
        elif d in syntheses:
            sentences.append(synthesis_sentence(*syntheses[d]))
    if head is not None:
        g = getattr(head, "grade", None)
        return KeyMessage(
            q.id, q.question, " ".join(sentences), True, head.k, _patients(head),
            getattr(g, "certainty", None), q.draws_on,
        )  # fmt: skip
    k = patients = None
    answered = False
    for d in q.draws_on:
        if d in syntheses:
            k = int(getattr(syntheses[d][1], "n_studies", 0) or 0)
            patients = synthesis_patients(syntheses[d][1])
            answered = k >= 2
            break
    text = " ".join(sentences)
    return KeyMessage(q.id, q.question, text, answered, k, patients, None, q.draws_on)


def answer_natural_history(review, q) -> KeyMessage:  # noqa: ANN001
    """``answer = "natural_history"``: the observed proportion against the spontaneous
    recovery expected from natural-history cohorts (``natural_history_pooled``)."""
    analyses, _ = _by_id(review)
    a = analyses.get(q.draws_on[0])
    if a is None or a.main is None:
        text = _cannot_answer(a) if a is not None else "Not available."
        return KeyMessage(q.id, q.question, text, False, draws_on=q.draws_on)
    nh = getattr(a, "natural_history_pooled", None) or {}
    pct = int(round(100 * review.protocol.level))
    g = getattr(a, "grade", None)
    n = _patients(a)
    if nh.get("expected") is None or nh.get("excess") is None:
        text = (
            "A comparison with spontaneous recovery is not available: no natural-history "
            "cohort matches these studies."
        )
        return KeyMessage(q.id, q.question, text, False, a.k, n, None, q.draws_on)
    ex = nh["excess"]
    text = (
        f"{100 * nh['observed']:.1f}% of treated patients improved ({pct}% CI "
        f"{100 * nh['ci_lb']:.1f}–{100 * nh['ci_ub']:.1f}%) against {100 * nh['expected']:.1f}% "
        "expected from spontaneous recovery in natural-history cohorts of the same injury "
        f"phase: {abs(100 * ex):.1f} percentage points {'more' if ex >= 0 else 'fewer'} "
        f"({pct}% CI {100 * nh['excess_lb']:.1f} to {100 * nh['excess_ub']:.1f}), that is "
        f"{_per_1000(1000 * ex)} per 1,000 treated patients ({round(1000 * nh['excess_lb'])} "
        f"to {round(1000 * nh['excess_ub'])}; {_studies(a.k)}, {n} patients; "
        f"{_certainty_phrase(getattr(g, 'certainty', None))}; a comparison with external "
        "cohorts, not a randomised one)."
    )
    return KeyMessage(
        q.id, q.question, text, True, a.k, n, getattr(g, "certainty", None), q.draws_on
    )


def answer_subgroups(review, q) -> KeyMessage:  # noqa: ANN001
    """``answer = "subgroups"``: the pooled effect in each group of ``q.by`` and the test for
    subgroup differences; groups of one or two studies are called too small to compare."""
    analyses, _ = _by_id(review)
    a = analyses.get(q.draws_on[0])
    what = q.by.replace("_", " ")
    if a is None or a.main is None:
        text = _cannot_answer(a) if a is not None else "Not available."
        return KeyMessage(q.id, q.question, text, False, draws_on=q.draws_on)
    sg = next((s for s in a.subgroups if s.variable == q.by), None)
    if sg is None or sg.result is None:
        why = "" if sg is None or not sg.note else f" ({sg.note})"
        text = f"A comparison by {what} is not available for {_lower_first(a.spec.title)}{why}."
        return KeyMessage(q.id, q.question, text, False, a.k, _patients(a), None, q.draws_on)
    level = review.protocol.level
    parts, small = [], []
    # only this variable's groups (AnalysisResult.subgroup_fits builds every variable's)
    of = sg.result.group_of
    groups = np.asarray(of if of is not None and len(of) else a.main.rows[q.by].astype(str))
    for g in sg.result.groups:
        r = sg.result.results[g]
        in_g = a.main.rows[groups == g]
        rows = in_g if measure_scale(a.spec.measure).needs_ni else None
        est, lo, hi = (float(v) for v in back(a.spec.measure, [r.estimate, r.ci_lb, r.ci_ub],
                                              rows))  # fmt: skip
        name = "not reported" if g == "unknown" else str(g).replace("_", " ")
        n = _row_patients(in_g)
        who = _studies(r.k) + ("" if n is None else f", {n} patients")
        parts.append(f"{name} {format_estimate(a.spec.measure, est, lo, hi, level=level)} "
                     f"({who})")  # fmt: skip
        if r.k <= SMALL_GROUP:
            small.append(name)
    text = f"{a.spec.title} by {what}: " + "; ".join(parts) + "."
    p, how = _subgroup_test(sg, what)
    if small and len(small) == len(parts):
        text += (
            f" Every group rests on one or two studies: too few to tell whether {what} "
            f"matters (test for subgroup differences{how} {_fmt_p(p)})."
        )
        answered = False
    elif small:
        text += (
            f" {_small_groups(small)}, too few to compare; test for subgroup differences"
            f"{how} {_fmt_p(p)}."
        )
        answered = True
    else:
        verdict = "the groups differ" if (p is not None and p < 1 - level) else "no difference "
        verdict += "" if verdict.startswith("the") else "between the groups was shown"
        text += f" Test for subgroup differences{how} {_fmt_p(p)}: {verdict}."
        answered = True
    text += " Subgroups compare studies, not randomised groups"
    g = getattr(a, "grade", None)
    if getattr(g, "certainty", None):
        text += f"; certainty of the overall estimate: {g.certainty}"
    text += "."
    return KeyMessage(
        q.id, q.question, text, answered, a.k, _patients(a), getattr(g, "certainty", None),
        q.draws_on,
    )  # fmt: skip


def _subgroup_test(sg, what: str) -> tuple[float | None, str]:  # noqa: ANN001
    """p of the main model's test for subgroup differences and words naming it: with a GLMM,
    its Wald test with the variable as moderator (``sg.glmm_test``), not the IV Q (they can
    disagree: p = 0.09 against 0.03); the IV Q, named so, where that GLMM fit is degenerate."""
    t, q = getattr(sg, "glmm_test", None), getattr(sg.result, "Q_between_pval", None)
    if t is None:
        return q, ""
    if t.get("converged") and not t.get("diagnostics") and t.get("pval") is not None:
        return float(t["pval"]), f" (GLMM with {what} as moderator)"
    return q, " (inverse-variance Q; the GLMM test is degenerate)"


def answer_dose(review, q) -> KeyMessage:  # noqa: ANN001
    """``answer = "dose"``: the meta-regression slope on the moderator ``q.by``; on a
    logit or log scale the slope is reported as an odds ratio or ratio per unit."""
    analyses, _ = _by_id(review)
    a = analyses.get(q.draws_on[0])
    if a is None or a.main is None:
        text = _cannot_answer(a) if a is not None else "Not available."
        return KeyMessage(q.id, q.question, text, False, draws_on=q.draws_on)
    r = (getattr(a, "regressions", None) or {}).get(q.by)
    if r is None or isinstance(r, str):
        why = f" ({r})" if isinstance(r, str) and r else ""
        text = f"A dose–response analysis is not available for {_lower_first(a.spec.title)}{why}."
        return KeyMessage(q.id, q.question, text, False, a.k, _patients(a), None, q.draws_on)
    d = r.to_dict()
    coef = next((c for c in d.get("coefficients", []) if c.get("term") == q.by), None)
    if coef is None:
        text = f"A dose–response analysis is not available for {_lower_first(a.spec.title)}."
        return KeyMessage(q.id, q.question, text, False, a.k, _patients(a), None, q.draws_on)
    pct = int(round(100 * review.protocol.level))
    unit = "per tenfold higher dose" if q.by == "log_dose" else f"per unit of {q.by}"
    b, lo, hi = coef["estimate"], coef["ci_lb"], coef["ci_ub"]
    scale = measure_scale(a.spec.measure)
    if a.spec.measure == "PLO" or scale.transform == "exp":
        name = "odds ratio" if a.spec.measure == "PLO" else scale.label.lower()
        slope = f"{name} {math.exp(b):.2f} {unit} ({pct}% CI {math.exp(lo):.2f}–{math.exp(hi):.2f})"
    else:
        slope = f"{b:.2f} {unit} on the {scale.analysis_label.lower()} scale ({pct}% CI " \
                f"{lo:.2f} to {hi:.2f})"  # fmt: skip
    k = int(d.get("k") or 0)
    rows = a.main.rows
    known = rows[np.isfinite(rows[q.by].to_numpy(float))] if q.by in rows else None
    n = _row_patients(known)
    who = "" if n is None else f", {n} patients"
    text = (
        f"{a.spec.title}, meta-regression on dose: {slope}, {_fmt_p(coef.get('pval'))} "
        f"({_studies(k)} with a known dose{who})."
    )
    if k < 10:
        # a meta-regression needs about ten studies per moderator (Cochrane Handbook 10.11.4)
        text += f" With {_studies(k)} this cannot show whether dose matters."
    return KeyMessage(q.id, q.question, text, k >= 10, k, n, None, q.draws_on)


def answer_route_safety(review, q) -> KeyMessage:  # noqa: ANN001
    """``answer = "route_safety"``: adverse events by route of administration, one sentence
    per analysis drawn on — from the review's comparison by route (``safety_by_route``:
    per route group the proportion with its interval, and the GLMM test of route as a
    moderator) where the results have one, else from the analysis' subgroups by route."""
    by_route = {
        getattr(s, "analysis_id", None): s for s in (getattr(review, "safety_by_route", None) or ())
    }
    sentences, first = [], None
    for d in q.draws_on:
        s = by_route.get(d)
        if s is not None and getattr(s, "groups", None) is not None:
            sentences.append(_route_sentence(review, d, s))
            groups = s.groups
            first = first or KeyMessage(
                q.id, q.question, "", True, int(groups["k"].sum()),
                int(groups["patients"].sum()), None, q.draws_on,
            )  # fmt: skip
        else:
            m = answer_subgroups(review, _asked_of(q, d, "route"))
            sentences.append(m.message)
            first = first or m
    return replace(first, message=" ".join(sentences), draws_on=q.draws_on)


def _asked_of(q, analysis_id: str, by: str):  # noqa: ANN001, ANN201
    """``q`` asked of one analysis and one subgroup variable."""
    return replace(q, draws_on=(analysis_id,), by=by)


def _route_sentence(review, analysis_id: str, s) -> str:  # noqa: ANN001
    analyses, _ = _by_id(review)
    a = analyses.get(analysis_id)
    title = a.spec.title if a is not None else analysis_id
    pct = int(round(100 * (getattr(s, "level", None) or review.protocol.level)))
    parts, small = [], []
    for g in s.groups.to_dict(orient="records"):
        k = int(g.get("k") or 0)
        if k == 0 or g.get("proportion") is None:
            continue
        name = str(g["route_group"])
        parts.append(
            f"{name} {100 * g['proportion']:.1f}% ({pct}% CI {100 * g['ci_lb']:.1f}–"
            f"{100 * g['ci_ub']:.1f}%; {_studies(k)}, {int(g['events'])} of "
            f"{int(g['patients'])} patients)"
        )
        if k <= SMALL_GROUP:
            small.append(name)
    if not parts:
        return f"{title} by route: not available (no study with a known route)."
    text = f"{title} by route: " + "; ".join(parts) + "."
    test = getattr(s, "test", None) or {}
    if test.get("pval") is not None:
        text += f" Route as a moderator (GLMM, Wald test): {_fmt_p(test['pval'])}."
    elif getattr(s, "note", ""):
        text += f" {s.note[:1].upper()}{s.note[1:]}."
    if small and len(small) == len(parts):
        text += " Every route group rests on one or two studies: too few to compare routes."
    elif small:
        text += f" {_small_groups(small)}, too few to compare."
    return text


BUILDERS: dict[str, Callable[[Any, Any], KeyMessage]] = {
    "effect": answer_effect,
    "natural_history": answer_natural_history,
    "subgroups": answer_subgroups,
    "dose": answer_dose,
    "route_safety": answer_route_safety,
}


def key_messages(review) -> tuple[KeyMessage, ...]:  # noqa: ANN001
    """One :class:`KeyMessage` per question of the protocol, in the protocol's order."""
    return tuple(BUILDERS[q.answer](review, q) for q in getattr(review.protocol, "questions", ()))
