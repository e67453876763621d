"""The live analysis: one protocol analysis over the filtered evidence, its forest plot and
the data behind it.

Nothing is computed here that the review does not compute: the rows come from
:func:`sci_evidence.review.analyses.run_analysis` (the same selection, effect sizes, model,
subgroup test and GRADE as the report), the figure from
:func:`sci_evidence.report.writer.forest_for` (the report's forest plot, drawn by the core's
``forest_plot``). The web only turns off the slow extras (robustness, sensitivity,
meta-regression, natural history) and keeps the one subgroup variable the user picked.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import pandas as pd

from sci_evidence.web.filters import StudyFilter, apply

#: Subgroup variables offered (columns of the review's selection rows).
SUBGROUP_VARIABLES = (
    "baseline_group",
    "route",
    "cell_source",
    "injury_phase",
    "auto_allo",
    "controlled",
    "design",
)

# matplotlib's pyplot state is global: one figure is drawn at a time.
DRAW_LOCK = threading.Lock()


@dataclass(frozen=True)
class LiveAnalysis:
    """One analysis over filtered evidence."""

    analysis_id: str
    title: str
    measure: str
    status: str  # "pooled", "single study", "no data"
    k: int
    effect: str  # pooled effect with CI on the reader's scale ("" when not pooled)
    pooled: dict  # results.json's pooled block (estimate, CI, PI, tau², I², Q; back-transformed)
    model: str
    certainty: str
    subgroup: str
    subgroup_test: dict | None  # Q_between, df, p, groups (k and effect each)
    notes: tuple[str, ...]
    svg: str  # inline SVG of the forest plot ("" when not pooled)
    n_studies_in_filter: int
    result: object  # the AnalysisResult (for downloads)


def analysis_choices(protocol) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(a.id, a.title) for a in protocol.analyses]


def _live_spec(protocol, analysis_id: str, subgroup: str):  # noqa: ANN001, ANN202
    spec = protocol.analysis(analysis_id)
    return replace(
        spec,
        subgroups=(subgroup,) if subgroup else (),
        moderators=(),
        sensitivity=(),
        robustness=False,
        natural_history="none",
    )


def compute(
    evidence, protocol, analysis_id: str, f: StudyFilter, subgroup: str = "", arms=None
) -> LiveAnalysis:  # noqa: ANN001
    """Run ``analysis_id`` of ``protocol`` on ``evidence`` filtered by ``f``.

    Raises KeyError for an unknown analysis id and ValueError for an unknown subgroup variable.
    """
    from sci_evidence.review.analyses import effect_text, run_analysis
    from sci_evidence.review.pipeline import overall_rob, plain_strings

    if subgroup and subgroup not in SUBGROUP_VARIABLES:
        raise ValueError(subgroup)
    spec = _live_spec(protocol, analysis_id, subgroup)
    ev = plain_strings(apply(evidence, f, arms))
    a = run_analysis(ev, spec, protocol, rob=overall_rob(ev.risk_of_bias))
    svg = ""
    effect = ""
    pooled: dict = {}
    model = ""
    certainty = ""
    sub_test = None
    sub_note = ()
    if a.main is not None:
        res = a.main.result
        effect = effect_text(res, spec.measure, a.main.rows)
        pooled = a.main.pooled()
        model = (
            f"random effects, τ² by {res.method}, {res.test} test"
            if res.method != "FE"
            else f"fixed (common) effect, {res.test} test"
        )
        if spec.model == "glmm":  # single proportions: the GLMM of the counts
            model = f"binomial-normal GLMM of the counts, τ² by {res.method}, {res.test} test"
        certainty = a.grade.certainty if a.grade is not None else ""
        sg = a.subgroups[0] if a.subgroups else None
        if sg is not None:
            sub_note = tuple(sg.cautions) + ((sg.note,) if sg.note else ())
            if sg.result is not None:
                r = sg.result
                sub_test = {
                    "variable": subgroup,
                    "Q_between": float(r.Q_between),
                    "df": int(r.Q_between_df),
                    "pval": float(r.Q_between_pval),
                    "tau2_mode": r.tau2_mode,
                    "groups": [
                        {
                            "group": g,
                            "k": int(r.results[g].k),
                            "effect": effect_text(
                                r.results[g],
                                spec.measure,
                                a.main.rows[[x == g for x in r.group_of]],
                            ),
                        }
                        for g in r.groups
                    ],
                }
        svg = render_figure(a, sg.result if sg is not None else None, subgroup, "svg").decode()
    return LiveAnalysis(
        analysis_id=spec.id,
        title=spec.title,
        measure=spec.measure,
        status=a.status,
        k=a.k,
        effect=effect,
        pooled=pooled,
        model=model,
        certainty=certainty,
        subgroup=subgroup,
        subgroup_test=sub_test,
        notes=tuple(a.notes) + sub_note,
        svg=svg,
        n_studies_in_filter=len(ev.studies),
        result=a,
    )


def render_figure(a, subgroup_result, variable: str, fmt: str) -> bytes:  # noqa: ANN001
    """The report's forest plot of ``a`` as SVG (inline-safe), PNG or PDF bytes.

    Study labels are stored user text: ``$`` is escaped so matplotlib never reads mathtext.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sci_evidence.report.figures import inline_svg
    from sci_evidence.report.writer import forest_for
    from sci_evidence.text import escape_mathtext

    fit = a.main
    fit = replace(fit, rows=fit.rows.assign(label=[escape_mathtext(x) for x in fit.rows["label"]]))
    with DRAW_LOCK:
        fig = forest_for(fit, a.spec.measure, subgroup_result, variable)
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format=fmt, **({"dpi": 150} if fmt == "png" else {}))
        finally:
            plt.close(fig)
    data = buf.getvalue()
    if fmt == "svg":
        return inline_svg(data.decode("utf-8"), prefix="forest").encode("utf-8")
    return data


def data_frame(live: LiveAnalysis) -> pd.DataFrame:
    """The rows behind the forest plot: study, arm, raw numbers, yi, vi, weight (%)."""
    from sci_evidence.outputs import csv_safe_cell
    from sci_evidence.review.analyses import RAW_COLUMNS

    a = live.result
    if a.main is None:
        return pd.DataFrame(columns=["study_id", "label", "arm_id", "yi", "vi", "weight_percent"])
    rows = a.main.rows
    cols = ["study_id", "label", "arm_id"] + [c for c in RAW_COLUMNS[live.measure] if c in rows]
    out = rows[cols].copy()
    out["yi"] = rows["yi"].to_numpy(float)
    out["vi"] = rows["vi"].to_numpy(float)
    w = a.main.result.weights
    out["weight_percent"] = 100.0 * w / w.sum()
    if live.subgroup and live.subgroup in rows:
        out[live.subgroup] = rows[live.subgroup].astype(str)
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(object).map(csv_safe_cell)
    return out


class AnalysisCache:
    """Least-recently-used cache of live analyses, keyed by data version and view.

    :meth:`get_or_compute` computes a missing view once however many requests ask for it at
    the same time (the others wait for that result instead of drawing it again).
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get_or_compute(self, key, compute):  # noqa: ANN001, ANN201
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            event = self._pending.get(key)
            owner = event is None
            if owner:
                event = self._pending[key] = threading.Event()
        if not owner:
            event.wait(timeout=120)
            value = self.get(key)
            if value is not None:
                return value
            return compute()  # the first computation failed: try on our own
        try:
            value = compute()
            self.put(key, value)
            return value
        finally:
            with self._lock:
                self._pending.pop(key, None)
            event.set()

    def get(self, key):  # noqa: ANN001, ANN201
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:  # noqa: ANN001
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
