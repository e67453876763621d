"""Risk-of-bias tools for dual, blinded assessment: domains, signalling questions, the
suggested judgement of each domain, and Cohen's kappa between two assessors.

Tools (names as in the evidence base's ``risk_of_bias.tool`` vocabulary):

- ``RoB2`` — Cochrane RoB 2 for randomised trials (Sterne et al., BMJ 2019;366:l4898). The
  suggested domain judgements follow the published algorithms of the RoB 2 guidance (domain
  2: effect of assignment; questions 2.4–2.5 folded into 2.3). Overall: low when every domain
  is low, high when any is high, else some concerns.
- ``ROBINS-I`` — non-randomised studies of interventions (Sterne et al., BMJ 2016;355:i4919).
  ROBINS-I publishes no algorithm; the suggestion here is a stated heuristic: a signalling
  answer pointing to bias (Y or N, as the question runs) suggests *serious*, a probable one
  (PY/PN) *moderate*, all NI *no information*, otherwise *low*. Overall: the worst domain.
- ``case_series_checklist`` — JBI critical appraisal checklist for case series (Munn et al.,
  JBI Evidence Synthesis 2020;18:2127-33): ten items answered yes/no/unclear/not applicable;
  the answer is the item's judgement.

The assessor may always overrule a suggestion; both are stored.
"""

# ruff: noqa: E501 - the signalling questions are quoted whole

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

ANSWERS = ("Y", "PY", "PN", "N", "NI")
ANSWER_LABELS = {
    "Y": "yes",
    "PY": "probably yes",
    "PN": "probably no",
    "N": "no",
    "NI": "no information",
}
JBI_ANSWERS = ("yes", "no", "unclear", "not_applicable")


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    #: answer group that points to bias: "yes" (Y/PY risky) or "no" (N/PN risky)
    risky: str = "yes"


@dataclass(frozen=True)
class Domain:
    id: str
    title: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    domains: tuple[Domain, ...]
    judgements: tuple[str, ...]
    answers: tuple[str, ...]
    has_overall: bool


Q = Question
ROB2 = Tool(
    "RoB2",
    "RoB 2 (randomised trials)",
    (
        Domain(
            "randomisation",
            "D1 Bias arising from the randomisation process",
            (
                Q("1.1", "Was the allocation sequence random?", "no"),
                Q(
                    "1.2",
                    "Was the allocation sequence concealed until participants were enrolled and assigned to interventions?",
                    "no",
                ),
                Q(
                    "1.3",
                    "Did baseline differences between intervention groups suggest a problem with the randomisation process?",
                ),
            ),
        ),
        Domain(
            "deviations",
            "D2 Bias due to deviations from intended interventions (effect of assignment)",
            (
                Q(
                    "2.1",
                    "Were participants aware of their assigned intervention during the trial?",
                ),
                Q(
                    "2.2",
                    "Were carers and people delivering the interventions aware of participants' assigned intervention during the trial?",
                ),
                Q(
                    "2.3",
                    "Were there deviations from the intended intervention that arose because of the trial context, likely to have affected the outcome?",
                ),
                Q(
                    "2.6",
                    "Was an appropriate analysis used to estimate the effect of assignment to intervention?",
                    "no",
                ),
                Q(
                    "2.7",
                    "Was there potential for a substantial impact (on the result) of the failure to analyse participants in the group to which they were randomised?",
                ),
            ),
        ),
        Domain(
            "missing_data",
            "D3 Bias due to missing outcome data",
            (
                Q(
                    "3.1",
                    "Were data for this outcome available for all, or nearly all, participants randomised?",
                    "no",
                ),
                Q(
                    "3.2",
                    "Is there evidence that the result was not biased by missing outcome data?",
                    "no",
                ),
                Q("3.3", "Could missingness in the outcome depend on its true value?"),
                Q(
                    "3.4",
                    "Is it likely that missingness in the outcome depended on its true value?",
                ),
            ),
        ),
        Domain(
            "measurement",
            "D4 Bias in measurement of the outcome",
            (
                Q("4.1", "Was the method of measuring the outcome inappropriate?"),
                Q(
                    "4.2",
                    "Could measurement or ascertainment of the outcome have differed between intervention groups?",
                ),
                Q(
                    "4.3",
                    "Were outcome assessors aware of the intervention received by study participants?",
                ),
                Q(
                    "4.4",
                    "Could assessment of the outcome have been influenced by knowledge of intervention received?",
                ),
                Q(
                    "4.5",
                    "Is it likely that assessment of the outcome was influenced by knowledge of intervention received?",
                ),
            ),
        ),
        Domain(
            "reporting",
            "D5 Bias in selection of the reported result",
            (
                Q(
                    "5.1",
                    "Were the data analysed in accordance with a pre-specified analysis plan finalised before unblinded outcome data were available?",
                    "no",
                ),
                Q(
                    "5.2",
                    "Is the result likely to have been selected from multiple eligible outcome measurements?",
                ),
                Q(
                    "5.3",
                    "Is the result likely to have been selected from multiple eligible analyses of the data?",
                ),
            ),
        ),
    ),
    ("low", "some_concerns", "high"),
    ANSWERS,
    True,
)

