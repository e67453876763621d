"""Risk-of-bias traffic-light plot and weighted summary bar chart (robvis style)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sci_evidence.text import escape_mathtext

#: Colour and symbol of each judgement (RoB 2 and ROBINS-I vocabularies).
JUDGEMENTS = {
    "low": ("#2e9e44", "+"),
    "some_concerns": ("#e5c311", "−"),
    "moderate": ("#e5c311", "−"),
    "high": ("#c8311f", "×"),
    "serious": ("#c8311f", "×"),
    "critical": ("#6b0f07", "!"),
    "no_information": ("#9aa5ad", "?"),
    "not_assessed": ("#d5dadd", "·"),
}
_LEGEND = {
    "low": "Low",
    "some_concerns": "Some concerns / moderate",
    "high": "High / serious",
    "critical": "Critical",
    "no_information": "No information",
    "not_assessed": "Not assessed",
}


def _matrix(rob: pd.DataFrame, studies: list[str], labels: dict[str, str]):
    domains = [d for d in dict.fromkeys(rob["domain"]) if d != "overall"] + ["overall"]
    mat = pd.DataFrame("not_assessed", index=studies, columns=domains)
    for _, r in rob.iterrows():
        if r["study_id"] in mat.index:
            mat.loc[r["study_id"], r["domain"]] = str(r["judgement"]).lower() or "no_information"
    return mat


def rob_traffic_light(
    rob: pd.DataFrame, studies: list[str], labels: dict[str, str] | None = None
) -> Figure:
    """Traffic-light plot: one row per study, one column per domain plus "overall".

    Parameters
    ----------
    rob : DataFrame
        ``risk_of_bias`` frame (``study_id, tool, domain, judgement``); may be empty.
    studies : list of str
        Studies to show (in order); studies without a judgement show "not assessed".
    labels : dict, optional
        study_id → label ("Cheng 2014").
    """
    labels = labels or {}
    if rob.empty:
        rob = pd.DataFrame({"study_id": [], "domain": ["overall"][:0], "judgement": []})
    mat = (
        _matrix(rob, studies, labels)
        if len(rob)
        else pd.DataFrame("not_assessed", index=studies, columns=["overall"])
    )
    n_rows, n_cols = mat.shape
    names = [escape_mathtext(labels.get(sid, sid)) for sid in mat.index]
    # explicit margins in inches (labels left, domain names and title on top, legend below):
    # the figure is saved without bbox_inches="tight", which would draw it twice
    label_in = 0.3 + 0.062 * max((len(n) for n in names), default=10)
    top_in, bottom_in = 1.25, 0.55
    width = max(6.0, label_in + 0.75 * n_cols + 0.6)
    height = top_in + bottom_in + 0.24 * max(n_rows, 3)
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(
        left=label_in / width,
        right=min(0.98, (label_in + 0.75 * n_cols + 0.3) / width),
        top=1 - top_in / height,
        bottom=bottom_in / height,
    )
    # one scatter for all cells (a collection per cell costs more than the whole figure);
    # symbols only where there is a judgement
    keys = mat.to_numpy()
    jj, ii = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    colours = [JUDGEMENTS.get(k, JUDGEMENTS["no_information"])[0] for k in keys.ravel()]
    ax.scatter(jj.ravel(), ii.ravel(), s=150, c=colours, edgecolors="white", zorder=2)
    for i, j in zip(*np.nonzero(keys != "not_assessed"), strict=True):
        sym = JUDGEMENTS.get(keys[i, j], JUDGEMENTS["no_information"])[1]
        ax.text(j, i, sym, ha="center", va="center", fontsize=8, color="white", zorder=3)
    ax.set_xticks(
        range(n_cols),
        [c.replace("_", " ") for c in mat.columns],
        rotation=30,
        ha="left",
        fontsize=8,
    )
    ax.xaxis.tick_top()
    ax.set_yticks(range(n_rows), names, fontsize=8)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlim(-0.6, n_cols - 0.4)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    present = [k for k in _LEGEND if k in set(mat.to_numpy().ravel()) or k == "not_assessed"]
    fig.legend(
        handles=[Patch(color=JUDGEMENTS[k][0], label=_LEGEND[k]) for k in present],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(3, len(present)),
        fontsize=7.5,
        frameon=False,
    )
    if (mat.to_numpy() == "not_assessed").all():
        fig.suptitle(
            "No risk-of-bias judgements in the evidence base: every study not assessed",
            fontsize=8.5,
            color="#7f8c8d",
            y=1 - 0.15 / height,
        )
    return fig


def rob_summary(
    rob: pd.DataFrame, studies: list[str], weights: dict[str, float] | None = None
) -> Figure:
    """Summary bar chart: per domain, the share of studies (or of weight) per judgement."""
    mat = (
        _matrix(rob, studies, {})
        if len(rob)
        else pd.DataFrame("not_assessed", index=studies, columns=["overall"])
    )
    w = np.array([(weights or {}).get(s, 1.0) for s in mat.index], dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.ones(len(w)) / max(len(w), 1)
    order = [
        "low",
        "some_concerns",
        "moderate",
        "high",
        "serious",
        "critical",
        "no_information",
        "not_assessed",
    ]
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.35 * mat.shape[1]))
    for i, dom in enumerate(mat.columns):
        left = 0.0
        for key in order:
            share = float(w[(mat[dom] == key).to_numpy()].sum())
            if share > 0:
                ax.barh(
                    i, 100 * share, left=100 * left, color=JUDGEMENTS[key][0], edgecolor="white"
                )
                if share >= 0.08:
                    ax.text(
                        100 * (left + share / 2),
                        i,
                        f"{100 * share:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=7.5,
                        color="#222222"
                        if key in ("not_assessed", "some_concerns", "moderate")
                        else "white",
                    )
                left += share
    ax.set_yticks(range(mat.shape[1]), [c.replace("_", " ") for c in mat.columns], fontsize=8)
    ax.set_ylim(mat.shape[1] - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Studies (%)" if weights is None else "Weight (%)", fontsize=8)
    ax.tick_params(labelsize=8)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    fig.tight_layout()
    return fig
