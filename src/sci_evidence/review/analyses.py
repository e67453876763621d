"""One protocol analysis run over its input rows: pooled model, subgroups, meta-regression,
sensitivity, robustness, natural-history comparison and GRADE.

Everything here is computation; figures and files are made by :mod:`sci_evidence.report`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence import meta
from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta.transforms import measure_scale
from sci_evidence.review.grade import GradeAssessment, assess_certainty
from sci_evidence.review.models import (
    bayes_sensitivity,
    binary_model_fit,
    fit_glmm,
    glmm_identification,
    glmm_subgroup_test,
    iv_disagreement,
    iv_proportion_spec,
)
from sci_evidence.review.nh_comparison import conversion_comparison, score_comparison
from sci_evidence.review.protocol import AnalysisSpec, Protocol
from sci_evidence.review.results import (
    RAW_COLUMNS,
    AnalysisResult,
    Fit,
    SubgroupAnalysis,
    back,
)
from sci_evidence.review.score_studies import individual_studies, statement
from sci_evidence.review.scores import correlation_fits
from sci_evidence.review.select import EvidenceIndex, select_rows, study_exclusions, study_labels

__all__ = ["AnalysisResult", "Fit", "SubgroupAnalysis", "back", "effect_text", "run_analysis"]


@contextmanager
def recorded_warnings(step: str, sink: list[tuple[str, str]]) -> Iterator[None]:
    """Run a fit and keep every warning it raises as ``(step, message)`` in ``sink`` (once
    each), so that the report shows it beside the analysis; exceptions propagate."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        item = (step, f"{w.category.__name__}: {w.message}")
        if item not in sink:
            sink.append(item)


def effect_rows(rows: pd.DataFrame, spec: AnalysisSpec) -> pd.DataFrame:
    """``rows`` with ``yi`` and ``vi`` for ``spec.measure`` (metafor's escalc conventions:
    0.5 added to every cell of a table with a zero cell, none for PFT/PAS)."""
    m = spec.measure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        if m in ("PLO", "PFT", "PR", "PAS"):
            es = meta.effect_sizes(m, xi=rows["xi"].to_numpy(), ni=rows["ni"].to_numpy())
        elif m in ("RR", "RD", "OR"):
            es = meta.effect_sizes(
                m,
                ai=rows["ai"].to_numpy(),
                bi=(rows["n1i"] - rows["ai"]).to_numpy(),
                ci=rows["ci"].to_numpy(),
                di=(rows["n2i"] - rows["ci"]).to_numpy(),
            )
        elif m in ("MD", "SMD"):
            es = meta.effect_sizes(m, **{c: rows[c].to_numpy(dtype=float) for c in RAW_COLUMNS[m]})
        elif m in ("MC", "MN"):
            return _change_rows(rows, spec)
        else:  # pragma: no cover - the protocol validates measures
            raise ValueError(m)
    out = rows.copy()
    out["yi"] = es["yi"].to_numpy()
    out["vi"] = es["vi"].to_numpy()
    return out


def _change_rows(rows: pd.DataFrame, spec: AnalysisSpec) -> pd.DataFrame:
    """Mean change: reported change scores as they are (``MN`` on the change), pre/post
    means as ``MC`` (post − pre) with the protocol's assumed correlation ``ri``."""
    out = rows.copy()
    out["yi"] = np.nan
    out["vi"] = np.nan
    kind = out.get("kind", pd.Series("", index=out.index))
    ch = (kind == "change").to_numpy()
    pp = (kind == "pre-post").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        if ch.any():
            es = meta.effect_sizes(
                "MN",
                mi=out.loc[ch, "mi"].to_numpy(float),
                sdi=out.loc[ch, "sdi"].to_numpy(float),
                ni=out.loc[ch, "ni"].to_numpy(float),
            )
            out.loc[ch, "yi"] = es["yi"].to_numpy()
            out.loc[ch, "vi"] = es["vi"].to_numpy()
        if pp.any():
            es = meta.effect_sizes(
                "MC",
                m1i=out.loc[pp, "m1i"].to_numpy(float),
                m2i=out.loc[pp, "m2i"].to_numpy(float),
                sd1i=out.loc[pp, "sd1i"].to_numpy(float),
                sd2i=out.loc[pp, "sd2i"].to_numpy(float),
                ni=out.loc[pp, "ni"].to_numpy(float),
                ri=spec.ri,
            )
            out.loc[pp, "yi"] = es["yi"].to_numpy()
            out.loc[pp, "vi"] = es["vi"].to_numpy()
            out.loc[pp, "ri"] = spec.ri
    return out


