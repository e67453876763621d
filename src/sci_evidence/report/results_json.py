"""``results.json`` and the CSV tables: both read the one serialisation of a review.

``results_document(review)`` is :meth:`~sci_evidence.review.results.ReviewResult.to_dict`
(its layout is documented in :mod:`sci_evidence.review.results`): every pooled number, with
``converged`` and ``n_iter``, comes from the core's ``PoolResult.to_dict()``; leave-one-out and
cumulative results in one column-wise shape. The tables take the numbers of every fit from that
document; the listings (characteristics, safety, exclusions) are the review's own frames.
Text cells are neutralised against spreadsheet formulas (:func:`sci_evidence.outputs.
csv_safe_cell`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sci_evidence.outputs import csv_safe_cell
from sci_evidence.report.scales import integer_counts, reader_scale, robustness_frame

__all__ = [
    "csv_safe_frame",
    "results_document",
    "tables_from_results",
    "write_results_json",
    "write_tables",
]


def results_document(review) -> dict:
    """The ``results.json`` document of a review (JSON-safe)."""
    return review.to_dict()


def write_results_json(document: dict, path: Path) -> None:
    """Write the document (strict JSON: no NaN), the text of ``json.dumps(document,
    indent=1)`` in pieces: at 100 times the bundled evidence it is 17 MB, which ``dumps``
    holds whole and as its million fragments at once (+60 MiB)."""
    encoder = json.JSONEncoder(indent=1, allow_nan=False)
    with open(path, "w", encoding="utf-8") as fh:
        piece: list[str] = []
        for chunk in encoder.iterencode(document):
            piece.append(chunk)
            if len(piece) == _JSON_PIECE:
                fh.write("".join(piece))
                piece.clear()
        fh.write("".join(piece))


#: Fragments of the JSON encoder joined per write (~0.1 MB of text: few writes, little held).
_JSON_PIECE = 16384


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> list[str]:
    """Write each table as ``folder/<name>.csv``; return the paths relative to the report."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    files = []
    for name, df in tables.items():
        csv_safe_frame(df).to_csv(folder / f"{name}.csv", index=False)
        files.append(f"{folder.name}/{name}.csv")
    return files


def csv_safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell neutralised against spreadsheet formulas (numbers kept)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].map(csv_safe_cell).astype(object)
    return out


def _reader(p: dict, rs) -> dict:
    """Estimate, CI and PI of a ``pooled`` entry on the reader's scale (``rs``)."""
    src = p.get("back_transformed") or p
    return {
        f: (np.nan if src.get(f) is None else rs.factor * src[f])
        for f in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
    }


#: Natural-history columns that are proportions (conversion analyses) or score points.
_NH_VALUES = ("observed", "ci_lb", "ci_ub", "expected", "excess", "excess_lb", "excess_ub")


_PUBLISHED_VALUES = ("ours", "ours_ci_lb", "ours_ci_ub", "theirs", "theirs_ci_lb")
_PUBLISHED_VALUES += ("theirs_ci_ub", "difference")


