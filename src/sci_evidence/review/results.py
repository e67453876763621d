"""The typed, frozen results of a review: what :func:`~sci_evidence.review.pipeline.run_review`
returns and :mod:`sci_evidence.report` writes.

Each result has ``to_dict()``; :meth:`ReviewResult.to_dict` assembles them into the one
serialisation of the review (the ``results.json`` document), which the report's tables and
HTML page read too. Everything here is data: no file is written and nothing is drawn.

``results.json`` also holds ``studies`` (every study of the evidence base: ``study_id``,
``label``), ``key_messages`` (one per question of the protocol, :mod:`~sci_evidence.review.
messages`) and ``changes`` (what changed since an earlier run, :mod:`~sci_evidence.review.
compare`; null without ``sci-evidence review --compare``).

``results.json`` layout: ``software_version``, ``data_hash``, ``protocol``, ``run`` (the run
record), ``analyses`` (one entry per pooled fit: main analyses, their sensitivity analyses and
every subgroup, each ``id``, ``parent``, ``kind``, ``title``, ``outcome``, ``design``,
``measure``, ``method``, ``test``, ``level``, ``studies`` and ``pooled`` — the core's
``PoolResult.to_dict()`` without its study list, plus ``back_transformed`` where the measure
is transformed; main analyses add ``subgroup_tests``, ``meta_regression``, ``robustness``
(leave-one-out and cumulative column-wise on the model scale, named by ``model_scale``, with
``back_transformed`` estimates and CIs for a transformed measure),
``sensitivity``, ``natural_history``, ``grade``, ``notes``, ``warnings`` and
``excluded_studies``), ``not_pooled``, ``syntheses``, ``grade``, ``comparisons``,
``excluded_studies``, ``serious_adverse_events``, ``prisma``, ``safety_by_route``
(:class:`~sci_evidence.review.safety.SafetyByRoute` ``to_dict()`` per adverse-event analysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence.meta.transforms import back_transform, measure_scale
from sci_evidence.review.grade import GradeAssessment, summary_of_findings
from sci_evidence.review.protocol import AnalysisSpec, Protocol, SynthesisSpec
from sci_evidence.review.select import Selection
from sci_evidence.review.synthesis import SignTestResult

#: Raw-number columns of each measure's input rows (the study data behind ``yi``, ``vi``).
RAW_COLUMNS = {
    "PLO": ("xi", "ni"),
    "PFT": ("xi", "ni"),
    "PR": ("xi", "ni"),
    "PAS": ("xi", "ni"),
    "RR": ("ai", "n1i", "ci", "n2i"),
    "RD": ("ai", "n1i", "ci", "n2i"),
    "OR": ("ai", "n1i", "ci", "n2i"),
    "MD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "SMD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "MC": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri", "mi", "sdi"),
    "MN": ("mi", "sdi", "ni"),
}


def jsonable(v: Any) -> Any:
    """Numpy/pandas scalars and containers as JSON-safe values (NaN and inf → None)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, pd.DataFrame):
        return [jsonable(r) for r in v.to_dict(orient="records")]
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return None if not math.isfinite(f) else f
    if isinstance(v, str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def back(measure: str, values, rows: pd.DataFrame | None = None) -> np.ndarray:
    """``values`` (on the scale of ``yi``) on the scale people read; identity where the
    measure is not transformed. PFT is inverted at the harmonic mean of ``rows["ni"]``."""
    scale = measure_scale(measure)
    x = np.asarray(values, dtype=float)
    if not scale.transformed:
        return x.copy()
    ni = rows["ni"].to_numpy(float) if (scale.needs_ni and rows is not None) else None
    return back_transform(measure, x, ni=ni)


def _result_dict(obj: Any) -> Any:
    """A diagnostic's ``to_dict()`` (or the text saying why it was not run)."""
    if obj is None or isinstance(obj, str):
        return obj
    return jsonable(obj.to_dict())


def _robustness_dict(kind: str, obj: Any, measure: str, rows: pd.DataFrame) -> Any:
    """A diagnostic's dict; leave-one-out and cumulative blocks (model scale, column-wise)
    also say their ``model_scale`` and, for a transformed measure, carry ``back_transformed``
    estimate and CI bounds on the scale people read (RR, not log RR; proportions, not
    logits). PFT is inverted at the harmonic mean of each fit's own studies (all but the one
    left out; the first k added), as the report's tables."""
    d = _result_dict(obj)
    if kind not in ("leave_one_out", "cumulative") or not isinstance(d, dict):
        return d
    scale = measure_scale(measure)
    d["model_scale"] = scale.analysis_label.lower()
    if not scale.transformed:
        return d
    fields = ("estimate", "ci_lb", "ci_ub")
    model = np.array([[np.nan if v is None else v for v in d[f]] for f in fields], dtype=float)
    if scale.needs_ni:
        studies = list(d["study"])
        labels = np.asarray(rows["label"], dtype=object)
        ni = rows["ni"].to_numpy(float)
        shown = np.empty_like(model)
        for i, study in enumerate(studies):
            keep = np.isin(labels, studies[: i + 1]) if kind == "cumulative" else labels != study
            shown[:, i] = back_transform(measure, model[:, i], ni=ni[keep])
    else:
        shown = back(measure, model.ravel()).reshape(model.shape)
    d["back_transformed"] = {
        "scale": scale.label.lower(),
        **dict(zip(fields, shown.tolist(), strict=True)),
    }
    return jsonable(d)


@dataclass(frozen=True)
class PrismaCounts:
    """The numbers of a PRISMA 2020 flow (Page et al. 2021, BMJ 372:n71; None = not
    recorded by the evidence base: shown as "n.r.").

    The flow's counts come from :func:`sci_evidence.evidence.appraisal.prisma_counts`;
    ``excluded_reasons`` maps a reason to a count for the eligibility stage;
    ``analysis_excluded`` maps a protocol rule (flag, or ``possible_duplicate_of:<id>``) to
    the studies it removed from the meta-analyses; ``in_meta_analysis`` counts studies in at
    least one pooled analysis. ``sources`` maps each source searched to its records.
    """

    identified: int | None
    duplicates_removed: int | None
    screened: int | None
    screened_excluded: int | None
    assessed: int | None
    excluded_reasons: dict[str, int] = field(default_factory=dict)
    included: int | None = None
    analysis_excluded: dict[str, int] = field(default_factory=dict)
    in_meta_analysis: int | None = None
    source_note: str = ""
    sought: int | None = None
    not_retrieved: int | None = None
    excluded: int | None = None
    sources: dict[str, int | None] = field(default_factory=dict)
    not_retrieved_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return jsonable(dict(self.__dict__))


@dataclass(frozen=True)
class Fit:
    """A pooled fit with the rows it used (``rows`` carries ``yi``, ``vi``)."""

    id: str
    kind: str  # "main", "sensitivity", "subgroup"
    title: str
    rows: pd.DataFrame
    result: Any  # PoolResult
    note: str = ""

    def studies(self) -> list[dict]:
        """One entry per study row: ids, the raw numbers, ``yi``, ``vi``, percent weight."""
        rows, res = self.rows, self.result
        cols = [c for c in RAW_COLUMNS.get(res.measure, ()) if c in rows.columns]
        out = []
        for i, r in enumerate(rows.to_dict(orient="records")):
            d = {"study_id": r["study_id"], "label": r["label"], "arm_id": r.get("arm_id")}
            for c in cols:
                d[c] = r[c]
            if "control_arm_id" in rows.columns:
                d["control_arm_id"] = r["control_arm_id"]
            if "kind" in rows.columns:
                d["data"] = r["kind"]
            if "converted" in rows.columns:
                d["converted"] = r["converted"] or ""
            d["timepoint"] = r.get("timepoint")
            if "count" in rows.columns:  # adverse events: reported or derived (lower bound)
                d["count"] = r["count"]
            d["yi"] = r["yi"]
            d["vi"] = r["vi"]
            d["weight"] = float(res.weights[i])
            d["outcome_ids"] = str(r.get("outcome_ids", "")).split(";")
            out.append(d)
        return jsonable(out)

    def pooled(self) -> dict:
        """The core's ``PoolResult.to_dict()`` (without its study list, which
        :meth:`studies` gives with the raw numbers) and, for a transformed measure, the
        estimate and intervals back-transformed."""
        res = self.result
        d = {k: v for k, v in res.to_dict().items() if k != "studies"}
        scale = measure_scale(res.measure)
        if scale.transformed:
            vals = [res.estimate, res.ci_lb, res.ci_ub, res.pi_lb, res.pi_ub]
            vals = [np.nan if v is None else v for v in vals]
            bt = back(res.measure, vals, self.rows)
            d["back_transformed"] = {
                "scale": scale.label.lower(),
                **dict(zip(("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"), bt, strict=True)),
            }
        return jsonable(d)

    def to_dict(self) -> dict:
        res = self.result
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "measure": res.measure,
            "method": res.method,
            "test": res.test,
            "level": res.level,
            "note": self.note,
            "studies": self.studies(),
            "pooled": self.pooled(),
        }