def fit_rows(
    rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol, *, method=None, iv: bool = False
):
    """Pool ``rows`` with the spec's model: the binomial-normal GLMM of the counts
    (``spec.model == "glmm"``; ``method="EE"`` gives its equal-effects GLM) or, and always
    with ``iv=True``, inverse-variance pooling of ``yi``/``vi``."""
    if spec.model == "glmm" and not iv:
        return fit_glmm(rows, protocol, method="EE" if method in ("EE", "FE") else "ML")
    return meta.pool(
        rows["yi"].to_numpy(float),
        rows["vi"].to_numpy(float),
        method=method or spec.method,
        test=spec.test,
        level=protocol.level,
        labels=list(rows["label"]),
        measure=spec.measure,
    )


def _usable_rows(rows: pd.DataFrame) -> pd.DataFrame:
    ok = np.isfinite(rows["yi"].to_numpy(float)) & (rows["vi"].to_numpy(float) > 0)
    return rows[ok].reset_index(drop=True)


def _why_no_rows(evidence, spec: AnalysisSpec, sel, labels: dict | None = None) -> str:
    """Say honestly why an analysis has no rows: absent from the evidence, or present but
    unusable (excluded by rule, flagged, or without the numbers the measure needs).

    Studies are named by their labels ("Kishk 2010"), never by internal ids; ``labels``
    defaults to :func:`~sci_evidence.review.select.study_labels` of the evidence's studies.
    """
    if labels is None:
        labels = study_labels(evidence.studies)
    outcomes = evidence.outcomes
    reporting = sorted(set(outcomes.loc[outcomes["outcome"] == spec.outcome, "study_id"]))
    if not reporting:
        return "no study reports this outcome"

    def name(sid) -> str:
        return str(labels.get(sid, sid))

    excluded = sel.excluded.drop_duplicates("study_id") if len(sel.excluded) else sel.excluded
    text = (
        f"{len(reporting)} stud{'y' if len(reporting) == 1 else 'ies'} report this outcome "
        f"({', '.join(sorted(name(s) for s in reporting))}), but none gives usable data for "
        f"{spec.measure}"
    )
    if len(excluded):
        why = [
            f"{name(sid)} ({_reason_words(reason, name)})"
            for sid, reason in sorted(
                zip(excluded["study_id"], excluded["reason"], strict=True),
                key=lambda x: name(x[0]),
            )
        ]
        text += f"; excluded by the inclusion rules: {', '.join(why)}"
    return (
        text + "; the others lack what the measure needs (e.g. baseline and follow-up means "
        "with SDs, or an arm of the required design) or carry a flag that keeps them out"
    )


def _reason_words(reason: str, name) -> str:
    """An exclusion reason in words ("possible_duplicate_of:guo-2014" → "possible duplicate
    of Guo 2014"; "combination_product" → "combination product")."""
    parts = []
    for r in str(reason).split(";"):
        if r.startswith("possible_duplicate_of:"):
            parts.append(f"possible duplicate of {name(r.split(':', 1)[1])}")
        else:
            parts.append(r.replace("_", " "))
    return "; ".join(parts)


def _individual(evidence, spec, protocol, sel, rows, index):
    """Each study of a not-pooled score analysis and the sentence that says what they show
    (:mod:`sci_evidence.review.score_studies`); ``(None, "")`` for other outcomes."""
    if spec.outcome_kind != "continuous":
        return None, ""
    from dataclasses import replace

    open_rules = replace(
        protocol.inclusion,
        culture_expanded_msc_only=False,
        exclude_combination_products=False,
        exclude_possible_duplicates=False,
    )
    # the rows of studies the rules excluded (their estimates are shown, marked): only
    # selected again when the rules excluded a study with rows for this analysis
    rel = select_rows(evidence, spec, open_rules, index=index).rows if len(sel.excluded) else None
    relaxed = _usable_rows(effect_rows(rel, spec)) if rel is not None and len(rel) else None
    excl = study_exclusions(evidence.studies, protocol.inclusion)
    table = individual_studies(evidence, spec, protocol, sel, rows, relaxed, excl)
    return table, statement(spec, protocol, table)


