"""Adverse events: the per-arm counts the safety analyses pool, and events by route.

Counting rules (stated in the report's safety section):

* **Any event** — an arm's "participants with any adverse event" row (``ae_type ==
  "any"``, patients and n known) is its count. An arm without one, or whose count is
  smaller than the patients with one single event type (an impossible "any" count),
  contributes the **largest single-type count** (patients with that one event type, of the
  same arm): a lower bound for "any", because one patient may have several types, marked
  ``derived (lower bound)``. A type count of zero bounds nothing (it says nothing about the
  other types) and rows without a patient count (events or percentages only) cannot give
  a bound: such arms are listed, with the reason, and left out.
* **Serious event** — every event graded serious in its source (``ae_type == "serious"``
  or ``severity == "serious"``; "severe" is an intensity grade, not seriousness, ICH
  E2A) counts. An arm's patients with a serious event are its explicit "serious" row if
  that row is at least the largest serious-graded single-event count, else that largest
  count, marked ``derived (lower bound)``. One patient is never counted twice: the arm
  contributes one count, never a sum over rows.

Route of administration (:func:`route_group`): the arm's ``route`` is split at ``+``; one
component ``intrathecal`` (``subarachnoid``) → *intrathecal*, ``intravenous`` →
*intravenous*, ``intralesional`` (``intramedullary``, ``intraspinal``) → *intralesional*;
two or more distinct components → *combined*; an empty route → *unknown*; any other single
route (e.g. intra-arterial alone) → *other*. Unknown and other routes stay out of the
route comparison (listed).

:func:`safety_by_route` compares the proportion of treated patients with an adverse event
between routes with the binomial-normal GLMM (``rma.glmm(measure="PLO", mods=~route)``,
the Wald test ``QM`` of the route coefficients) and gives each route's pooled proportion.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sci_evidence import meta

__all__ = [
    "DERIVED",
    "REPORTED",
    "ROUTE_GROUPS",
    "SafetyByRoute",
    "event_counts",
    "route_group",
    "routes_of",
    "safety_by_route",
]

#: The mark of a count that is a lower bound derived from single event types.
DERIVED = "derived (lower bound)"
#: The mark of a count as the source reports it.
REPORTED = "reported"
#: The route groups compared, in the order they are shown (R's factor order: alphabetical).
ROUTE_GROUPS = ("combined", "intralesional", "intrathecal", "intravenous")

_ROUTE_WORDS = {
    "intrathecal": "intrathecal",
    "subarachnoid": "intrathecal",
    "intravenous": "intravenous",
    "intralesional": "intralesional",
    "intramedullary": "intralesional",
    "intraspinal": "intralesional",
}


def route_group(route) -> str:
    """The route group of an arm's ``route`` (rule in the module docstring)."""
    if route is None or (not isinstance(route, str) and pd.isna(route)):
        return "unknown"
    parts = {p.strip().lower() for p in str(route).split("+") if p.strip()}
    if not parts:
        return "unknown"
    if len(parts) > 1:
        return "combined"
    return _ROUTE_WORDS.get(parts.pop(), "other")


def _known(v) -> bool:
    return v is not None and not pd.isna(v)


def _count_row(r: dict, count: str) -> dict:
    return {
        "study_id": r["study_id"],
        "arm_id": r["arm_id"],
        "xi": int(r["patients"]),
        "ni": int(r["n"]),
        "timepoint": r.get("timepoint", ""),
        "outcome_ids": r["ae_id"],
        "count": count,
        "count_basis": str(r["ae_type"]),
    }


