"""Write a review's outputs: figures (PNG, SVG, PDF), tables (CSV), ``results.json`` and
``report.html`` (and ``report.pdf`` on request)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sci_evidence.meta import back_transform
from sci_evidence.meta.bias_plots import funnel_plot
from sci_evidence.meta.plots import forest_plot
from sci_evidence.report import figures as figs
from sci_evidence.review.analyses import AnalysisResult, Fit
from sci_evidence.review.protocol import TRANSFORMED_MEASURES

_XLABEL = {
    "PLO": "Proportion improved",
    "PFT": "Proportion",
    "PR": "Proportion",
    "PAS": "Proportion",
    "RR": "Risk ratio (MSC vs control)",
    "RD": "Risk difference (MSC − control)",
    "OR": "Odds ratio",
    "MD": "Mean difference (points)",
    "SMD": "Standardised mean difference",
    "MC": "Mean change from baseline (points)",
    "MN": "Mean (points)",
}


def transf_for(measure: str, rows: pd.DataFrame):
    if measure not in TRANSFORMED_MEASURES:
        return None
    ni = rows["ni"].to_numpy(float) if measure == "PFT" else None
    if measure == "PFT":
        return lambda v: back_transform("PFT", np.asarray(v, float), ni=ni)
    return lambda v: back_transform(measure, np.asarray(v, float))


def n_text(rows: pd.DataFrame, measure: str) -> list[str]:
    if measure in ("PLO", "PFT", "PR", "PAS"):
        return [f"{int(x)}/{int(n)}" for x, n in zip(rows["xi"], rows["ni"], strict=True)]
    if measure in ("RR", "RD", "OR"):
        return [
            f"{int(a)}/{int(n1)} vs {int(c)}/{int(n2)}"
            for a, n1, c, n2 in zip(rows["ai"], rows["n1i"], rows["ci"], rows["n2i"], strict=True)
        ]
    if measure in ("MD", "SMD"):
        return [f"{int(a)} vs {int(b)}" for a, b in zip(rows["n1i"], rows["n2i"], strict=True)]
    return [str(int(n)) for n in rows["ni"]]


_PROPORTIONS = ("PLO", "PFT", "PR", "PAS")
#: Null value of each measure on the axis drawn (ratios: 1 on their back-transformed axis);
#: measures without one (proportions, means) get no reference line and no funnel contours.
_REFLINE = {"RR": 1.0, "OR": 1.0, "RD": 0.0, "MD": 0.0, "SMD": 0.0, "MC": 0.0}


def forest_for(fit: Fit, measure: str, subgroup=None, variable: str = ""):
    """The core's forest plot of one fit: n column, proportions in percent, ratios on a
    log axis, and with ``subgroup`` (a SubgroupResult of the same rows) one block per group.
    ``variable`` names the grouping column; the blocks come from ``subgroup.group_of``."""
    rows = fit.rows
    digits = 2
    if measure in ("RR", "OR"):
        tf = np.exp  # the core recognises exp and draws a log axis labelled in ratios
    elif measure in _PROPORTIONS:
        back = transf_for(measure, rows)
        tf = lambda v: 100.0 * back(v)  # noqa: E731 - percent, one decimal
        digits = 1
    else:
        tf = transf_for(measure, rows)
    xlabel = _XLABEL.get(measure, "")
    if measure in _PROPORTIONS:
        xlabel = f"{xlabel} (%)"
    return forest_plot(
        fit.result,
        labels=list(rows["label"]),
        columns={"n": n_text(rows, measure)},
        transf=tf,
        xlabel=xlabel,
        subgroups=subgroup,
        refline=_REFLINE.get(measure),
        show_refline=measure in _REFLINE,
        digits=digits,
    )


FUNNEL_MIN_K = 5


class FigureRenderer:
    """Draws and saves figures, in forked worker processes when that pays.

    Figures are submitted as picklable specs (``kind``, ``name``, arguments) so that the
    pipeline can submit an analysis' figures as soon as it is computed: rendering (three
    formats per figure) dominates the run time and overlaps with the remaining computation.
    Without ``fork`` (or with ``workers=1``) each figure is drawn when submitted.
    """

    def __init__(self, fig_dir: Path, *, workers: int | None = None) -> None:
        import multiprocessing as mp
        import os

        self.fig_dir = Path(fig_dir)
        self.fig_dir.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []
        self._pending: list = []
        self._done: dict[str, str] = {}
        n = workers or min(os.cpu_count() or 1, 4)
        self._pool = None
        if n > 1 and "fork" in mp.get_all_start_methods():
            self._pool = mp.get_context("fork").Pool(n)

    def submit(self, kind: str, name: str, *args) -> None:
        self.names.append(name)
        if self._pool is not None:
            self._pending.append(
                self._pool.apply_async(render_spec, (kind, name, args, str(self.fig_dir)))
            )
        else:
            self._done[name] = render_spec(kind, name, args, str(self.fig_dir))[1]

    def collect(self) -> dict[str, str]:
        """Wait for every figure; name → inline SVG."""
        try:
            for r in self._pending:
                name, svg = r.get()
                self._done[name] = svg
        finally:
            self.close()
        return dict(self._done)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def files(self) -> list[str]:
        return [f"figures/{n}.{ext}" for n in self.names for ext in ("png", "svg", "pdf")]


def render_spec(kind: str, name: str, args: tuple, fig_dir: str) -> tuple[str, str]:
    """Draw one figure from its spec and save it (top-level so that workers can run it)."""
    if kind == "forest":
        fig = forest_for(*args)
    elif kind == "funnel":
        res, filled, xlabel, contours = args
        fig = funnel_plot(res, contours=contours, filled=filled, xlabel=xlabel)
    elif kind == "nh_conversion":
        fig = figs.conversion_figure(args[0], pooled=args[1])
    elif kind == "nh_scores":
        fig = figs.score_change_figure(args[0], xlabel=args[1])
    elif kind == "rob_traffic_light":
        fig = figs.rob_traffic_light(*args)
    elif kind == "rob_summary":
        fig = figs.rob_summary(*args)
    elif kind == "prisma":
        fig = figs.prisma_flow(*args)
    else:  # pragma: no cover - the kinds are ours
        raise ValueError(kind)
    return name, figs.save_figure(fig, fig_dir, name)


def analysis_figures(a: AnalysisResult, submit) -> None:
    """Submit the figures of one analysis: forest, subgroup forests, funnel, natural history."""
    if a.main is None:
        return
    sid, m = a.spec.id, a.spec.measure
    submit("forest", f"forest_{sid}", a.main, m)
    for sg in a.subgroups:
        if sg.result is not None:
            submit("forest", f"forest_{sid}_by_{sg.variable}", a.main, m, sg.result, sg.variable)
    # a funnel of fewer than 5 studies shows nothing (and Egger is not used below 10)
    if a.robustness and a.main.result.k >= FUNNEL_MIN_K:
        tf = a.robustness.get("trim_and_fill")
        filled = None if isinstance(tf, str) else tf
        xlabel = f"{_XLABEL.get(m, '')} ({m} scale)"
        # significance contours around the null where the measure has one, else the pseudo
        # confidence region around the pooled estimate
        submit("funnel", f"funnel_{sid}", a.main.result, filled, xlabel, m in _REFLINE)
    if a.natural_history is not None and len(a.natural_history):
        if a.spec.natural_history == "conversion":
            submit("nh_conversion", f"natural_history_{sid}", a.natural_history,
                   a.natural_history_pooled)  # fmt: skip
        else:
            submit("nh_scores", f"natural_history_{sid}", a.natural_history, _XLABEL["MC"])


def write_outputs(
    review,
    out: Path,
    *,
    progress: Callable[[str], None] | None = None,
    pdf: bool = False,
    renderer: FigureRenderer | None = None,
) -> list[str]:
    """Write every output file of ``review`` under ``out``; return the relative paths.

    ``renderer`` may already hold the analyses' figures (submitted while they were
    computed); otherwise they are submitted here.
    """
    out.mkdir(parents=True, exist_ok=True)
    tab_dir = out / "tables"
    tab_dir.mkdir(exist_ok=True)
    if renderer is None:
        renderer = FigureRenderer(out / "figures")
        for a in review.analyses:
            analysis_figures(a, renderer.submit)
    try:
        pooled_ids = sorted(
            {s for a in review.analyses if a.main is not None for s in a.main.rows["study_id"]}
        )
        order = pooled_ids + [s for s in review.characteristics["study_id"] if s not in pooled_ids]
        renderer.submit(
            "rob_traffic_light", "rob_traffic_light", review.risk_of_bias, order,
            review.study_labels,
        )  # fmt: skip
        renderer.submit("rob_summary", "rob_summary", review.risk_of_bias, order)
        renderer.submit("prisma", "prisma_flow", review.prisma)
        # tables and results.json are written while the workers draw
        files: list[str] = []
        tables = _tables(review)
        for name, df in tables.items():
            df.to_csv(tab_dir / f"{name}.csv", index=False)
            files.append(f"tables/{name}.csv")
        results = review.to_dict()
        (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False), "utf-8")
        files.append("results.json")
        svgs = renderer.collect()
    finally:
        renderer.close()
    files = renderer.files() + files
    if progress:
        progress("figures")
    from sci_evidence.report.html import render_report

    (out / "report.html").write_text(render_report(review, results, svgs, tables), "utf-8")
    files.append("report.html")
    if progress:
        progress("report")
    if pdf:
        from sci_evidence.report.pdf import write_pdf

        written = write_pdf(out, review, tables)
        if written:
            files.append(written)
    files.append("run_record.json")
    return files


def _tables(review) -> dict[str, pd.DataFrame]:
    t: dict[str, pd.DataFrame] = {}
    t["study_characteristics"] = review.characteristics
    rows = []
    for a in review.analyses:
        if a.main is None:
            rows.append({"analysis_id": a.spec.id, "title": a.spec.title, "status": a.status})
            continue
        r = a.main.result
        bt = (
            back_transform(
                a.spec.measure,
                [r.estimate, r.ci_lb, r.ci_ub],
                ni=a.main.rows["ni"].to_numpy(float) if a.spec.measure == "PFT" else None,
            )
            if a.spec.measure in TRANSFORMED_MEASURES
            else [np.nan] * 3
        )
        rows.append(
            {
                "analysis_id": a.spec.id,
                "title": a.spec.title,
                "status": a.status,
                "measure": a.spec.measure,
                "k": r.k,
                "estimate": r.estimate,
                "ci_lb": r.ci_lb,
                "ci_ub": r.ci_ub,
                "pi_lb": r.pi_lb,
                "pi_ub": r.pi_ub,
                "tau2": r.tau2,
                "I2": r.I2,
                "Q": r.Q,
                "Q_pval": r.Q_pval,
                "estimate_bt": bt[0],
                "ci_lb_bt": bt[1],
                "ci_ub_bt": bt[2],
                "certainty": a.grade.certainty if a.grade else "",
            }
        )
    t["pooled_results"] = pd.DataFrame(rows)
    srows = []
    for a in review.analyses:
        for sg in a.subgroups:
            if sg.result is None:
                srows.append(
                    {
                        "analysis_id": a.spec.id,
                        "variable": sg.variable,
                        "group": "",
                        "note": sg.note,
                        "caution": "; ".join(sg.cautions),
                    }
                )
                continue
            for g in sg.result.groups:
                r = sg.result.results[g]
                srows.append(
                    {
                        "analysis_id": a.spec.id,
                        "variable": sg.variable,
                        "group": g,
                        "k": r.k,
                        "estimate": r.estimate,
                        "ci_lb": r.ci_lb,
                        "ci_ub": r.ci_ub,
                        "I2": r.I2,
                        "Q_between": sg.result.Q_between,
                        "Q_between_pval": sg.result.Q_between_pval,
                        "caution": "fewer than 3 studies"
                        if r.k < review.protocol.min_studies_subgroup
                        else "",
                    }
                )
    t["subgroups"] = pd.DataFrame(srows)
    t["summary_of_findings"] = review.summary_of_findings()
    t["natural_history_comparison"] = pd.concat(
        [
            a.natural_history.assign(analysis_id=a.spec.id)
            for a in review.analyses
            if a.natural_history is not None and len(a.natural_history)
        ]
        or [pd.DataFrame()],
        ignore_index=True,
    )
    sw = []
    for spec, res in review.syntheses:
        sw.append(res.to_frame().assign(synthesis_id=spec.id))
    t["swim_direction_of_effect"] = pd.concat(sw or [pd.DataFrame()], ignore_index=True)
    t["swim_sign_tests"] = pd.DataFrame(
        [
            {
                "synthesis_id": spec.id,
                "title": spec.title,
                "studies": res.n_studies,
                "benefit": res.n_benefit,
                "harm": res.n_harm,
                "no_change": res.n_no_change,
                "unclear": res.n_unclear,
                "proportion_benefit": res.proportion,
                "ci_lb": res.ci_lb,
                "ci_ub": res.ci_ub,
                "sign_test_p": res.p_value,
            }
            for spec, res in review.syntheses
        ]
    )
    t["published_comparison"] = review.comparisons
    t["serious_adverse_events"] = review.safety_events
    t["excluded_studies"] = review.excluded
    loo = []
    for a in review.analyses:
        v = a.robustness.get("leave_one_out") if a.robustness else None
        if v is not None and not isinstance(v, str) and hasattr(v, "to_frame"):
            loo.append(v.to_frame().reset_index().assign(analysis_id=a.spec.id))
    if loo:
        t["leave_one_out"] = pd.concat(loo, ignore_index=True)
    return t
