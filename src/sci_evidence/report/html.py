"""The self-contained HTML report (Jinja2): inline CSS and JS, figures as inline SVG,
sortable tables, every pooled number tagged with its analysis id and linked to its studies,
and a methods section generated from the protocol."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import jinja2
import numpy as np
import pandas as pd

from sci_evidence.meta.transforms import measure_scale
from sci_evidence.report.format import count, num, pct
from sci_evidence.report.individual import individual_view
from sci_evidence.report.page_figures import expand_figures
from sci_evidence.report.scales import COUNT_COLUMNS, integer_counts, reader_scale
from sci_evidence.report.views import (
    SCALE_DIGITS,
    reader_cells,
    reason_text,
    robustness_view,
    safety_intro,
)
from sci_evidence.review.models import glmm_identification, iv_disagreement
from sci_evidence.review.score_studies import one_study_effect


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: (
                resources.files("sci_evidence.report")
                .joinpath("templates", name)
                .read_text("utf-8")
            )
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    env.filters["pct"] = pct
    env.filters["count"] = count
    return env


def _table(df: pd.DataFrame, *, table_id: str, digits: int = 3) -> dict:
    cols = [str(c) for c in df.columns]
    rows = []
    for r in df.to_dict(orient="records"):
        cells = []
        for c in df.columns:
            v = r[c]
            if isinstance(v, float | np.floating):
                cells.append(num(v, digits))
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                cells.append("")
            else:
                cells.append(str(v))
        rows.append(cells)
    return {"id": table_id, "columns": cols, "rows": rows}


def methods_text(protocol) -> list[str]:
    """The methods section, generated from the protocol (one paragraph per item)."""
    p = protocol
    inc = []
    if p.inclusion.culture_expanded_msc_only:
        inc.append("studies of products that are not culture-expanded MSC were excluded")
    if p.inclusion.exclude_combination_products:
        inc.append("MSC combined with other cells or a scaffold were excluded")
    if p.inclusion.exclude_possible_duplicates:
        inc.append(
            "a study the evidence base marks as a possible duplicate of another (it may report "
            "the same patients) was excluded, the other kept; the sensitivity analysis "
            "include_possible_duplicates tries it back in"
        )
    paras = [
        f"Protocol: {p.source} (seed {p.seed}). Confidence level {100 * p.level:g}%. "
        f"Analyses with fewer than {p.min_studies} studies were not pooled; subgroups with fewer "
        f"than {p.min_studies_subgroup} studies carry a caution.",
        "Inclusion rules: " + ("; ".join(inc) if inc else "no study excluded by flag") + ". "
        "Excluded studies are listed; where the protocol asks, a sensitivity analysis re-runs the "
        "analysis with them included. Outcome rows flagged not_ais_grade or responders_only never "
        "enter a pooled analysis. For each arm the last reported follow-up is used.",
    ]
    for a in p.analyses:
        extra = []
        if a.subgroups:
            extra.append(
                f"subgroups by {', '.join(a.subgroups)} (test for subgroup differences: "
                "Wald-type Q between subgroup estimates, separate τ²)"
            )
        if a.moderators:
            extra.append(f"meta-regression on {', '.join(a.moderators)}")
        if a.sensitivity:
            extra.append(f"sensitivity analyses: {', '.join(a.sensitivity)}")
        if a.robustness:
            extra.append(
                "funnel plot, Egger's regression test, trim-and-fill, leave-one-out, "
                "influence diagnostics and cumulative meta-analysis by year"
            )
        if a.natural_history == "conversion":
            extra.append(
                "comparison with spontaneous AIS conversion for the same baseline grade, "
                "level and phase"
            )
        if a.natural_history == "scores":
            extra.append("comparison with the spontaneous score change (EMSCI) over the same weeks")
        model = "equal-effects" if a.method in ("EE", "FE") else f"random-effects ({a.method} τ²)"
        if a.model == "glmm":
            model = "binomial-normal GLMM of the counts (ML τ², as metafor rma.glmm)"
        mc = f"; pre–post correlation assumed r = {a.ri}" if a.measure == "MC" else ""
        paras.append(
            f"{a.title} [{a.id}]: {a.design.replace('_', '-')} analysis of outcome '{a.outcome}', "
            f"measure {a.measure}, {model} model, {a.test} test{mc}"
            + (f"; {'; '.join(extra)}" if extra else "")
            + "."
        )
    for s in p.syntheses:
        paras.append(
            f"{s.title} [{s.id}]: synthesis without meta-analysis (SWiM): direction of each "
            f"study's summary effect for {', '.join(s.outcomes)} (rule below, in the synthesis "
            "section); one vote per study, with an exact sign test."
        )
    g = p.grade
    paras.append(
        f"GRADE: randomised evidence starts {g.start_randomised}, non-randomised "
        f"{g.start_nonrandomised}; downgrades for risk of bias (each study's overall judgement "
        "by the tool fitting its design — RoB 2, ROBINS-I, MINORS — weighted by its weight in "
        "the analysis: low 0; some concerns, moderate or no information 0.5; high, serious or "
        f"critical 1; a weighted concern > {g.rob_serious_share:g} downgrades one level, > 0.8 "
        "with more than half the weight at high risk two; 'no information' is the tool's "
        "judgement, not 'not assessed'), inconsistency (I² > "
        f"{g.inconsistency_I2:g}%, > {g.inconsistency_I2_very_serious:g}% very serious, or a "
        f"prediction interval crossing the null), imprecision (fewer than {g.ois_patients} "
        f"patients or a CI including no effect; fewer than {g.min_patients_very_serious} very "
        f"serious), indirectness (single-arm evidence compared with natural history) and "
        f"publication bias (Egger p < {g.egger_alpha:g} when k ≥ {g.egger_min_k}). "
        "Certainty is never upgraded for uncontrolled (single-arm) evidence. The sensitivity "
        "analysis low_risk_of_bias keeps the studies judged at low risk overall; "
        "primary_sources_only leaves out values resting only on a secondary or non-scholarly "
        "source."
    )
    return paras


def _glmm_caveat(rows, entry: dict) -> str:  # noqa: ANN001 - the fit's rows
    """Why a GLMM fit's estimate says little, when its counts cannot identify it (events in
    one study only: :func:`~sci_evidence.review.models.glmm_identification`); "" otherwise
    or for an inverse-variance fit."""
    if "glmm_model" not in entry["pooled"] or not {"xi", "ni"} <= set(rows.columns):
        return ""
    sink: list[tuple[str, str]] = []
    glmm_identification("", rows, sink)
    return sink[0][1].split(";")[0] if sink else ""


def _disagreement(a, name: str, fit, entry: dict) -> str:  # noqa: ANN001
    """For an inverse-variance sensitivity fit of a GLMM analysis: where it disagrees with
    the GLMM (:func:`~sci_evidence.review.models.iv_disagreement`), said in its own row."""
    if not name.startswith("iv_") or "glmm_model" not in entry["pooled"]:
        return ""
    why = iv_disagreement(a.main, fit)
    return "" if why is None else "disagrees with the GLMM: " + why.split(": ", 1)[1]


def _slope_ratios(measure: str, regressions: dict) -> tuple[str | None, dict]:
    """On a log or logit model scale a meta-regression slope reads as a ratio: ``exp(b)``
    with its CI per unit of the moderator (an odds ratio for logit proportions, a ratio of
    risk ratios for log RR). Returns the column name (None where the scale has no ratio) and
    ``{moderator: {term: (ratio, lower, upper)}}`` for every term but the intercept."""
    sc = measure_scale(measure)
    if measure == "PLO":
        name = "odds ratio per unit"
    elif sc.transform == "exp":
        name = f"ratio of {sc.label.lower()}s per unit"
    else:
        return None, {}
    out = {}
    for m, r in regressions.items():
        if isinstance(r, str):
            continue
        out[m] = {
            c["term"]: tuple(float(np.exp(c[f])) for f in ("estimate", "ci_lb", "ci_ub"))
            for c in r.get("coefficients", [])
            if c.get("term") not in (None, "intrcpt")
        }
    return name, out


def _one_study(a, level: float) -> dict:  # noqa: ANN001 - an AnalysisResult
    """For the summary-of-findings row of an analysis resting on one study: that study's
    effect in words (``sof_one``) and its patients, treated + control (``sof_patients``)."""
    text = one_study_effect(a.spec, level, getattr(a, "individual", None))
    if text is None:
        return {}
    n = a.individual.loc[a.individual["status"] == "in the analysis", "n"].iloc[0]
    parts = [] if n is None else str(n).split(" vs ")
    patients = sum(int(x) for x in parts) if parts and all(x.isdigit() for x in parts) else None
    return {"sof_one": text, "sof_patients": patients}


def _analysis_view(
    a, results_by_id: dict, svgs: Mapping, labels: dict, min_sub: int, level: float = 0.95
) -> dict:
    spec = a.spec
    view = {
        "spec": spec,
        "status": a.status,
        "notes": list(a.notes),
        "excluded": [
            {
                **e,
                "label": labels.get(e["study_id"], e["study_id"]),
                "reason": reason_text(e["reason"], labels),
            }
            for e in a.selection.excluded.to_dict(orient="records")
        ],
        "k_rows": len(a.selection.rows),
    }
    if a.main is None:
        view |= individual_view(a) | _one_study(a, level)
        return view
    entry = results_by_id[spec.id]
    view["entry"] = entry
    view["transformed"] = measure_scale(spec.measure).transformed
    rs = reader_scale(spec.measure)
    view["rs"] = rs
    view["digits"] = digits = SCALE_DIGITS.get(rs.name, 2)
    view["reader"] = reader_cells(entry, rs)
    view["has_null"] = measure_scale(spec.measure).null_value is not None
    view["warnings"] = entry.get("warnings", [])
    view["forest"] = svgs.get(f"forest_{spec.id}")
    view["funnel"] = svgs.get(f"funnel_{spec.id}")
    view["nh_svg"] = svgs.get(f"natural_history_{spec.id}")
    view["subgroups"] = []
    for sg in a.subgroups:
        item = {
            "variable": sg.variable,
            "note": sg.note,
            "cautions": list(sg.cautions),
            "svg": svgs.get(f"forest_{spec.id}_by_{sg.variable}"),
            "groups": [],
        }
        if sg.result is not None:
            item["test"] = {
                "Q": sg.result.Q_between,
                "df": sg.result.Q_between_df,
                "p": sg.result.Q_between_pval,
            }
            for g in sg.result.groups:
                gid = f"{spec.id}:{sg.variable}={g}"
                item["groups"].append(
                    {
                        "id": gid,
                        "name": g,
                        "entry": results_by_id[gid],
                        "reader": reader_cells(results_by_id[gid], rs),
                        "caution": results_by_id[gid]["pooled"]["k"] < min_sub,
                    }
                )
        view["subgroups"].append(item)
    view["caveat"] = _glmm_caveat(a.main.rows, entry)
    view["regressions"] = entry.get("meta_regression", {})
    view["slope_ratio"], view["slope_ratios"] = _slope_ratios(spec.measure, view["regressions"])
    view["sensitivity"] = []
    for name, v in a.sensitivity.items():
        if isinstance(v, str):
            view["sensitivity"].append({"name": name, "note": v})
        else:
            view["sensitivity"].append(
                {
                    "name": name,
                    "id": v.id,
                    "title": v.title,
                    "entry": results_by_id[v.id],
                    "reader": reader_cells(results_by_id[v.id], rs),
                    "caveat": _glmm_caveat(v.rows, results_by_id[v.id])
                    or _disagreement(a, name, v, entry),
                }
            )
    view["robustness"] = robustness_view(a, entry, rs, digits)
    if a.natural_history is not None:
        view["nh"] = integer_counts(a.natural_history).to_dict(orient="records")
        view["nh_factor"] = 100.0 if spec.natural_history == "conversion" else 1.0
        view["nh_pooled"] = a.natural_history_pooled
    view["grade"] = a.grade
    return view


def _rob_tools(rob) -> list[dict]:
    """Per risk-of-bias tool: its name, file-name part and number of studies assessed."""
    from sci_evidence.report.figures.rob import TOOLS, rob_tools, tool_slug

    return [
        {
            "name": TOOLS.get(t, t),
            "slug": tool_slug(t),
            "n": int(rob.loc[rob["tool"] == t, "study_id"].nunique()),
        }
        for t in rob_tools(rob)
    ]


def page_document(results: dict) -> dict:
    """The parts of the results document (:meth:`ReviewResult.to_dict`) that the page reads:
    every analysis entry, without the study lists of the sensitivity and subgroup fits (the
    page lists the studies of main analyses only), the key messages and the changes.

    :func:`~sci_evidence.report.writer.write_review` keeps only this once ``results.json``
    is written: at 100 times the bundled evidence it is 13 MiB of the document's 35."""
    return {
        "analyses": [
            e if e.get("parent") is None else {k: v for k, v in e.items() if k != "studies"}
            for e in results["analyses"]
        ],
        "key_messages": results.get("key_messages"),
        "changes": results.get("changes"),
    }