def event_counts(ae: pd.DataFrame, ae_type: str, role: dict) -> tuple[list[dict], list[dict]]:
    """Per treated arm, the patients with an event of ``ae_type`` (rules in the module
    docstring), and the arms whose rows give no count.

    Returns ``(rows, unusable)``: ``rows`` one dict per arm (``study_id, arm_id, xi, ni,
    timepoint, outcome_ids, count, count_basis``; ``count`` is :data:`REPORTED` or
    :data:`DERIVED`, ``count_basis`` the ``ae_type`` of the row used); ``unusable`` one dict
    per arm with relevant rows but no count (``study_id, arm_id, ae_ids, reason``). For
    types other than ``any`` and ``serious`` only the explicit rows count.
    """
    explicit: dict[str, list[tuple[int, dict]]] = {}
    single: dict[str, list[tuple[int, dict]]] = {}
    for i, r in enumerate(ae.to_dict(orient="records")):
        if role.get(r["arm_id"]) != "treated":
            continue
        if r["ae_type"] == ae_type:
            explicit.setdefault(r["arm_id"], []).append((i, r))
        elif (ae_type == "any") or (ae_type == "serious" and r.get("severity") == "serious"):
            single.setdefault(r["arm_id"], []).append((i, r))
    rows, unusable = [], []
    for arm_id in dict.fromkeys([*explicit, *single]):
        exp = [
            x for x in explicit.get(arm_id, []) if _known(x[1]["patients"]) and _known(x[1]["n"])
        ]
        sgl = [x for x in single.get(arm_id, []) if _known(x[1]["patients"]) and _known(x[1]["n"])]
        # the explicit row with the largest n (the later one among equals)
        e = max(exp, key=lambda x: (x[1]["n"], x[0]))[1] if exp else None
        # the largest single-type count (then the larger n, then the later row)
        s = max(sgl, key=lambda x: (x[1]["patients"], x[1]["n"], x[0]))[1] if sgl else None
        if s is not None and int(s["patients"]) == 0:
            s = None  # a zero count of one type bounds nothing
        if e is not None and (s is None or int(e["patients"]) >= int(s["patients"])):
            rows.append(_count_row(e, REPORTED))
        elif s is not None:
            rows.append(_count_row(s, DERIVED))
        elif ae_type in ("any", "serious"):
            every = explicit.get(arm_id, []) + single.get(arm_id, [])
            unusable.append(
                {
                    "study_id": every[0][1]["study_id"],
                    "arm_id": arm_id,
                    "ae_ids": ";".join(x[1]["ae_id"] for x in every),
                    "reason": _why_no_count(every, ae_type),
                }
            )
    return rows, unusable


