"""Write a review's report: figures (SVG inline, PNG/PDF on request), tables (CSV),
``results.json``, ``run_record.json`` and ``report.html`` (and ``report.pdf`` on request).

:func:`write_review` builds the folder beside its target and swaps it in only when every file
is written, so an interrupted or failed run leaves the previous report as it was. Every
number comes from the one serialisation of the results, :meth:`ReviewResult.to_dict`.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from sci_evidence.meta.bias_plots import funnel_plot
from sci_evidence.meta.glmm import GlmmResult
from sci_evidence.meta.plots import forest_plot
from sci_evidence.meta.transforms import measure_scale
from sci_evidence.outputs import atomic_directory
from sci_evidence.report import figures as figs
from sci_evidence.report.figures._save import FORMATS
from sci_evidence.report.results_json import (
    results_document,
    tables_from_results,
    write_results_json,
    write_tables,
)
from sci_evidence.review.results import RAW_COLUMNS, AnalysisResult, Fit, back
from sci_evidence.text import escape_mathtext

__all__ = ["FigureRenderer", "analysis_figures", "forest_for", "write_review"]

#: Formats a report always has (the SVG is inlined in report.html).
REQUIRED_FORMATS = ("svg",)


def axis_label(measure: str) -> str:
    """The axis label of a measure on the scale people read (from the measure table)."""
    scale = measure_scale(measure)
    if scale.scale == "proportion":
        return f"{scale.label} (%)"
    if scale.label.startswith("Mean"):
        return f"{scale.label} (points)"
    return scale.label


def n_text(rows: pd.DataFrame, measure: str) -> list[str]:
    """The n column of a forest plot, from the raw numbers the measure uses."""
    cols = RAW_COLUMNS[measure]
    if cols[0] == "xi":
        return [f"{int(x)}/{int(n)}" for x, n in zip(rows["xi"], rows["ni"], strict=True)]
    if cols[0] == "ai":
        return [
            f"{int(a)}/{int(n1)} vs {int(c)}/{int(n2)}"
            for a, n1, c, n2 in zip(rows["ai"], rows["n1i"], rows["ci"], rows["n2i"], strict=True)
        ]
    if "n1i" in cols:
        return [f"{int(a)} vs {int(b)}" for a, b in zip(rows["n1i"], rows["n2i"], strict=True)]
    return [str(int(n)) for n in rows["ni"]]


def forest_for(fit: Fit, measure: str, subgroup=None, variable: str = ""):
    """The core's forest plot of one fit: n column, proportions in percent (each study's raw
    proportion with its exact Clopper–Pearson interval), ratios on a log axis, and with
    ``subgroup`` (a SubgroupResult of the same rows) one block per group.
    ``variable`` names the grouping column; the blocks come from ``subgroup.group_of``."""
    rows = fit.rows
    scale = measure_scale(measure)
    digits = 2
    if scale.transform == "exp":
        tf = np.exp  # the core recognises exp and draws a log axis labelled in ratios
    elif scale.scale == "proportion":
        tf = lambda v: 100.0 * back(measure, v, rows)  # noqa: E731 - percent, one decimal
        digits = 1
    elif scale.transformed:
        tf = lambda v: back(measure, v, rows)  # noqa: E731
    else:
        tf = None
    if subgroup is not None:
        subgroup = _escaped_groups(subgroup)
    # single proportions: each study drawn as its raw xi/ni with an exact Clopper–Pearson
    # interval, whatever scale the model was fitted on (a 0/1 case report sits at 0%)
    counts = None
    if scale.scale == "proportion" and {"xi", "ni"} <= set(rows.columns):
        counts = (rows["xi"].to_numpy(float), rows["ni"].to_numpy(float))
    return forest_plot(
        fit.result,
        labels=[escape_mathtext(x) for x in rows["label"]],
        columns={"n": n_text(rows, measure)},
        transf=tf,
        xlabel=axis_label(measure),
        subgroups=subgroup,
        refline=scale.null_value,
        show_refline=scale.null_value is not None,
        digits=digits,
        counts=counts,
        # a GLMM has no inverse-variance weights (its 1/(v_i + τ²) shares are display aids)
        show_weights=not isinstance(fit.result, GlmmResult),
    )


FUNNEL_MIN_K = 5


class FigureRenderer:
    """Draws and saves figures, in forked worker processes when that pays.

    Figures are submitted as picklable specs (``kind``, ``name``, arguments) so that an
    analysis' figures can be submitted as soon as it is computed (:meth:`submit_analysis`,
    the review's ``on_analysis``): drawing overlaps with the remaining computation. Each
    figure is drawn once and saved in ``formats`` (SVG always: it is inlined in the page).
    Without ``fork`` (or with ``workers=1``) each figure is drawn when submitted.
    """

    def __init__(
        self,
        fig_dir: str | Path,
        *,
        formats: Iterable[str] = REQUIRED_FORMATS,
        workers: int | None = None,
    ) -> None:
        import multiprocessing as mp

        self.fig_dir = Path(fig_dir)
        self.fig_dir.mkdir(parents=True, exist_ok=True)
        self.formats = check_formats(formats)
        self.names: list[str] = []
        self._pending: list = []
        n = workers or min(os.cpu_count() or 1, 4)
        self._pool = None
        if n > 1 and "fork" in mp.get_all_start_methods():
            # gc.freeze in each worker: the objects inherited at the fork (every imported
            # module) leave the collector's view, so the collection after each figure scans
            # that figure's objects only (a full collection cost ~25 ms a figure, ~1 s of a
            # 1x review)
            self._pool = mp.get_context("fork").Pool(n, initializer=gc.freeze)

    @classmethod
    def beside(cls, out: str | Path, **kw) -> FigureRenderer:
        """A renderer drawing into a hidden folder beside ``out`` (moved into the report by
        :func:`write_review`; removed by :meth:`close` if the run stops first)."""
        out = Path(out)
        parent = out.parent if str(out.parent) else Path(".")
        tmp = tempfile.mkdtemp(prefix=f".{out.name}.figures.", suffix=".tmp", dir=parent)
        renderer = cls(tmp, **kw)
        renderer._owns_dir = True
        return renderer

    _owns_dir = False

    def submit(self, kind: str, name: str, *args) -> None:
        self.names.append(name)
        spec = (kind, name, args, str(self.fig_dir), self.formats)
        if self._pool is not None:
            self._pending.append(self._pool.apply_async(_render_in_worker, spec))
        else:
            render_spec(*spec)

    def submit_analysis(self, a: AnalysisResult) -> None:
        """Submit the figures of one analysis (the review's ``on_analysis`` callback)."""
        analysis_figures(a, self.submit)

    def collect(self) -> list[str]:
        """Wait for every figure; the names drawn, each saved as ``fig_dir/<name>.svg``.

        The SVG text is not kept: the page reads each file when it inlines it (at 100 times
        the bundled evidence the figures are 40+ MB of text)."""
        try:
            for r in self._pending:
                r.get()
        finally:
            self._pending = []
            self._stop(cancel=False)
        return list(self.names)

    def _stop(self, *, cancel: bool) -> None:
        if self._pool is not None:
            if cancel:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers (``cancel``: without waiting for pending figures) and remove a
        hidden drawing folder that was not moved into a report."""
        self._stop(cancel=cancel)
        if self._owns_dir and self.fig_dir.exists():
            shutil.rmtree(self.fig_dir, ignore_errors=True)

    def files(self) -> list[str]:
        return [f"figures/{n}.{ext}" for n in self.names for ext in self.formats]


def _escaped_groups(sg):
    """``sg`` with its group names (data values, drawn as block headers) safe for mathtext."""
    from dataclasses import replace

    name = {g: escape_mathtext(g) for g in sg.groups}
    if all(k == v for k, v in name.items()):
        return sg
    return replace(
        sg,
        groups=tuple(name[g] for g in sg.groups),
        results={name[g]: r for g, r in sg.results.items()},
        group_of=tuple(name.get(g, g) for g in sg.group_of),
    )


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """The figure formats to save: SVG always, then those asked for, in a fixed order."""
    asked = {f.strip().lower() for f in formats if f.strip()}
    unknown = asked - set(FORMATS)
    if unknown:
        from sci_evidence.errors import InputError

        raise InputError(
            f"unknown figure format(s) {', '.join(sorted(unknown))}; use {', '.join(FORMATS)}",
            column="figures",
        )
    return tuple(f for f in FORMATS if f in asked | set(REQUIRED_FORMATS))


def render_spec(
    kind: str, name: str, args: tuple, fig_dir: str, formats: tuple[str, ...] = FORMATS
) -> str:
    """Draw one figure from its spec and save it (top-level so that workers can run it);
    its name. The page inlines the SVG from its file."""
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
    elif kind == "rob_traffic_light_tool":
        fig = figs.rob_traffic_light_tool(*args)
    elif kind == "rob_summary_tool":
        fig = figs.rob_summary_tool(*args)
    elif kind == "prisma":
        fig = figs.prisma_flow(*args)
    elif kind == "safety_route":
        fig = figs.safety_route_figure(*args)
    else:  # pragma: no cover - the kinds are ours
        raise ValueError(kind)
    figs.write_figure(fig, fig_dir, name, formats=formats)
    return name


def _render_in_worker(*spec) -> str:
    """:func:`render_spec` in a pool worker. It sends back the figure's name only: the page
    reads the SVG from its file, and results held by the pool would keep every SVG text alive
    in the main process. Then the figure's memory goes back to the system, so that a worker's
    size is that of its largest figure, not the sum of the heap its figures left behind."""
    try:
        return render_spec(*spec)
    finally:
        gc.collect()  # a figure is a web of reference cycles: only the collector frees it
        _trim_heap()


def _trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim; nothing where
    there is no glibc)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


FUNNEL_MIN_K = 5


def analysis_figures(a: AnalysisResult, submit: Callable) -> None:
    """Submit the figures of one analysis: forest, subgroup forests, funnel, natural history."""
    if a.main is None:
        return
    sid, m = a.spec.id, a.spec.measure
    scale = measure_scale(m)
    submit("forest", f"forest_{sid}", a.main, m)
    for sg in a.subgroups:
        if sg.result is not None:
            submit("forest", f"forest_{sid}_by_{sg.variable}", a.main, m, sg.result, sg.variable)
    # a funnel of fewer than 5 studies shows nothing (and Egger is not used below 10)
    if a.robustness and a.main.result.k >= FUNNEL_MIN_K:
        tf = a.robustness.get("trim_and_fill")
        filled = None if isinstance(tf, str) else tf
        xlabel = f"{scale.analysis_label} ({m})"
        # significance contours around the null where the measure has one, else the pseudo
        # confidence region around the pooled estimate
        # the funnel belongs to the model trim-and-fill ran on (logit IV beside a GLMM)
        iv = a.diagnostics_fit if a.diagnostics_fit is not None else a.main.result
        submit("funnel", f"funnel_{sid}", iv, filled, xlabel,
               scale.null_value is not None)  # fmt: skip
    if a.natural_history is not None and len(a.natural_history):
        if a.spec.natural_history == "conversion":
            submit("nh_conversion", f"natural_history_{sid}", a.natural_history,
                   a.natural_history_pooled)  # fmt: skip
        else:
            submit("nh_scores", f"natural_history_{sid}", a.natural_history,
                   axis_label("MC"))  # fmt: skip


def write_review(
    review,
    out: str | Path,
    *,
    figures: Iterable[str] = REQUIRED_FORMATS,
    pdf: bool = False,
    renderer: FigureRenderer | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Write the report of ``review`` (a :class:`~sci_evidence.review.results.ReviewResult`)
    into the folder ``out``; return the relative paths written.

    The folder is built beside ``out`` and swapped in when complete: on any failure or
    interruption an existing ``out`` is left as it was and nothing partial remains.

    Parameters
    ----------
    figures : iterable of {"svg", "png", "pdf"}
        Figure files to save (SVG always; it is also inlined in ``report.html``).
    pdf : bool
        Also write ``report.pdf``.
    renderer : FigureRenderer, optional
        One made with :meth:`FigureRenderer.beside` that already draws the analyses'
        figures (submitted while they were computed); its formats are used.
    progress : callable, optional
        ``progress(step)`` after the figures and after the page.
    """
    t0 = time.perf_counter()
    own = renderer is None
    try:
        with atomic_directory(out) as work:
            if own:
                renderer = FigureRenderer(work / "figures", formats=figures)
                for a in review.analyses:
                    analysis_figures(a, renderer.submit)
            files = _write_into(review, work, renderer, pdf=pdf, progress=progress)
            (work / "run_record.json").write_text(
                json.dumps(
                    {
                        **review.record.to_dict(),
                        "write_seconds": round(time.perf_counter() - t0, 3),
                        "protocol": review.protocol.to_dict(),
                        "files": files,
                    },
                    indent=2,
                ),
                encoding="utf-8",
            )
    except BaseException:
        if renderer is not None:
            renderer.close(cancel=True)
        raise
    return files


def _write_into(review, work: Path, renderer: FigureRenderer, *, pdf, progress) -> list[str]:
    pooled_ids = sorted(
        {s for a in review.analyses if a.main is not None for s in a.main.rows["study_id"]}
    )
    order = pooled_ids + [s for s in review.characteristics["study_id"] if s not in pooled_ids]
    rob = review.risk_of_bias
    tools = figs.rob_tools(rob)
    if not tools:
        renderer.submit("rob_traffic_light", "rob_traffic_light", rob, order, review.study_labels)
        renderer.submit("rob_summary", "rob_summary", rob, order)
    # robvis draws one traffic-light and one weighted summary plot per tool; the summary is
    # weighted by participants (treated + control)
    chars = review.characteristics
    participants = {
        sid: float(np.nansum([t, c]))
        for sid, t, c in zip(
            chars["study_id"],
            pd.to_numeric(chars["n_treated"], errors="coerce"),
            pd.to_numeric(chars["n_control"], errors="coerce"),
            strict=True,
        )
    }
    for tool in tools:
        slug = figs.tool_slug(tool)
        renderer.submit(
            "rob_traffic_light_tool",
            f"rob_traffic_light_{slug}",
            rob,
            tool,
            review.study_labels,
            order,
        )
        renderer.submit("rob_summary_tool", f"rob_summary_{slug}", rob, tool, participants)
    renderer.submit("prisma", "prisma_flow", review.prisma, dict(review.study_labels))
    for s in review.safety_by_route or ():
        renderer.submit("safety_route", f"safety_route_{s.analysis_id}", s)
    # tables and results.json are written while the workers draw
    results = results_document(review)
    files = write_tables(tables_from_results(review, results), work / "tables")
    write_results_json(results, work / "results.json")
    files.append("results.json")
    from sci_evidence.report.html import page_document, write_report
    from sci_evidence.report.page_figures import FigureFiles

    # what the page reads, the rest freed before it is rendered
    results = page_document(results)
    names = renderer.collect()
    if renderer.fig_dir != work / "figures":
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(work / "figures")
        os.replace(renderer.fig_dir, work / "figures")
        renderer.fig_dir, renderer._owns_dir = work / "figures", False
    files = renderer.files() + files
    if progress:
        progress("figures")
    # each figure's SVG is read from its file where the page inlines it (never all at once)
    svgs = FigureFiles(work / "figures", names)
    write_report(work / "report.html", review, results, svgs, formats=renderer.formats)
    del results, svgs
    files.append("report.html")
    if progress:
        progress("report")
    if pdf:
        from sci_evidence.report.pdf import write_pdf

        written = write_pdf(work, review)
        if written:
            files.append(written)
    files.append("run_record.json")
    return files
