"""The review: a protocol run over the evidence base, computed into typed, frozen results.

``run_review(evidence, protocol)`` computes every analysis of the protocol
(:mod:`sci_evidence.review.analyses`), the structured syntheses, the safety listing, the
study characteristics, the PRISMA counts, the GRADE table and the comparison with the
published meta-analyses, and returns a :class:`~sci_evidence.review.results.ReviewResult`.
Nothing is written or drawn here: :func:`sci_evidence.report.writer.write_review` writes the
report, and a caller that wants figures drawn while the rest computes passes a callback as
``on_analysis`` (``sci-evidence review`` passes the figure renderer's).
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from sci_evidence import __version__
from sci_evidence.evidence.appraisal import PRISMA_STAGES
from sci_evidence.meta.transforms import measure_scale
from sci_evidence.review.analyses import run_analysis
from sci_evidence.review.anchor import anchor_statement
from sci_evidence.review.messages import key_messages
from sci_evidence.review.protocol import Protocol
from sci_evidence.review.results import (
    AnalysisResult,
    PrismaCounts,
    ReviewResult,
    RunRecord,
    back,
)
from sci_evidence.review.safety import event_counts, routes_of
from sci_evidence.review.select import EvidenceIndex, study_exclusions
from sci_evidence.review.swim_tables import direction_rows
from sci_evidence.review.synthesis import vote_count

__all__ = [
    "ReviewResult",
    "RunRecord",
    "check_protocol_against_evidence",
    "overall_rob",
    "plain_strings",
    "run_review",
]

Progress = Callable[[str, int, int], None]


def plain_strings(evidence):  # noqa: ANN001, ANN201 - EvidenceSet in and out
    """The evidence set with Arrow-backed text columns as plain Python objects.

    The review filters and indexes small frames many times; on pandas' Arrow strings each
    of those takes costs more than the whole arithmetic, so one conversion up front halves
    the computing time. Values (and ``data_hash``) are unchanged.
    """
    from dataclasses import fields, replace

    changed = {}
    for f in fields(evidence):
        df = getattr(evidence, f.name)
        if not isinstance(df, pd.DataFrame):
            continue
        cols = [
            c
            for c in df.columns
            if pd.api.types.is_string_dtype(df[c].dtype) and df[c].dtype != object
        ]
        if cols:
            df = df.copy()
            for c in cols:
                df[c] = df[c].astype(object)
            changed[f.name] = df
    return replace(evidence, **changed) if changed else evidence


#: Outcome vocabulary of the evidence base (docs/evidence_schema.md); a protocol may name
#: these even when no study reports them (the analysis is then "not pooled").
OUTCOME_VOCABULARY = frozenset(
    """ais_improved ais_transition motor_total uems lems lt_total pp_total sensory_total asia_total
    motor_any_improvement motor_any_improvement_upper_limb motor_any_improvement_lower_limb
    sensory_any_improvement sensory_and_motor_any_improvement sensory_deterioration
    composite_improved sustained_improvement ssep_changed ssep_improved
    emg_infralesional_reinnervation urodynamics_improved urodynamics_bladder_compliance_improved
    bladder_capacity detrusor_pressure residual_urine mri_change mri_new_signal_or_ectopic_tissue
    mri_lesion_size scim3_total scim3_selfcare barthel fim ianr_scifrs walk_10m_time
    neuropathic_pain_improved neuropathic_pain_disappeared neuropathic_pain_decreased
    sexual_improved spasms_improved spasticity_decreased vac_improved attrition""".split()
)


def check_protocol_against_evidence(evidence, protocol: Protocol) -> None:
    """Raise :class:`InputError` when the protocol names an outcome or a published review
    that neither the evidence base nor its vocabulary knows (a typo would otherwise turn
    into a silent "no data")."""
    from sci_evidence.errors import InputError

    known = set(OUTCOME_VOCABULARY) | set(evidence.outcomes["outcome"])
    known |= {"ae_any", "ae_serious"} | {f"ae_{t}" for t in evidence.adverse_events["ae_type"]}
    for i, a in enumerate(protocol.analyses, 1):
        if a.outcome not in known:
            raise InputError(
                f"key 'analyses[{i}].outcome': not an outcome of the evidence base "
                "(see docs/evidence_schema.md; adverse events are ae_<type>)",
                file=protocol.source,
                value=a.outcome,
            )
    for i, syn in enumerate(protocol.syntheses, 1):
        for o in syn.outcomes:
            if o not in known:
                raise InputError(
                    f"key 'syntheses[{i}].outcomes': not an outcome of the evidence base",
                    file=protocol.source,
                    value=o,
                )
    reviews = set(evidence.published_pooled["review"])
    for i, c in enumerate(protocol.comparisons, 1):
        if c.published not in reviews:
            raise InputError(
                f"key 'comparisons[{i}].published': no such review in the evidence base's "
                f"published_pooled (known: {', '.join(sorted(reviews))})",
                file=protocol.source,
                value=c.published,
            )


def overall_rob(rob: pd.DataFrame) -> dict[str, str]:
    """study_id → overall judgement (``domain == "overall"``)."""
    if rob is None or rob.empty:
        return {}
    o = rob[rob["domain"] == "overall"]
    return dict(zip(o["study_id"], o["judgement"].astype(str).str.lower(), strict=True))


def run_review(
    evidence,
    protocol: Protocol,
    *,
    on_analysis: Callable[[AnalysisResult], None] | None = None,
    progress: Progress | None = None,
) -> ReviewResult:
    """Run the protocol over the evidence base.

    Parameters
    ----------
    evidence : EvidenceSet
        From :func:`sci_evidence.evidence.load_evidence`.
    protocol : Protocol
        From :func:`sci_evidence.review.protocol.load_protocol`.
    on_analysis : callable, optional
        ``on_analysis(analysis_result)`` is called as soon as each analysis is computed
        (e.g. to draw its figures while the next ones compute).
    progress : callable, optional
        ``progress(step_name, done, total)`` is called as the run proceeds.

    Returns
    -------
    ReviewResult
        Frozen; ``record.seconds`` is the computing time.
    """
    t0 = time.perf_counter()
    check_protocol_against_evidence(evidence, protocol)
    evidence = plain_strings(evidence)
    # Nothing random runs in the default review; any random step takes a Generator seeded
    # from protocol.seed, and the seeds are recorded in the run record.
    n_steps = len(protocol.analyses) + len(protocol.syntheses) + 1
    step = 0

    def tick(name: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(name, step, n_steps)

    rob = overall_rob(evidence.risk_of_bias)
    index = EvidenceIndex.of(evidence)
    labels = index.labels
    analyses = []
    for spec in protocol.analyses:
        a = run_analysis(evidence, spec, protocol, rob=rob, index=index)
        analyses.append(a)
        if on_analysis is not None:
            on_analysis(a)
        tick(f"analysis {spec.id}")
    syntheses = []
    excluded = study_exclusions(evidence.studies, protocol.inclusion)
    excl_ids = set(excluded["study_id"])
    for syn in protocol.syntheses:
        table = direction_rows(evidence.outcomes, evidence.arms, syn.outcomes, labels)
        table = table[~table["study_id"].isin(excl_ids)].reset_index(drop=True)
        syntheses.append((syn, vote_count(table, domain=syn.title, level=protocol.level)))
        tick(f"synthesis {syn.id}")
    comparisons = published_comparison(evidence.published_pooled, analyses, protocol)
    characteristics = study_characteristics(evidence, labels, excl_ids)
    safety = safety_listing(evidence, labels)
    excluded["label"] = [labels.get(s, s) for s in excluded["study_id"]]
    prisma = prisma_counts(evidence, analyses, protocol)
    tick("tables")
    record = RunRecord(
        software_version=__version__,
        data_hash=evidence.data_hash,
        data_origin=str(getattr(evidence, "origin", "")),
        protocol_source=protocol.source,
        protocol_hash=hashlib.sha256(
            json.dumps(protocol.to_dict(), sort_keys=True).encode()
        ).hexdigest(),
        seeds={"protocol": protocol.seed, "numpy_global": protocol.seed},
        started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        python=platform.python_version(),
        numpy=np.__version__,
        pandas=pd.__version__,
        scipy=__import__("scipy").__version__,
        matplotlib=__import__("matplotlib").__version__,
        seconds=round(time.perf_counter() - t0, 3),
    )
    result = ReviewResult(
        protocol=protocol,
        record=record,
        analyses=tuple(analyses),
        syntheses=tuple(syntheses),
        comparisons=comparisons,
        characteristics=characteristics,
        safety_events=safety,
        excluded=excluded,
        prisma=prisma,
        risk_of_bias=evidence.risk_of_bias,
        study_labels=labels,
        anchor=anchor_statement(evidence, labels),
        safety_by_route=routes_of(evidence, analyses, protocol),
    )
    # the key messages read the finished results (review/messages.py)
    return replace(result, key_messages=key_messages(result))


def published_comparison(published: pd.DataFrame, analyses, protocol: Protocol) -> pd.DataFrame:
    """Our pooled numbers beside the published ones, with the stated reason they may differ."""
    by_id = {a.spec.id: a for a in analyses}
    rows = []
    for c in protocol.comparisons:
        a = by_id[c.analysis]
        pub = published[published["review"] == c.published]
        same = pub[pub["outcome"] == a.spec.outcome]
        pub = same if len(same) else pub
        ours = ours_lo = ours_hi = None
        if a.main is not None:
            r = a.main.result
            ours, ours_lo, ours_hi = (
                float(v) for v in back(a.spec.measure, [r.estimate, r.ci_lb, r.ci_ub], a.main.rows)
            )
        if pub.empty:
            rows.append(
                {
                    "analysis_id": a.spec.id,
                    "published": c.published,
                    "note": c.note,
                    "ours": ours,
                    "ours_ci_lb": ours_lo,
                    "ours_ci_ub": ours_hi,
                    "k_ours": a.k,
                    "theirs": None,
                    "theirs_ci_lb": None,
                    "theirs_ci_ub": None,
                    "k_theirs": None,
                    "measure_theirs": "",
                    "citation": "not in the evidence base",
                    "difference": None,
                    "explanation": "no published value",
                }
            )
            continue
        for _, p in pub.iterrows():
            theirs = p["estimate"] if pd.notna(p["estimate"]) else None
            diff = ours - theirs if (ours is not None and theirs is not None) else None
            rows.append(
                {
                    "analysis_id": a.spec.id,
                    "published": c.published,
                    "note": c.note,
                    "ours": ours,
                    "ours_ci_lb": ours_lo,
                    "ours_ci_ub": ours_hi,
                    "k_ours": a.k,
                    "theirs": theirs,
                    "theirs_ci_lb": p["ci_lb"] if pd.notna(p["ci_lb"]) else None,
                    "theirs_ci_ub": p["ci_ub"] if pd.notna(p["ci_ub"]) else None,
                    "k_theirs": int(p["k_studies"]) if pd.notna(p["k_studies"]) else None,
                    "measure_theirs": p["measure"],
                    "citation": p["citation"],
                    "difference": diff,
                    "explanation": _explain(a, p, c.note, diff),
                }
            )
    return pd.DataFrame(rows)


def _explain(a: AnalysisResult, p: pd.Series, note: str, diff) -> str:
    parts = []
    if diff is None:
        parts.append("no comparable number")
    k_theirs = p["k_studies"] if pd.notna(p["k_studies"]) else None
    if k_theirs is not None and a.k and k_theirs != a.k:
        parts.append(f"{a.k} studies here vs {int(k_theirs)} there")
    if str(p.get("population", "")):
        parts.append(f"their population: {p['population']}")
    measure = str(p["measure"])
    # published reviews name a pooled proportion "proportion", a mean difference also "WMD"
    scale = measure_scale(a.spec.measure).scale
    ours = "proportion" if scale == "proportion" else a.spec.measure
    if measure and measure not in (ours, "WMD" if ours == "MD" else ours):
        parts.append(f"measure {measure} there vs {ours} here")
    if note:
        parts.append(note)
    return "; ".join(parts)


def study_characteristics(evidence, labels: dict, excluded: set[str]) -> pd.DataFrame:
    """Table of study characteristics: one row per study (treated arm's population)."""
    # one pass over the arms (records by study and role), not one filter per study
    by_role: dict[tuple, list[dict]] = {}
    for r in evidence.arms.to_dict(orient="records"):
        by_role.setdefault((r["study_id"], r["role"]), []).append(r)
    rows = []
    for s in evidence.studies.to_dict(orient="records"):
        sid = s["study_id"]
        t = by_role.get((sid, "treated"), [])
        c = by_role.get((sid, "control"), [])
        a = t[0] if t else {}
        rows.append(
            {
                "study_id": sid,
                "study": labels.get(sid, sid),
                "design": s["design"],
                "country": s.get("country", ""),
                "n_treated": _sum_n(t),
                "n_control": _sum_n(c),
                "cell_source": a.get("cell_source", ""),
                "auto_allo": a.get("auto_allo", ""),
                "route": a.get("route", ""),
                "dose": a.get("dose_verbatim", ""),
                "administrations": a.get("n_administrations_verbatim", ""),
                "injury_phase": a.get("injury_phase", ""),
                "level": a.get("level", ""),
                "baseline_AIS": a.get("baseline_ais_verbatim", ""),
                "follow_up": a.get("follow_up_verbatim", ""),
                "flags": s.get("flags", ""),
                "in_analyses": "no (excluded by rule)" if sid in excluded else "yes",
            }
        )
    return pd.DataFrame(rows)


def _sum_n(arms: list[dict]) -> int | None:
    """Patients over arms (missing n counted as 0); None when no arm states n."""
    known = [a["n"] for a in arms if pd.notna(a["n"])]
    return int(sum(known)) if known else None


def safety_listing(evidence, labels: dict) -> pd.DataFrame:
    """Serious (and severe) adverse events, listed per study, with ``serious_pool``: how the
    row enters the serious-event pool (:func:`sci_evidence.review.safety.event_counts`)."""
    ae = evidence.adverse_events
    m = (ae["ae_type"] == "serious") | ae["severity"].isin(["serious", "severe"])
    s = ae[m]
    role = dict(zip(evidence.arms["arm_id"], evidence.arms["role"], strict=True))
    pooled = {r["arm_id"]: r for r in event_counts(ae, "serious", role)[0]}
    out = pd.DataFrame(
        {
            "study": [labels.get(x, x) for x in s["study_id"]],
            "study_id": s["study_id"],
            "arm_id": s["arm_id"],
            "event": s["ae_verbatim"],
            "patients": s["patients"],
            "n": s["n"],
            "severity": s["severity"],
            "relation": s["relation"],
            "source": s["source_key"],
            "serious_pool": [
                _pool_role(i, a, sev, t, pooled)
                for i, a, sev, t in zip(
                    s["ae_id"], s["arm_id"], s["severity"], s["ae_type"], strict=True
                )
            ],
        }
    )
    return out.reset_index(drop=True)


def _pool_role(ae_id: str, arm_id: str, severity, ae_type, pooled: dict) -> str:
    """How one listed row enters the serious-event pool (one count per arm, never a sum)."""
    if ae_type != "serious" and severity != "serious":
        return "not counted: severe is an intensity grade, not seriousness"
    r = pooled.get(arm_id)
    if r is None:
        return "not counted: no patient count, or not a treated arm"
    if r["outcome_ids"] == ae_id:
        return f"counted: {r['xi']}/{r['ni']} ({r['count']})"
    return f"within the arm's count {r['xi']}/{r['ni']} ({r['outcome_ids']})"


def prisma_counts(evidence, analyses, protocol: Protocol) -> PrismaCounts:
    """The PRISMA 2020 flow the evidence base records about itself
    (:func:`sci_evidence.evidence.appraisal.prisma_counts`), plus the analysis stage: the
    studies each protocol rule removed and the studies in at least one meta-analysis."""
    from sci_evidence.evidence.appraisal import prisma_counts as recorded_flow

    flow = recorded_flow(evidence)
    by_rule: dict[str, int] = {}
    for reason in study_exclusions(evidence.studies, protocol.inclusion)["reason"]:
        first = reason.split(";")[0]
        by_rule[first] = by_rule.get(first, 0) + 1
    pooled = set()
    for a in analyses:
        if a.main is not None:
            pooled |= set(a.main.rows["study_id"])
    counts = [getattr(flow, s) for s in PRISMA_STAGES]
    note = "Counts recorded by the evidence base (screening records)"
    if None in counts:
        # a stage without records stays "not recorded" rather than filled in from another
        note += "; n.r. = not recorded"
    return PrismaCounts(
        identified=flow.identified,
        duplicates_removed=flow.duplicates_removed,
        screened=flow.screened,
        screened_excluded=flow.records_excluded,
        assessed=flow.assessed,
        excluded_reasons=dict(flow.excluded_reasons),
        included=flow.included,
        analysis_excluded=by_rule,
        in_meta_analysis=len(pooled),
        source_note=note + ".",
        sought=flow.sought,
        not_retrieved=flow.not_retrieved,
        excluded=flow.excluded,
        sources=dict(flow.sources),
        not_retrieved_reasons=dict(flow.not_retrieved_reasons),
    )