def run_analysis(
    evidence,
    spec: AnalysisSpec,
    protocol: Protocol,
    *,
    rob=None,
    index: EvidenceIndex | None = None,
) -> AnalysisResult:
    """Run one protocol analysis over the evidence base.

    Parameters
    ----------
    evidence : EvidenceSet
    spec : AnalysisSpec
    protocol : Protocol
    rob : dict, optional
        study_id → overall risk-of-bias judgement (``low``, ``some_concerns``, ``high``…).
    index : EvidenceIndex, optional
        :meth:`EvidenceIndex.of` ``evidence`` (made here when not given; a review makes it
        once for all its analyses).
    """
    rob = rob or {}
    index = EvidenceIndex.of(evidence) if index is None else index
    sel = select_rows(evidence, spec, protocol.inclusion, index=index)
    notes: list[str] = []
    if sel.rows.empty:
        individual, text = _individual(evidence, spec, protocol, sel, sel.rows, index)
        return AnalysisResult(
            spec,
            "no data",
            sel,
            notes=(_why_no_rows(evidence, spec, sel),),
            individual=individual,
            statement=text,
        )
    rows = _usable_rows(effect_rows(sel.rows, spec))
    dropped = len(sel.rows) - len(rows)
    if dropped:
        notes.append(f"{dropped} arm(s) without a computable effect size left out")
    if len(rows) < protocol.min_studies:
        status = "single study" if len(rows) == 1 else "no data"
        individual, text = _individual(evidence, spec, protocol, sel, rows, index)
        return AnalysisResult(
            spec, status, sel, notes=tuple(notes), individual=individual, statement=text
        )
    warned: list[tuple[str, str]] = []
    with recorded_warnings("main analysis", warned):
        res = fit_rows(rows, spec, protocol)
    main = Fit(spec.id, "main", spec.title, rows, res)
    # the diagnostics that need yi/vi (subgroups, Egger, trim-and-fill, leave-one-out,
    # influence, cumulative) run on the inverse-variance fit of the same rows
    iv_res = res if spec.model != "glmm" else fit_rows(rows, spec, protocol, iv=True)
    if spec.model == "glmm":
        notes.append(
            "main model: binomial-normal GLMM fitted to the counts (ML, as metafor rma.glmm); "
            "subgroups, the funnel plot, Egger's test, trim-and-fill, leave-one-out, influence "
            f"and cumulative analyses use the logit inverse-variance model ({spec.method} τ²), "
            "which needs per-study yi and vi; the meta-regression is the GLMM with the moderator"
        )

    fit_conditions("main analysis", res, warned)
    if spec.model == "glmm":
        glmm_identification("main analysis", rows, warned)
    subgroups = tuple(_subgroup(rows, spec, protocol, v, warned) for v in spec.subgroups)
    regressions = {m: _regression(rows, spec, protocol, m, warned) for m in spec.moderators}
    sensitivity = {}
    for s in spec.sensitivity:
        fit = _sensitivity(evidence, rows, spec, protocol, s, rob, index)
        # one name may stand for several fits (change_correlation: one per r)
        sensitivity.update(fit if isinstance(fit, dict) else {s: fit})
    for name, fit in sensitivity.items():
        if isinstance(fit, Fit):
            fit_conditions(f"sensitivity: {name}", fit.result, warned)
            if spec.model == "glmm" and not name.startswith("iv_") and name != "fixed_effect":
                glmm_identification(f"sensitivity: {name}", fit.rows, warned)
            if name.startswith("iv_") and spec.model == "glmm":
                text = iv_disagreement(main, fit)
                if text:
                    warned.append((f"sensitivity: {name}", text))
    bayes = bayes_sensitivity(rows, spec, protocol)
    robustness = _robustness(iv_res, rows, warned) if spec.robustness else {}
    nh_table = nh_pooled = None
    if spec.natural_history == "conversion":
        nh_table, nh_pooled = conversion_comparison(evidence, rows, res, protocol)
    elif spec.natural_history == "scores":
        nh_table, nh_pooled = score_comparison(evidence, rows, res, spec, protocol)
    grade = _grade(spec, protocol, rows, res, robustness, rob)
    return AnalysisResult(
        spec=spec,
        status="pooled",
        selection=sel,
        main=main,
        subgroups=subgroups,
        regressions=regressions,
        sensitivity=sensitivity,
        robustness=robustness,
        natural_history=nh_table,
        natural_history_pooled=nh_pooled,
        grade=grade,
        notes=tuple(notes),
        warnings=tuple(warned),
        bayes=bayes,
        diagnostics_fit=iv_res,
    )


