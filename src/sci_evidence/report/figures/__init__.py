"""Publication figures of the review (matplotlib, Agg backend).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`write_figure` writes it as
PNG, SVG and PDF (the report inlines the SVG file), :func:`save_figure` also returns the SVG
text made safe to embed in a page.
"""

from sci_evidence.report.figures._save import inline_svg, save_figure, write_figure
from sci_evidence.report.figures.natural_history import conversion_figure, score_change_figure
from sci_evidence.report.figures.prisma import prisma_flow
from sci_evidence.report.figures.rob import (
    TOOLS,
    rob_summary,
    rob_summary_tool,
    rob_tools,
    rob_traffic_light,
    rob_traffic_light_tool,
    tool_slug,
)
from sci_evidence.report.figures.safety_route import safety_route_figure

__all__ = [
    "conversion_figure",
    "inline_svg",
    "prisma_flow",
    "TOOLS",
    "rob_summary",
    "rob_summary_tool",
    "rob_tools",
    "rob_traffic_light",
    "rob_traffic_light_tool",
    "safety_route_figure",
    "save_figure",
    "score_change_figure",
    "tool_slug",
    "write_figure",
]