def _published_reader(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Our pooled numbers beside the published ones, proportions in percent (``scale``)."""
    out = integer_counts(comparisons)
    if out.empty or "measure_theirs" not in out.columns:
        return out
    prop = (out["measure_theirs"] == "proportion").to_numpy()
    for c in _PUBLISHED_VALUES:
        if c in out.columns:
            v = pd.to_numeric(out[c], errors="coerce")
            out[c] = np.where(prop, 100.0 * v, v)
    out.insert(out.columns.get_loc("ours"), "scale", np.where(prop, "%", out["measure_theirs"]))
    return out


def _nh_reader(a) -> pd.DataFrame:
    """The natural-history comparison of one analysis on the reader's scale."""
    nh = integer_counts(a.natural_history.assign(analysis_id=a.spec.id))
    conversion = a.spec.natural_history == "conversion"
    for c in _NH_VALUES:
        if c in nh.columns and conversion:
            nh[c] = 100.0 * pd.to_numeric(nh[c], errors="coerce")
    nh.insert(nh.columns.get_loc("observed") if "observed" in nh else 0, "scale",
              "%" if conversion else "points")  # fmt: skip
    return nh


def tables_from_results(review, results: dict) -> dict[str, pd.DataFrame]:
    """The CSV tables; the numbers of every fit come from ``results`` (the document of
    :meth:`ReviewResult.to_dict`), the listings are the review's own frames.

    Every estimate and interval is on the reader's scale (:mod:`sci_evidence.report.scales`:
    ratios as ratios, proportions and risk differences in percent), named in a ``scale``
    column; τ² stays on the model scale, named in ``model_scale``; the pooled table keeps the
    model-scale estimate and interval as ``*_model`` for checking against metafor. Counts are
    integers."""
    by_id = {e["id"]: e for e in results["analyses"]}
    min_sub = review.protocol.min_studies_subgroup
    t: dict[str, pd.DataFrame] = {"study_characteristics": integer_counts(review.characteristics)}
    rows, srows, loo, cum = [], [], [], []
    for a in review.analyses:
        aid = a.spec.id
        if aid not in by_id:
            rows.append({"analysis_id": aid, "title": a.spec.title, "status": a.status})
            continue
        e = by_id[aid]
        p = e["pooled"]
        rs = reader_scale(e["measure"])
        rows.append(
            {
                "analysis_id": aid,
                "title": e["title"],
                "status": a.status,
                "measure": e["measure"],
                "k": p["k"],
                "scale": rs.name,
                **_reader(p, rs),
                "tau2": p["tau2"],
                "I2": p["I2"],
                "Q": p["Q"],
                "Q_pval": p["Q_pval"],
                "model_scale": rs.model,
                **{f"{f}_model": p[f] for f in ("estimate", "ci_lb", "ci_ub")},
                "certainty": (e.get("grade") or {}).get("certainty", ""),
                "converged": p.get("converged"),
                "n_iter": p.get("n_iter"),
            }
        )
        for sg in e["subgroup_tests"]:
            if not sg["groups"]:
                srows.append(
                    {
                        "analysis_id": aid,
                        "variable": sg["variable"],
                        "group": "",
                        "note": sg["note"],
                        "caution": "; ".join(sg["cautions"]),
                    }
                )
            for g in sg["groups"]:
                gp = by_id[f"{aid}:{sg['variable']}={g}"]["pooled"]
                srows.append(
                    {
                        "analysis_id": aid,
                        "variable": sg["variable"],
                        "group": g,
                        "k": gp["k"],
                        "scale": rs.name,
                        **{f: v for f, v in _reader(gp, rs).items() if not f.startswith("pi")},
                        "I2": gp["I2"],
                        "Q_between": sg["Q_between"],
                        "Q_between_pval": sg["Q_between_pval"],
                        "caution": f"fewer than {min_sub} studies" if gp["k"] < min_sub else "",
                    }
                )
        rob = e.get("robustness") or {}
        for name, sink in (("leave_one_out", loo), ("cumulative", cum)):
            if isinstance(rob.get(name), dict):
                frame = robustness_frame(name, rob[name], e["measure"], a.main.rows)
                frame.insert(0, "analysis_id", aid)
                sink.append(frame)
    t["pooled_results"] = integer_counts(pd.DataFrame(rows))
    t["subgroups"] = integer_counts(pd.DataFrame(srows))
    t["summary_of_findings"] = review.summary_of_findings()
    t["natural_history_comparison"] = pd.concat(
        [
            _nh_reader(a)
            for a in review.analyses
            if a.natural_history is not None and len(a.natural_history)
        ]
        or [pd.DataFrame()],
        ignore_index=True,
    )
    sw = [res.to_frame().assign(synthesis_id=spec.id) for spec, res in review.syntheses]
    t["swim_direction_of_effect"] = pd.concat(sw or [pd.DataFrame()], ignore_index=True)
    t["swim_sign_tests"] = pd.DataFrame(
        [
            {
                "synthesis_id": s["id"],
                "title": s["title"],
                "studies": s["n_studies"],
                "benefit": s["n_benefit"],
                "harm": s["n_harm"],
                "no_change": s["n_no_change"],
                "no_clear_effect": s["n_no_clear_effect"],
                "unclear": s["n_unclear"],
                "proportion_benefit": s["proportion_benefit"],
                "ci_lb": s["ci_lb"],
                "ci_ub": s["ci_ub"],
                "sign_test_p": s["p_value"],
                "rule": s["rule"],
            }
            for s in results["syntheses"]
        ]
    )
    t["published_comparison"] = _published_reader(review.comparisons)
    t["serious_adverse_events"] = integer_counts(review.safety_events)
    if review.safety_by_route:
        t["safety_by_route"] = pd.concat([s.to_frame() for s in review.safety_by_route])
    t["excluded_studies"] = review.excluded
    if loo:
        t["leave_one_out"] = pd.concat(loo, ignore_index=True)
    if cum:
        t["cumulative"] = pd.concat(cum, ignore_index=True)
    return t