def _why_no_count(items: list[tuple[int, dict]], ae_type: str) -> str:
    recs = [r for _, r in items]
    if any(not _known(r["n"]) for r in recs) and all(
        not _known(r["n"]) or not _known(r["patients"]) for r in recs
    ):
        return "number of patients at risk (n) not reported"
    if all(not _known(r["patients"]) for r in recs):
        return "patients with the event not reported (event counts or percentages only)"
    what = "event types" if ae_type == "any" else "serious-graded events"
    return f"only zero counts of single {what}: a zero count of one type bounds nothing"


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SafetyByRoute:
    """Adverse events by route of administration (:func:`safety_by_route`).

    Attributes
    ----------
    analysis_id : str
        The protocol analysis whose study rows are compared (e.g. ``ae_any_prop``).
    rows : DataFrame
        ``study_id, label, arm_id, route, route_group, xi, ni, count``: every row of that
        analysis with its route group.
    groups : DataFrame
        Per route group (:data:`ROUTE_GROUPS`): ``route_group, k, patients, events,
        proportion, ci_lb, ci_ub, tau2, method`` — proportions (0–1) with their
        ``level`` confidence interval; ``method`` says how they were obtained.
    moderator : meta GlmmResult or None
        The GLMM with route as moderator (None when not run; ``note`` says why).
    test : dict
        The moderator test: ``QM`` (Wald χ²), ``df``, ``pval``, ``k`` and ``groups`` used.
    left_out : DataFrame
        Rows not in the comparison (``label, route, reason``).
    unusable : DataFrame
        Arms whose adverse-event rows give no count (``study_id, arm_id, ae_ids, reason``).
    """

    analysis_id: str
    level: float
    rows: pd.DataFrame
    groups: pd.DataFrame
    moderator: object | None
    test: dict = field(default_factory=dict)
    left_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    unusable: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per route group (the ``tables/safety_by_route.csv`` table)."""
        g = self.groups.copy()
        g.insert(0, "analysis_id", self.analysis_id)
        for key in ("QM", "df", "pval"):
            g[f"route_test_{key}"] = self.test.get(key)
        g["route_test_df"] = g["route_test_df"].astype("Int64")  # a count: "1", not "1.0"
        return g

    def to_dict(self) -> dict:
        """The ``safety_by_route`` entry of ``results.json`` (JSON-safe: NaN → None)."""
        return _json(
            {
                "analysis_id": self.analysis_id,
                "level": self.level,
                "route_rule": (
                    "route split at '+': intrathecal/subarachnoid → intrathecal; intravenous → "
                    "intravenous; intralesional/intramedullary/intraspinal → intralesional; "
                    "two or more routes → combined; empty → unknown; other single routes → "
                    "other (unknown and other left out)"
                ),
                "groups": self.groups,
                "test": self.test,
                "moderator_model": None if self.moderator is None else self.moderator.to_dict(),
                "studies": self.rows,
                "left_out": self.left_out,
                "unusable_counts": self.unusable,
                "note": self.note,
                "warnings": list(self.warnings),
            }
        )

    def summary(self) -> str:
        pct = int(round(self.level * 100))
        lines = [f"Adverse events by route ({self.analysis_id})"]
        for g in self.groups.to_dict(orient="records"):
            if g["k"] == 0:
                lines.append(f"  {g['route_group']}: no study")
                continue
            lines.append(
                f"  {g['route_group']}: {100 * g['proportion']:.1f}% ({pct}% CI "
                f"{100 * g['ci_lb']:.1f}–{100 * g['ci_ub']:.1f}%), k = {g['k']}, "
                f"{g['events']}/{g['patients']} patients; {g['method']}"
            )
        if self.test.get("QM") is not None:
            lines.append(
                f"  route moderator (GLMM, Wald): QM = {self.test['QM']:.2f}, "
                f"df = {self.test['df']}, p = {self.test['pval']:.3g}"
            )
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


def _json(v):
    """Frames as records, numpy scalars as Python numbers, NaN/inf as None."""
    if isinstance(v, pd.DataFrame):
        return json.loads(v.to_json(orient="records", force_ascii=False))
    if isinstance(v, dict):
        return {str(k): _json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


_CP = "one study: its proportion with the exact Clopper–Pearson interval"
_ZERO = (
    "no patient had an event: the GLMM has no finite estimate; summed counts with the exact "
    "Clopper–Pearson interval"
)
_GLMM = "binomial-normal GLMM (ML), logit back-transformed"


def _group_row(g: str, r: pd.DataFrame, level: float, sink: list[str]) -> dict:
    k, n, x = len(r), int(r["ni"].sum()) if len(r) else 0, int(r["xi"].sum()) if len(r) else 0
    out = {"route_group": g, "k": k, "patients": n, "events": x, "tau2": None}
    if k == 0:
        return out | {"proportion": None, "ci_lb": None, "ci_ub": None, "method": "no study"}
    if k == 1 or x == 0:
        lo, hi = meta.proportion_ci(x, n, level=level)
        return out | {
            "proportion": x / n,
            "ci_lb": lo,
            "ci_ub": hi,
            "method": _CP if k == 1 else _ZERO,
        }
    with _recorded(f"route {g}", sink):
        res = meta.pool_glmm(
            xi=r["xi"].to_numpy(int), ni=r["ni"].to_numpy(int), measure="PLO", level=level
        )
    b = res.back
    return out | {
        "proportion": b["pred"],
        "ci_lb": b["ci_lb"],
        "ci_ub": b["ci_ub"],
        "tau2": res.tau2,
        "method": _GLMM,
    }


def route_design(groups: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Treatment-coded dummies of ``groups`` as R's ``model.matrix(~route)``: the first
    level in alphabetical order is the reference; columns ``route<level>``."""
    levels = sorted(set(groups))
    names = tuple(f"route{lv}" for lv in levels[1:])
    X = np.array([[1.0 if g == lv else 0.0 for lv in levels[1:]] for g in groups])
    return X.reshape(len(groups), len(names)), names