ROBINS_I = Tool(
    "ROBINS-I",
    "ROBINS-I (non-randomised studies of interventions)",
    (
        Domain(
            "confounding",
            "Bias due to confounding",
            (
                Q(
                    "1.1",
                    "Is there potential for confounding of the effect of intervention in this study?",
                ),
                Q(
                    "1.4",
                    "Did the authors use an appropriate analysis method that controlled for all the important confounding domains?",
                    "no",
                ),
            ),
        ),
        Domain(
            "selection",
            "Bias in selection of participants into the study",
            (
                Q(
                    "2.1",
                    "Was selection of participants into the study based on characteristics observed after the start of intervention?",
                ),
                Q(
                    "2.4",
                    "Do start of follow-up and start of intervention coincide for most participants?",
                    "no",
                ),
            ),
        ),
        Domain(
            "classification",
            "Bias in classification of interventions",
            (
                Q("3.1", "Were intervention groups clearly defined?", "no"),
                Q(
                    "3.3",
                    "Could classification of intervention status have been affected by knowledge of the outcome?",
                ),
            ),
        ),
        Domain(
            "deviations",
            "Bias due to deviations from intended interventions",
            (
                Q(
                    "4.1",
                    "Were there deviations from the intended intervention beyond what would be expected in usual practice?",
                ),
            ),
        ),
        Domain(
            "missing_data",
            "Bias due to missing data",
            (
                Q("5.1", "Were outcome data available for all, or nearly all, participants?", "no"),
                Q(
                    "5.5",
                    "Is there evidence that results were robust to the presence of missing data?",
                    "no",
                ),
            ),
        ),
        Domain(
            "measurement",
            "Bias in measurement of outcomes",
            (
                Q(
                    "6.1",
                    "Could the outcome measure have been influenced by knowledge of the intervention received?",
                ),
                Q(
                    "6.2",
                    "Were outcome assessors aware of the intervention received by study participants?",
                ),
            ),
        ),
        Domain(
            "reporting",
            "Bias in selection of the reported result",
            (
                Q(
                    "7.1",
                    "Is the reported effect estimate likely to be selected, on the basis of the results, from multiple outcome measurements or analyses?",
                ),
            ),
        ),
    ),
    ("low", "moderate", "serious", "critical", "no_information"),
    ANSWERS,
    True,
)

_JBI_ITEMS = (
    "Were there clear criteria for inclusion in the case series?",
    "Was the condition measured in a standard, reliable way for all participants included?",
    "Were valid methods used for identification of the condition for all participants?",
    "Did the case series have consecutive inclusion of participants?",
    "Did the case series have complete inclusion of participants?",
    "Was there clear reporting of the demographics of the participants in the study?",
    "Was there clear reporting of clinical information of the participants?",
    "Were the outcomes or follow up results of cases clearly reported?",
    "Was there clear reporting of the presenting site(s)/clinic(s) demographic information?",
    "Was statistical analysis appropriate?",
)
JBI = Tool(
    "case_series_checklist",
    "JBI checklist for case series",
    tuple(
        Domain(f"Q{i}", f"Q{i} {text}", (Q(f"Q{i}", text, "no"),))
        for i, text in enumerate(_JBI_ITEMS, 1)
    ),
    JBI_ANSWERS,
    JBI_ANSWERS,
    False,
)

TOOLS = {t.name: t for t in (ROB2, ROBINS_I, JBI)}

_TOOL_OF_DESIGN = {
    "rct": "RoB2",
    "non_randomised_controlled": "ROBINS-I",
    "controlled_unclear": "ROBINS-I",
}


def tool_for_design(design: str) -> Tool:
    """RoB 2 for randomised trials, ROBINS-I for other controlled studies, the JBI case-series
    checklist for single-arm trials, case series, case reports and unknown designs."""
    return TOOLS[_TOOL_OF_DESIGN.get(design, "case_series_checklist")]


# ------------------------------------------------------------------ suggested judgements
def _yes(a: str | None) -> bool:
    return a in ("Y", "PY")