@dataclass(frozen=True)
class SubgroupAnalysis:
    """Subgroup analysis of one variable: the core's ``SubgroupResult`` (None with one level
    only) and cautions for small groups (warnings of the fits are in
    :attr:`AnalysisResult.warnings`)."""

    variable: str
    result: Any | None  # SubgroupResult
    cautions: tuple[str, ...] = ()
    note: str = ""
    #: With a GLMM main model: the GLMM test for subgroup differences (moderator QM), or None.
    glmm_test: dict | None = None

    def to_dict(self) -> dict:
        r = self.result
        return jsonable(
            {
                "variable": self.variable,
                "Q_between": None if r is None else r.Q_between,
                "Q_between_df": None if r is None else r.Q_between_df,
                "Q_between_pval": None if r is None else r.Q_between_pval,
                "tau2": None if r is None else r.tau2_mode,
                "groups": [] if r is None else list(r.groups),
                "cautions": list(self.cautions),
                "note": self.note,
                "glmm_test": self.glmm_test,
            }
        )


@dataclass(frozen=True)
class AnalysisResult:
    """Everything computed for one protocol analysis.

    ``regressions`` maps a moderator to its ``PoolResult`` (or why it was not run);
    ``sensitivity`` a name to a :class:`Fit` (or why not); ``robustness`` a diagnostic to
    its result object (or why not, e.g. k < 3). ``warnings`` are ``(step, message)`` pairs of
    what the subgroup, regression and robustness fits warned about (non-convergence,
    dropped studies, τ² on the boundary).
    """

    spec: AnalysisSpec
    status: str  # "pooled", "single study", "no data"
    selection: Selection
    main: Fit | None = None
    subgroups: tuple[SubgroupAnalysis, ...] = ()
    regressions: dict = field(default_factory=dict)
    sensitivity: dict = field(default_factory=dict)
    robustness: dict = field(default_factory=dict)
    natural_history: pd.DataFrame | None = None
    natural_history_pooled: dict | None = None
    grade: GradeAssessment | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()
    #: The Bayesian random-effects sensitivity analysis
    #: (:class:`~sci_evidence.review.models.BayesSensitivity`, or why it was not run).
    bayes: Any = None
    #: The inverse-variance fit the robustness diagnostics and the funnel plot use (the main
    #: fit's result unless the main model is a GLMM, which has no per-study yi/vi model).
    diagnostics_fit: Any = None
    #: Not pooled (fewer than two studies): each study on its own (see
    #: :func:`sci_evidence.review.scores.individual_studies`) and a sentence saying what
    #: they show; None and "" where the analysis pooled or is not about scores.
    individual: pd.DataFrame | None = None
    statement: str = ""

    @property
    def k(self) -> int:
        return 0 if self.main is None else self.main.result.k

    def subgroup_fits(self) -> list[Fit]:
        """One :class:`Fit` per level of every subgroup variable."""
        out = []
        for sg in self.subgroups:
            if sg.result is None:
                continue
            groups = np.asarray(sg.result.group_of or self.main.rows[sg.variable].astype(str))
            for g in sg.result.groups:
                rows = self.main.rows[groups == g].reset_index(drop=True)
                out.append(
                    Fit(
                        f"{self.spec.id}:{sg.variable}={g}",
                        "subgroup",
                        f"{self.spec.title} — {sg.variable}: {g}",
                        rows,
                        sg.result.results[g],
                    )
                )
        return out

    def _fit_entry(self, fit: Fit, parent: str | None) -> dict:
        s = self.spec
        return {"parent": parent, "outcome": s.outcome, "design": s.design} | fit.to_dict()

    def to_dict(self) -> dict:
        """``status``, ``notes``; for a pooled analysis ``entry`` (the main fit with
        everything computed around it) and ``fits`` (sensitivity and subgroup fits)."""
        s = self.spec
        d: dict[str, Any] = {
            "id": s.id,
            "title": s.title,
            "status": self.status,
            "notes": list(self.notes),
            "k_rows": len(self.selection.rows),
        }
        if self.main is None:
            if self.individual is not None:
                d["statement"] = self.statement
                d["individual"] = self.individual
            return jsonable(d)
        main = self._fit_entry(self.main, None)
        main["subgroup_tests"] = [sg.to_dict() for sg in self.subgroups]
        main["meta_regression"] = {
            m: r if isinstance(r, str) else _regression_dict(m, r)
            for m, r in self.regressions.items()
        }
        main["robustness"] = {
            k: _robustness_dict(k, v, s.measure, self.main.rows) for k, v in self.robustness.items()
        }
        main["sensitivity"] = {
            k: (v if isinstance(v, str) else v.id) for k, v in self.sensitivity.items()
        }
        if self.natural_history is not None:
            main["natural_history"] = {
                "kind": s.natural_history,
                "studies": self.natural_history,
                "pooled": self.natural_history_pooled,
            }
        main["grade"] = self.grade.to_dict() if self.grade else None
        main["bayes"] = _result_dict(self.bayes)
        main["notes"] = list(self.notes)
        main["warnings"] = [{"step": st, "message": m} for st, m in self.warnings]
        main["excluded_studies"] = self.selection.excluded
        fits = [self._fit_entry(v, s.id) for v in self.sensitivity.values() if isinstance(v, Fit)]
        fits += [self._fit_entry(f, s.id) for f in self.subgroup_fits()]
        return jsonable(d | {"entry": main, "fits": fits})