def safety_by_route(evidence, analysis, level: float = 0.95) -> SafetyByRoute | None:
    """Adverse events by route for one pooled proportion analysis (``analysis``: an
    :class:`~sci_evidence.review.results.AnalysisResult` of an ``ae_*`` outcome; None when
    it has no rows).

    Per route group: the binomial-normal GLMM (``rma.glmm(measure="PLO")``, ML, 7-node
    adaptive quadrature) where ≥ 2 studies have at least one event among them, else the
    single study's (or the summed) proportion with the exact Clopper–Pearson interval.
    Between routes: the GLMM with route as a treatment-coded moderator (reference: the
    first group alphabetically), logit(p_i) = β0 + Σ β_g·[route_i = g] + u_i,
    u_i ~ N(0, τ²); the Wald test ``QM = β' V⁻¹ β`` of the route coefficients on
    (groups − 1) df. Route groups in which no patient had an event are left out of the
    moderator model (their log odds have no finite maximum-likelihood estimate, and a Wald
    test with an infinite coefficient means nothing); the test needs two groups left.
    Reference: metafor 3.8-1 ``rma.glmm`` (Viechtbauer 2010, J Stat Softw 36(3)).
    """
    sel = analysis.selection.rows if analysis is not None else None
    if sel is None or sel.empty:
        return None
    arms = evidence.arms.set_index("arm_id")["route"].to_dict()
    rows = pd.DataFrame(
        {
            "study_id": sel["study_id"],
            "label": sel["label"],
            "arm_id": sel["arm_id"],
            "route": [str(arms.get(a, "") or "") for a in sel["arm_id"]],
            "xi": sel["xi"].astype(int),
            "ni": sel["ni"].astype(int),
            "count": sel["count"] if "count" in sel.columns else REPORTED,
        }
    )
    rows.insert(4, "route_group", [route_group(r) for r in rows["route"]])
    rows = rows.reset_index(drop=True)
    inside = rows["route_group"].isin(ROUTE_GROUPS)
    left = rows[~inside]
    left_out = pd.DataFrame(
        {
            "label": left["label"],
            "route": left["route"],
            "reason": [
                "route not reported" if g == "unknown" else f"route {r!r} is none of the groups"
                for g, r in zip(left["route_group"], left["route"], strict=True)
            ],
        }
    ).reset_index(drop=True)
    used = rows[inside].reset_index(drop=True)
    sink: list[str] = []
    role = dict(zip(evidence.arms["arm_id"], evidence.arms["role"], strict=True))
    unusable = event_counts(evidence.adverse_events, analysis.spec.outcome[3:], role)[1]
    groups = pd.DataFrame(
        [_group_row(g, used[used["route_group"] == g], level, sink) for g in ROUTE_GROUPS]
    )
    fit_groups = [g for g in ROUTE_GROUPS if ((used["route_group"] == g) & (used["xi"] > 0)).any()]
    zero = [g for g in ROUTE_GROUPS if (used["route_group"] == g).any() and g not in fit_groups]
    m = used[used["route_group"].isin(fit_groups)].reset_index(drop=True)
    test: dict = {"k": len(m), "groups": fit_groups, "left_out_no_events": zero}
    moderator, note = None, ""
    if len(fit_groups) < 2:
        note = (
            f"route comparison not run: {len(fit_groups)} route group(s) with at least one "
            "event (needs 2)"
        )
    elif len(m) <= len(fit_groups):
        note = f"route comparison not run: {len(m)} studies for {len(fit_groups)} groups"
    else:
        X, names = route_design(list(m["route_group"]))
        with _recorded("route moderator", sink):
            moderator = meta.pool_glmm(
                xi=m["xi"].to_numpy(int),
                ni=m["ni"].to_numpy(int),
                measure="PLO",
                mods=X,
                mod_names=names,
                level=level,
                labels=list(m["label"]),
            )
        test |= {
            "QM": moderator.QM,
            "df": moderator.QM_df,
            "pval": moderator.QM_pval,
            "test": "Wald χ² of the route coefficients (GLMM, ML)",
            "reference": fit_groups[0],
        }
        if zero:
            note = f"left out of the route comparison, no patient with an event: {', '.join(zero)}"
    return SafetyByRoute(
        analysis_id=analysis.spec.id,
        level=level,
        rows=rows,
        groups=groups,
        moderator=moderator,
        test=test,
        left_out=left_out,
        unusable=pd.DataFrame(unusable, columns=["study_id", "arm_id", "ae_ids", "reason"]),
        note=note,
        warnings=tuple(dict.fromkeys(sink)),
    )


def routes_of(evidence, analyses, protocol) -> tuple[SafetyByRoute, ...]:
    """:func:`safety_by_route` of every pooled single-arm adverse-event analysis."""
    out = []
    for a in analyses:
        if a.spec.outcome.startswith("ae_") and a.spec.design == "single_arm":
            r = safety_by_route(evidence, a, protocol.level)
            if r is not None:
                out.append(r)
    return tuple(out)


class _recorded:
    """Keep the warnings of a fit as ``"step: Category: message"`` in ``sink``."""

    def __init__(self, step: str, sink: list[str]):
        self.step, self.sink = step, sink
        self.cm = warnings.catch_warnings(record=True)

    def __enter__(self):
        self.caught = self.cm.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self.cm.__exit__(*exc)
        for w in self.caught:
            self.sink.append(f"{self.step}: {w.category.__name__}: {w.message}")
        return False