def fit_conditions(step: str, res, sink: list[tuple[str, str]]) -> None:
    """Record what a fit's numbers say about it: a τ² search that did not converge, and τ²
    estimated at the boundary of its range (0) by a random-effects estimator."""
    if not res.converged:
        sink.append((step, f"the τ² search did not converge ({res.n_iter} iterations)"))
    # a GLMM's ML search stops a rounding error above 0 (1e-28), not at 0 exactly
    if res.method not in ("EE", "FE", "MH", "PETO") and res.k > 1 and res.tau2 < 1e-10:
        sink.append((step, "τ² estimated at the boundary (0): no heterogeneity beyond chance"))


def _subgroup(rows, spec, protocol, variable, warned) -> SubgroupAnalysis:
    groups = rows[variable].astype(str).to_numpy()
    counts = pd.Series(groups).value_counts()
    lim = protocol.min_studies_subgroup
    cautions = tuple(
        f"{variable} = {g}: {n} {'study' if n == 1 else 'studies'} (< {lim})"
        for g, n in counts.items()
        if n < protocol.min_studies_subgroup
    )
    if len(counts) < 2:
        return SubgroupAnalysis(variable, None, cautions, f"one level only ({counts.index[0]})")
    step = f"subgroups by {variable}"
    with recorded_warnings(step, warned):
        res = meta.subgroups(
            rows["yi"].to_numpy(float),
            rows["vi"].to_numpy(float),
            groups,
            method=spec.method,
            test=spec.test,
            level=protocol.level,
            labels=list(rows["label"]),
            measure=spec.measure,
        )
    for g in res.groups:
        fit_conditions(f"{step}: {g}", res.results[g], warned)
    if spec.model != "glmm":
        return SubgroupAnalysis(variable, res, cautions)
    with recorded_warnings(f"{step} (GLMM)", warned):
        test = glmm_subgroup_test(rows, protocol, groups)
    note = "per-group estimates: logit inverse-variance model; "
    if test["diagnostics"] or not test["converged"]:
        note += (
            f"the GLMM with {variable} as moderator gives no usable test (its fit is "
            "degenerate: see the warnings)"
        )
    else:
        note += (
            f"test of the GLMM with {variable} as moderator: QM = {test['QM']:.2f}, "
            f"df = {test['df']}, p = {test['pval']:.3g}"
        )
    return SubgroupAnalysis(variable, res, cautions, note, glmm_test=test)


def _regression(rows, spec, protocol, moderator, warned):
    x = rows[moderator].to_numpy(float)
    ok = np.isfinite(x)
    if ok.sum() < 3 or np.unique(x[ok]).size < 2:
        return f"not run: {int(ok.sum())} studies with a known {moderator} (needs 3 and 2 values)"
    r = rows[ok]
    step = f"meta-regression on {moderator}"
    if (~ok).any():
        names = list(map(str, rows.loc[~ok, "label"]))
        left = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        n = int((~ok).sum())
        what = "study" if n == 1 else "studies"
        warned.append((step, f"{n} {what} without a known {moderator} left out: {left}"))
    with recorded_warnings(step, warned):
        if spec.model == "glmm":
            res = fit_glmm(r, protocol, mods={moderator: x[ok]})
            fit_conditions(step, res, warned)
            return res
        res = meta.pool(
            r["yi"].to_numpy(float),
            r["vi"].to_numpy(float),
            mods={moderator: x[ok]},
            method=spec.method,
            test=spec.test,
            level=protocol.level,
            labels=list(r["label"]),
            measure=spec.measure,
        )
    fit_conditions(step, res, warned)
    return res


