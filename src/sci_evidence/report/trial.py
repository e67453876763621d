"""The trial report writer: a trial analysis (:mod:`sci_evidence.trials.analysis`) written to a
directory as ``summary.json``, CSV tables, figures (PNG and SVG) and an HTML summary (Jinja2).

The trials compute; this edge module writes (as :mod:`sci_evidence.report.writer` does for
the review)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import jinja2

from sci_evidence.trials.analysis import CHANGE_SCORES, TrialAnalysis

_TEMPLATE_DIR = Path(__file__).parent / "templates"  # trial_report.html.j2


def _num(x) -> str:
    try:
        return f"{float(x):.2f}"
    except (TypeError, ValueError):
        return "–"


def _pct(x) -> str:
    try:
        return f"{100 * float(x):.1f}%"
    except (TypeError, ValueError):
        return "–"


def _pv(x) -> str:
    try:
        return f"{float(x):.3g}"
    except (TypeError, ValueError):
        return "–"


def _csv_safe(frame):
    """The frame with its text cells neutralised against spreadsheet formulas (OWASP)."""
    from sci_evidence.outputs import csv_safe_cell

    return frame.map(csv_safe_cell)


def write_analysis(
    analysis: TrialAnalysis, out_dir: str | Path, *, title: str = "trial", study_id: str = "trial"
) -> dict[str, Path]:
    """Write ``summary.json``, CSVs, figures and ``index.html`` into ``out_dir``.

    Returns the paths written, by name.
    """
    out = Path(out_dir)
    figs = out / "figures"
    ev = out / "evidence"
    for d in (out, figs, ev):
        d.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    summary = analysis.to_dict()
    p = out / "summary.json"
    p.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written["summary"] = p
    tables = {
        "patients": analysis.patients,
        "exams": analysis.exams,
        "arms": analysis.arms_frame(),
        "transitions": analysis.transitions_frame(),
    }
    if analysis.natural_history:
        tables["natural_history"] = analysis.natural_history_frame()
    if analysis.benchmarks is not None:
        tables["benchmarks"] = analysis.benchmarks
    for name, frame in tables.items():
        p = out / f"{name}.csv"
        _csv_safe(frame).to_csv(p, index=False)
        written[name] = p
    for name, frame in analysis.evidence_rows(study_id).items():
        p = ev / f"{name}.csv"
        _csv_safe(frame).to_csv(p, index=False)
        written[f"evidence_{name}"] = p
    figures = {
        "transitions": analysis.plot_transitions(),
        "trajectories_TMS": analysis.plot_trajectories("TMS"),
        "trajectories_LEMS": analysis.plot_trajectories("LEMS"),
        "trajectories_UEMS": analysis.plot_trajectories("UEMS"),
        "natural_history": analysis.plot_natural_history(),
    }
    for name, fig in figures.items():
        for ext in ("png", "svg"):
            p = figs / f"{name}.{ext}"
            fig.savefig(p, dpi=120)
            written[f"figure_{name}_{ext}"] = p
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("trial_report.html.j2")

    def cols(a):
        seen: list[str] = []
        for t in a.transitions.values():
            for f in t:
                if f not in seen:
                    seen.append(f)
        return sorted(seen)

    page = template.render(
        title=html.unescape(title),
        n_patients=len(analysis.patients),
        n_exams=len(analysis.exams),
        excluded=analysis.excluded,
        arms=analysis.arms,
        scores=CHANGE_SCORES,
        nh=analysis.natural_history,
        cmp=analysis.comparison,
        settings=analysis.settings,
        level=f"{analysis.settings.get('level', 0.95):.0%}",
        ci_method=analysis.settings.get("ci_method", ""),
        num=_num,
        pct=_pct,
        pv=_pv,
        cols=cols,
    )
    p = out / "index.html"
    p.write_text(page, encoding="utf-8")
    written["html"] = p
    return written