def render_report(
    review, results: dict, svgs: Mapping, *, formats: tuple[str, ...] = ("svg",)
) -> str:
    """The report page as one HTML string; ``formats`` are the figure files written."""
    return "".join(report_chunks(review, results, svgs, formats=formats))


def write_report(
    path, review, results: dict, svgs: Mapping, *, formats: tuple[str, ...] = ("svg",)
) -> None:
    """Write the report page to ``path`` as it is rendered (never the whole page in memory:
    at 100 times the bundled evidence the page is tens of MB of inline SVG)."""
    with open(path, "w", encoding="utf-8") as fh:
        for chunk in report_chunks(review, results, svgs, formats=formats):
            fh.write(chunk)


def report_chunks(review, results: dict, svgs: Mapping, *, formats=("svg",)):
    """The report page, piece by piece (Jinja2's ``generate``). ``svgs``: figure name → its
    inline SVG, as text or as a :class:`~sci_evidence.report.page_figures.FigureSvg` (of
    a ``FigureFiles``), streamed from its file where the page inlines it."""
    results_by_id = {e["id"]: e for e in results["analyses"]}
    views = [
        _analysis_view(
            a,
            results_by_id,
            svgs,
            review.study_labels,
            review.protocol.min_studies_subgroup,
            review.protocol.level,
        )
        for a in review.analyses
    ]
    labels = review.study_labels
    # the table shows the study's label; its id stays in the row's anchor
    char = integer_counts(review.characteristics)
    excluded = [
        {**e, "reason": reason_text(e["reason"], labels)}
        for e in review.excluded.to_dict(orient="records")
    ]
    context = {
        "title": review.protocol.title,
        "key_messages": results.get("key_messages") or [],
        "changes": results.get("changes"),
        "record": review.record,
        "protocol": review.protocol,
        "methods": methods_text(review.protocol),
        "views": views,
        "syntheses": [
            {"spec": spec, "res": res, "rows": res.to_frame().to_dict(orient="records")}
            for spec, res in review.syntheses
        ],
        "count_columns": COUNT_COLUMNS,
        "swim_rule": next((res.rule for _, res in review.syntheses if res.rule), ""),
        "sof": review.summary_of_findings().to_dict(orient="records"),
        "characteristics": _table(char.drop(columns=["study_id"]), table_id="tbl-characteristics"),
        "char_ids": list(char["study_id"]),
        "excluded": excluded,
        "safety": _table(
            integer_counts(review.safety_events.drop(columns=["study_id", "arm_id"])),
            table_id="tbl-safety",
        ),
        "comparisons": review.comparisons.to_dict(orient="records"),
        "analysis_titles": {a.spec.id: a.spec.title for a in review.analyses},
        "svgs": svgs,
        "n_studies": len(char),
        "labels": review.study_labels,
        "figure_files": ", ".join(f".{f}" for f in formats),
        "rob_tools": _rob_tools(review.risk_of_bias),
        "anchor": review.anchor,
        "safety_by_route": review.safety_by_route or (),
        "safety_intro": safety_intro(review),
    }
    return expand_figures(_env().get_template("report.html.j2").generate(**context), svgs)