def _sensitivity(evidence, rows, spec, protocol, name, rob, index):
    fid = f"{spec.id}:{name}"
    if name == "fixed_effect":
        return Fit(
            fid,
            "sensitivity",
            "Equal-effects model",
            rows,
            fit_rows(rows, spec, protocol, method="EE"),
        )
    if name in ("iv_logit", "iv_freeman_tukey"):
        ivspec, title = iv_proportion_spec(spec, name)
        r = effect_rows(rows.drop(columns=["yi", "vi"]), ivspec)
        return Fit(fid, "sensitivity", title, r, fit_rows(r, ivspec, protocol))
    if name in ("mantel_haenszel", "peto", "glmm_conditional"):
        return binary_model_fit(rows, spec, protocol, name)
    if name == "controlled_only":
        r = rows[rows["controlled"] == "controlled"].reset_index(drop=True)
        title = "Controlled studies only"
    elif name == "low_risk_of_bias":
        if not rob:
            return "not run: no risk-of-bias judgements in the evidence base"
        # the tools' overall judgements (RoB 2, ROBINS-I, MINORS); "no information" is not low
        r = rows[[str(rob.get(s, "")).lower() == "low" for s in rows["study_id"]]]
        r = r.reset_index(drop=True)
        if r.empty:
            return "not run: no study of this analysis is judged at low risk of bias overall"
        title = "Studies at low risk of bias only"
    elif name in ("exclude_flagged", "include_possible_duplicates"):
        from dataclasses import replace

        if name == "exclude_flagged":
            relaxed = replace(
                protocol.inclusion,
                culture_expanded_msc_only=False,
                exclude_combination_products=False,
            )
            why = "no study was excluded by a flag"
            title = "Flagged studies included (products that are not culture-expanded MSC alone)"
        else:
            relaxed = replace(protocol.inclusion, exclude_possible_duplicates=False)
            why = "no possible duplicate was excluded from this analysis"
            title = "Possible duplicates included (studies that may report the same patients)"
        sel = select_rows(evidence, spec, relaxed, index=index)
        r = _usable_rows(effect_rows(sel.rows, spec)) if len(sel.rows) else sel.rows
        if len(r) == len(rows):
            return f"not run: {why}"
    elif name == "change_correlation":

        def refit(spec_r, ri):
            r = effect_rows(rows.drop(columns=["yi", "vi"]), spec_r)
            title = f"Change SD at a baseline–follow-up correlation r = {ri:g}"
            return Fit(f"{fid}_r={ri:g}", "sensitivity", title, r, fit_rows(r, spec_r, protocol))

        return correlation_fits(rows, spec, refit)
    elif name == "primary_sources_only":
        keep = primary_rows(evidence, rows)
        if keep.all():
            return "not run: every value of this analysis rests on a primary source"
        r = rows[keep].reset_index(drop=True)
        title = (
            "Primary sources only (values resting on secondary or non-scholarly sources left out)"
        )
    elif name == "exclude_derived_counts":
        from sci_evidence.review.safety import DERIVED

        keep = (
            (rows["count"] != DERIVED).to_numpy() if "count" in rows else np.ones(len(rows), bool)
        )
        if keep.all():
            return "not run: no count of this analysis is a derived lower bound"
        r = rows[keep].reset_index(drop=True)
        title = "Reported counts only (derived lower bounds left out)"
    else:  # pragma: no cover
        raise ValueError(name)
    if len(r) < protocol.min_studies:
        return f"not run: {len(r)} {'study' if len(r) == 1 else 'studies'}"
    return Fit(fid, "sensitivity", title, r, fit_rows(r, spec, protocol))


def primary_rows(evidence, rows: pd.DataFrame) -> np.ndarray:
    """Per input row: whether every value it rests on (its ``outcome_ids``: outcome or
    adverse-event rows) has ``source_tier == "primary"``; a row whose values are not found
    counts as not primary."""
    tiers: dict[str, str] = {}
    for frame, key in ((evidence.outcomes, "outcome_id"), (evidence.adverse_events, "ae_id")):
        if "source_tier" in frame.columns:
            tiers.update(zip(frame[key], frame["source_tier"].astype(str), strict=True))
    out = []
    for ids in rows["outcome_ids"].astype(str):
        parts = [i for i in ids.split(";") if i]
        out.append(bool(parts) and all(tiers.get(i) == "primary" for i in parts))
    return np.asarray(out, dtype=bool)