def _regression_dict(moderator: str, r) -> dict:
    d = {k: v for k, v in r.to_dict().items() if k != "studies"}
    d["note"] = (
        "log_dose = log10(cells per administration); cells/kg at 70 kg"
        if moderator == "log_dose"
        else ""
    )
    return d


@dataclass(frozen=True)
class RunRecord:
    """What is needed to reproduce the run exactly; ``seconds`` is the computing time."""

    software_version: str
    data_hash: str
    data_origin: str
    protocol_source: str
    protocol_hash: str
    seeds: dict
    started_utc: str
    python: str
    numpy: str
    pandas: str
    scipy: str
    matplotlib: str
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ReviewResult:
    """Everything the review computed (nothing written: see :func:`sci_evidence.report.
    writer.write_review`)."""

    protocol: Protocol
    record: RunRecord
    analyses: tuple[AnalysisResult, ...]
    syntheses: tuple[tuple[SynthesisSpec, SignTestResult], ...]
    comparisons: pd.DataFrame
    characteristics: pd.DataFrame
    safety_events: pd.DataFrame
    excluded: pd.DataFrame
    prisma: PrismaCounts
    risk_of_bias: pd.DataFrame
    study_labels: dict
    #: One :class:`~sci_evidence.review.messages.KeyMessage` per question of the protocol.
    key_messages: tuple = ()
    #: What changed since an earlier run (:class:`~sci_evidence.review.compare.ReviewChanges`;
    #: None unless ``sci-evidence review --compare`` asked for it).
    changes: Any = None
    #: The anchor review beside the base (:class:`~sci_evidence.review.anchor.AnchorStatement`;
    #: None when the base records no anchor).
    anchor: Any = None
    #: Adverse events by route (:class:`~sci_evidence.review.safety.SafetyByRoute`, one per
    #: pooled adverse-event analysis); None when not computed.
    safety_by_route: tuple | None = None

    def analysis(self, analysis_id: str) -> AnalysisResult:
        for a in self.analyses:
            if a.spec.id == analysis_id:
                return a
        raise KeyError(analysis_id)

    def summary_of_findings(self) -> pd.DataFrame:
        return summary_of_findings([a.grade for a in self.analyses if a.grade is not None])

    def summary(self) -> str:
        lines = [f"{self.protocol.title}", f"data hash {self.record.data_hash[:12]}"]
        for a in self.analyses:
            if a.main is None:
                lines.append(f"  {a.spec.id}: {a.status}")
            else:
                lines.append(
                    f"  {a.spec.id}: k={a.k}, {a.grade.effect}, certainty {a.grade.certainty}"
                )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The ``results.json`` document (JSON-safe), built from each result's ``to_dict()``."""
        analyses, not_pooled = [], []
        for a in self.analyses:
            d = a.to_dict()
            if "entry" in d:
                analyses += [d["entry"], *d["fits"]]
            else:
                keep = ("id", "title", "status", "notes", "statement", "individual")
                not_pooled.append({k: d[k] for k in keep if k in d} | {"k": d["k_rows"]})
        # the analyses are JSON-safe already (AnalysisResult.to_dict): made so once, not
        # copied again (at 100x the bundled evidence they are most of the 17 MB document)
        doc = jsonable(
            {
                "software_version": self.record.software_version,
                "data_hash": self.record.data_hash,
                "protocol": self.protocol.to_dict(),
                "run": self.record.to_dict(),
                "analyses": None,
                "not_pooled": None,
                "syntheses": [
                    {"id": spec.id, "title": spec.title, **res.to_dict()}
                    for spec, res in self.syntheses
                ],
                "grade": [a.grade.to_dict() for a in self.analyses if a.grade is not None],
                "comparisons": self.comparisons,
                "studies": [{"study_id": s, "label": v} for s, v in self.study_labels.items()],
                "key_messages": [m.to_dict() for m in self.key_messages],
                "changes": None if self.changes is None else self.changes.to_dict(),
                "excluded_studies": self.excluded,
                "serious_adverse_events": self.safety_events,
                "prisma": self.prisma.to_dict(),
                "anchor": None if self.anchor is None else self.anchor.to_dict(),
                "safety_by_route": None
                if self.safety_by_route is None
                else [s.to_dict() for s in self.safety_by_route],
            }
        )
        doc["analyses"], doc["not_pooled"] = analyses, not_pooled
        return doc