def _no(a: str | None) -> bool:
    return a in ("N", "PN")


def _rob2_domain(domain: str, a: dict[str, str]) -> str:
    g = a.get
    if domain == "randomisation":
        if _no(g("1.2")):
            return "high"
        if _yes(g("1.2")):
            if _yes(g("1.3")):
                return "some_concerns"
            return "some_concerns" if _no(g("1.1")) else "low"
        return "high" if _yes(g("1.3")) else "some_concerns"  # 1.2 NI
    if domain == "deviations":
        if _no(g("2.1")) and _no(g("2.2")):
            part1 = "low"
        elif _no(g("2.3")):
            part1 = "low"
        elif _yes(g("2.3")):
            part1 = "high"
        else:
            part1 = "some_concerns"
        if _yes(g("2.6")):
            part2 = "low"
        elif _no(g("2.7")):
            part2 = "some_concerns"
        else:
            part2 = "high"
        return worst([part1, part2], ROB2.judgements)
    if domain == "missing_data":
        if _yes(g("3.1")) or _yes(g("3.2")) or _no(g("3.3")):
            return "low"
        return "some_concerns" if _no(g("3.4")) else "high"
    if domain == "measurement":
        if _yes(g("4.1")) or _yes(g("4.2")):
            return "high"
        unsure = not (_no(g("4.1")) and _no(g("4.2")))
        if _no(g("4.3")) or _no(g("4.4")):
            return "some_concerns" if unsure else "low"
        if _no(g("4.5")):
            return "some_concerns"
        return "high"
    if domain == "reporting":
        if _yes(g("5.2")) or _yes(g("5.3")):
            return "high"
        if _no(g("5.2")) and _no(g("5.3")) and _yes(g("5.1")):
            return "low"
        return "some_concerns"
    raise KeyError(domain)


def _heuristic_domain(questions: Sequence[Question], a: dict[str, str]) -> str:
    answers = [a.get(q.id) for q in questions]
    if all(x in (None, "", "NI") for x in answers):
        return "no_information"
    level = "low"
    for q, x in zip(questions, answers, strict=True):
        strong, probable = ("Y", "PY") if q.risky == "yes" else ("N", "PN")
        if x == strong:
            return "serious"
        if x == probable:
            level = "moderate"
    return level


def suggest(tool: Tool, domain: Domain, answers: dict[str, str]) -> str:
    """The algorithm's judgement of ``domain`` from its signalling answers ("" when the
    answers needed are missing)."""
    if tool.name == "case_series_checklist":
        return answers.get(domain.questions[0].id, "") or ""
    needed = [q.id for q in domain.questions]
    if not any(answers.get(q) for q in needed):
        return ""
    if tool.name == "RoB2":
        return _rob2_domain(domain.id, answers)
    return _heuristic_domain(domain.questions, answers)


def worst(judgements: Sequence[str], order: Sequence[str]) -> str:
    """The worst of ``judgements`` in ``order`` (best first); "no_information" ranks below
    "critical" only when nothing else is known."""
    known = [j for j in judgements if j and j != "no_information"]
    if not known:
        return "no_information" if "no_information" in judgements else ""
    return max(known, key=order.index)


def suggest_overall(tool: Tool, domain_judgements: Sequence[str]) -> str:
    """Overall judgement: the worst domain (RoB 2: low / some concerns / high)."""
    if not tool.has_overall or not domain_judgements or any(not j for j in domain_judgements):
        return ""
    return worst(domain_judgements, tool.judgements)


# ------------------------------------------------------------------ agreement
@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa between two raters over ``n`` paired ratings."""

    kappa: float | None  # None when undefined (chance agreement 1)
    observed: float  # p_o, proportion of agreement
    expected: float  # p_e, agreement expected by chance
    n: int


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> Kappa:
    """Cohen's unweighted kappa of two raters' categorical ratings of the same items.

    κ = (p_o − p_e) / (1 − p_e), with p_o the proportion of items rated alike and
    p_e = Σ_c p_a(c)·p_b(c) from each rater's marginal proportions (Cohen 1960, Educ Psychol
    Meas 20:37-46). Undefined (None) when p_e = 1 (both raters used one and the same
    category throughout) or when there are no items.
    """
    if len(a) != len(b):
        raise ValueError("the two raters must rate the same items")
    n = len(a)
    if n == 0:
        return Kappa(None, math.nan, math.nan, 0)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb[c] for c in ca.keys() | cb.keys()) / (n * n)
    if pe >= 1.0:
        return Kappa(None, po, pe, n)
    return Kappa((po - pe) / (1.0 - pe), po, pe, n)