def _robustness(res, rows, warned) -> dict:
    """Bias and influence diagnostics (k ≥ 3); each entry is a result or why it is absent.

    Warnings are recorded with the analysis. Egger's regression needs the studies' standard
    errors to differ (with equal precision its model matrix [1, sei] has rank 1): then it is
    "not run" with that reason, as is any diagnostic the core refuses with an InputError;
    any other exception is a bug and propagates.
    """
    out: dict[str, Any] = {}
    k = res.k
    steps = {
        "egger": meta.egger_test,
        "trim_and_fill": meta.trim_and_fill,
        "leave_one_out": meta.leave_one_out_result,
        "influence": meta.influence,
        "cumulative": meta.cumulative,
    }
    for name, fn in steps.items():
        if k < 3:
            out[name] = f"not run: k = {k} (< 3)"
            continue
        if name == "trim_and_fill" and np.ptp(np.asarray(res.yi, dtype=float)) == 0:
            out[name] = "not run: every study has the same estimate (nothing is asymmetric)"
            continue
        if name == "egger" and np.ptp(np.sqrt(np.asarray(res.vi, dtype=float))) == 0:
            out[name] = (
                "not run: every study has the same standard error "
                "(the regression needs them to differ)"
            )
            continue
        kw = {}
        if name == "cumulative":
            # a sort key (as metafor's cumulative(order=year)); unknown years go last
            kw = {"order": rows["year"].fillna(9999).to_numpy(float)}
        try:
            with recorded_warnings(name.replace("_", " "), warned):
                out[name] = fn(res, **kw)
        except InputError as exc:
            # the core refuses data it cannot analyse (e.g. trim-and-fill when every study is
            # the same): a reason the diagnostic is absent, not a failure of the review
            out[name] = f"not run: {exc.reason}"
    return out


def egger_pval(robustness: dict) -> float | None:
    e = robustness.get("egger")
    if e is None or isinstance(e, str):
        return None
    for attr in ("pval", "p_value", "zval_pval"):
        v = getattr(e, attr, None)
        if v is not None:
            return float(v)
    d = e.to_dict()
    return float(d["pval"]) if "pval" in d else None


def _grade(spec, protocol, rows, res, robustness, rob) -> GradeAssessment:
    n_col = "ni" if "ni" in rows.columns and rows["ni"].notna().all() else None
    if n_col:
        n = int(rows["ni"].sum())
    else:
        n = int(rows.get("n1i", 0).sum() + rows.get("n2i", 0).sum())
    null = measure_scale(spec.measure).analysis_null if spec.design == "controlled" else None
    # a GLMM whose counts cannot identify tau² (events in one study only): the effect and
    # its I² say little, and the table row must say so where the effect is read
    unidentified: list[tuple[str, str]] = []
    if spec.model == "glmm":
        glmm_identification("", rows, unidentified)
    return assess_certainty(
        analysis_id=spec.id,
        outcome=spec.title,
        n_patients=n,
        randomised=list(rows["randomised"].astype(bool)),
        rob=[rob.get(s) for s in rows["study_id"]],
        weights=list(res.weights),
        I2=res.I2 if res.k > 1 else None,
        ci=(res.ci_lb, res.ci_ub),
        pi=(res.pi_lb, res.pi_ub) if res.pi_lb is not None else None,
        null=null,
        egger_pval=egger_pval(robustness),
        single_arm=spec.design == "single_arm",
        rules=protocol.grade,
        effect=effect_text(res, spec.measure, rows),
        labels=list(rows["label"]),
        caveat="; ".join(text for _, text in unidentified),
    )


def effect_text(res, measure: str, rows: pd.DataFrame) -> str:
    est, lo, hi = back(measure, [res.estimate, res.ci_lb, res.ci_ub], rows)
    pct = int(round(res.level * 100))
    scale = measure_scale(measure)
    if scale.scale == "proportion":
        return f"{100 * est:.1f}% ({pct}% CI {100 * lo:.1f}–{100 * hi:.1f}%)"
    if scale.scale == "ratio":
        return f"{measure} {est:.2f} ({pct}% CI {lo:.2f}–{hi:.2f})"
    if measure == "RD":
        return f"RD {100 * est:.1f} percentage points ({pct}% CI {100 * lo:.1f} to {100 * hi:.1f})"
    return f"{est:.2f} points ({pct}% CI {lo:.2f} to {hi:.2f})"
