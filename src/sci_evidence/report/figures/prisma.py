"""PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71, doi:10.1136/bmj.n71)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from sci_evidence.report.views import reason_text
from sci_evidence.review.results import PrismaCounts
from sci_evidence.text import escape_mathtext

__all__ = ["PrismaCounts", "prisma_flow"]


def _n(v: int | None) -> str:
    return "n.r." if v is None else str(v)


def _short(text: str, width: int = 40) -> str:
    """A reason or source name cut to fit its box (the full text is in results.json)."""
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def prisma_flow(c: PrismaCounts, labels: dict[str, str] | None = None) -> Figure:
    """Draw the PRISMA 2020 flow: identification, screening, included, and the analysis
    stage (studies removed by protocol rule, in words with study labels from ``labels``,
    e.g. "possible duplicate of Guo 2014"; studies in a meta-analysis)."""
    fig = plt.figure(figsize=(7.5, 7.0))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")

    def box(x, y, w, h, text, colour="#f4f7fb"):
        ax.add_patch(
            FancyBboxPatch(
                (x, y),
                w,
                h,
                boxstyle="round,pad=0.4,rounding_size=1.2",
                linewidth=1.0,
                edgecolor="#34495e",
                facecolor=colour,
            )
        )
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5, wrap=True)

    def arrow(x1, y1, x2, y2):
        ax.annotate(
            "",
            xy=(x2, y2),
            xytext=(x1, y1),
            arrowprops={"arrowstyle": "-|>", "color": "#34495e", "lw": 1.0},
        )

    for y, label in ((86, "Identification"), (60, "Screening"), (34, "Included"), (9, "Analysis")):
        ax.text(
            2,
            y,
            label,
            rotation=90,
            ha="center",
            va="center",
            fontsize=9,
            weight="bold",
            color="#34495e",
        )

    sources = "\n".join(
        f"{escape_mathtext(_short(k))}: {_n(v)}" for k, v in list(c.sources.items())[:4]
    )
    box(
        8,
        80,
        40,
        13,
        f"Records identified (n = {_n(c.identified)})" + (f"\n{sources}" if sources else ""),
    )
    box(
        58,
        80,
        38,
        13,
        f"Records removed before screening:\nduplicates (n = {_n(c.duplicates_removed)})",
    )
    arrow(48, 86.5, 58, 86.5)
    arrow(28, 80, 28, 75)
    box(8, 69, 40, 6, f"Records screened (n = {_n(c.screened)})")
    box(58, 69, 38, 6, f"Records excluded (n = {_n(c.screened_excluded)})")
    arrow(48, 72, 58, 72)
    arrow(28, 69, 28, 64)
    box(8, 58, 40, 6, f"Reports sought for retrieval (n = {_n(c.sought)})")
    box(58, 58, 38, 6, f"Reports not retrieved (n = {_n(c.not_retrieved)})")
    arrow(48, 61, 58, 61)
    arrow(28, 58, 28, 53)
    box(8, 44, 40, 9, f"Reports assessed for eligibility\n(n = {_n(c.assessed)})")
    reasons = "\n".join(
        f"{escape_mathtext(_short(k))}: {v}" for k, v in list(c.excluded_reasons.items())[:5]
    )
    excl_total = c.excluded
    if excl_total is None and c.excluded_reasons:
        excl_total = sum(c.excluded_reasons.values())
    box(
        58,
        40,
        38,
        14,
        f"Reports excluded (n = {_n(excl_total)})" + (f"\n{reasons}" if reasons else ""),
    )
    arrow(48, 49.5, 58, 49.5)
    arrow(28, 44, 28, 38)
    box(8, 27, 40, 11, f"Studies included in review\n(n = {_n(c.included)})", colour="#e8f4ea")
    arrow(28, 27, 28, 18)
    rules = "\n".join(
        f"{escape_mathtext(reason_text(k, labels or {}))}: {v}"
        for k, v in c.analysis_excluded.items()
    )
    rule_total = sum(c.analysis_excluded.values()) if c.analysis_excluded else 0
    box(
        58,
        12,
        38,
        16,
        f"Excluded from analyses by protocol rule (n = {rule_total})"
        + (f"\n{rules}" if rules else ""),
    )
    arrow(48, 20, 58, 20)
    box(
        8,
        5,
        40,
        13,
        f"Studies in at least one\nmeta-analysis (n = {_n(c.in_meta_analysis)})",
        colour="#e8f4ea",
    )
    if c.source_note:
        ax.text(
            50,
            0.8,
            escape_mathtext(c.source_note),
            ha="center",
            va="bottom",
            fontsize=7,
            color="#555555",
        )
    return fig
