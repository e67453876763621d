"""Risk-of-bias traffic-light plot and weighted summary bar chart (robvis style)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sci_evidence.report.figures._layout import tight_layout
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
    note = _draw_cells(ax, mat.to_numpy(), size=150)
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
    heading = [] if note is None else [note]
    if (mat.to_numpy() == "not_assessed").all():
        heading.insert(
            0, "No risk-of-bias judgements in the evidence base: every study not assessed"
        )
    if heading:
        fig.suptitle(
            "\n".join(heading),
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
    tight_layout(fig)
    return fig


# Per tool, as robvis draws it (McGuinness & Higgins 2021, Res Synth Methods 12:55,
# doi:10.1002/jrsm.1411): one traffic-light plot and one weighted summary bar chart per tool,
# domains as D1…Dn (M1…M8 for MINORS) with their names in a key, "Overall" last.

#: Tools the bundled base uses: display name and the words of each judgement in the legend.
TOOLS = {
    "RoB2": "RoB 2",
    "ROBINS-I": "ROBINS-I",
    "MINORS": "MINORS",
}
#: MINORS scores each item 0 (not reported), 1 (reported but inadequate), 2 (reported and
#: adequate; Slim et al. 2003, ANZ J Surg 73:712): drawn as high / some concerns / low.
MINORS_ITEM = {"2": "low", "1": "some_concerns", "0": "high"}
_TOOL_LEGEND = {
    "MINORS": {
        "low": "2: reported and adequate / low",
        "some_concerns": "1: reported but inadequate / moderate",
        "high": "0: not reported / high",
    },
    "ROBINS-I": {"some_concerns": "Moderate", "high": "Serious"},
}


def rob_tools(rob: pd.DataFrame) -> list[str]:
    """The risk-of-bias tools of the evidence base, in the order they first appear."""
    if rob is None or rob.empty or "tool" not in rob.columns:
        return []
    return [t for t in dict.fromkeys(rob["tool"].astype(str)) if t]


def tool_slug(tool: str) -> str:
    """File-name part of a tool (``RoB2`` → ``rob2``, ``ROBINS-I`` → ``robins_i``)."""
    return "".join(c if c.isalnum() else "_" for c in tool.lower())


def tool_matrix(rob: pd.DataFrame, tool: str, studies: list[str] | None = None):
    """Judgements of one tool as a study × domain frame of colour keys (``low``,
    ``some_concerns``, ``high``, ``critical``, ``no_information``), "Overall" last, and the
    domain key ``[(code, name)]``. ``studies`` gives the order (others assessed with the
    tool follow)."""
    part = rob[rob["tool"] == tool]
    ids = list(dict.fromkeys(part["study_id"]))
    if studies is not None:
        ids = [s for s in studies if s in set(ids)] + [s for s in ids if s not in set(studies)]
    domains = [d for d in dict.fromkeys(part["domain"]) if d != "overall"]
    key = []
    for d in domains:
        code, _, name = str(d).partition(" ")
        key.append((code, name or code))
    cols = [c for c, _ in key] + ["Overall"]
    mat = pd.DataFrame("not_assessed", index=ids, columns=cols)
    by_domain = dict(zip(domains, (c for c, _ in key), strict=True)) | {"overall": "Overall"}
    for sid, dom, j in zip(part["study_id"], part["domain"], part["judgement"], strict=True):
        j = str(j).strip().lower()
        if tool == "MINORS" and dom != "overall":
            j = MINORS_ITEM.get(j, "no_information")
        j = {"moderate": "some_concerns", "serious": "high"}.get(j, j or "no_information")
        mat.loc[sid, by_domain[dom]] = j
    return mat, key


def _legend_handles(tool: str, present: set[str]):
    words = _LEGEND | _TOOL_LEGEND.get(tool, {})
    keys = [
        k for k in ("low", "some_concerns", "high", "critical", "no_information") if k in present
    ]
    return [Patch(color=JUDGEMENTS[k][0], label=words[k]) for k in keys]


def rob_traffic_light_tool(
    rob: pd.DataFrame, tool: str, labels: dict[str, str] | None = None, studies=None
) -> Figure:
    """robvis traffic-light plot of one tool: a row per study, a column per domain and
    "Overall", the domain key and the judgement legend below."""
    labels = labels or {}
    mat, key = tool_matrix(rob, tool, studies)
    n_rows, n_cols = mat.shape
    names = [escape_mathtext(labels.get(s, s)) for s in mat.index]
    label_in = 0.3 + 0.065 * max((len(n) for n in names), default=10)
    key_lines = len(key) + 2
    top_in, bottom_in = 0.8, 0.35 + 0.16 * key_lines
    width = max(6.5, label_in + 0.55 * n_cols + 0.6)
    height = top_in + bottom_in + 0.26 * max(n_rows, 2)
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(
        left=label_in / width,
        right=min(0.98, (label_in + 0.55 * n_cols + 0.3) / width),
        top=1 - top_in / height,
        bottom=bottom_in / height,
    )
    keys = mat.to_numpy()
    note = _draw_cells(ax, keys, size=170)
    ax.set_xticks(range(n_cols), list(mat.columns), fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks(range(n_rows), names, fontsize=8)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlim(-0.6, n_cols - 0.4)
    title = f"{TOOLS.get(tool, tool)}: risk of bias per study ({n_rows})"
    ax.set_title(title if note is None else f"{title}\n{note}", fontsize=9)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    domain_key = "\n".join(f"{c}: {escape_mathtext(n)}" for c, n in key)
    fig.text(0.02, 0.02, "Domains:\n" + domain_key, fontsize=7, va="bottom", ha="left")
    fig.legend(
        handles=_legend_handles(tool, set(keys.ravel())),
        loc="lower right",
        bbox_to_anchor=(0.98, 0.02),
        title="Judgement",
        title_fontsize=7.5,
        fontsize=7,
        frameon=False,
    )
    return fig


def rob_summary_tool(rob: pd.DataFrame, tool: str, weights: dict[str, float] | None = None):
    """robvis weighted summary plot of one tool: per domain (and "Overall risk of bias"),
    the share of ``weights`` (e.g. participants; equal when not given) per judgement."""
    mat, key = tool_matrix(rob, tool)
    raw = [(weights or {}).get(s) for s in mat.index]
    w = np.array([np.nan if v is None or pd.isna(v) else float(v) for v in raw])
    if weights is None or not np.isfinite(w).any():
        w = np.ones(len(mat))
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    w = w / w.sum() if w.sum() > 0 else np.ones(len(w)) / max(len(w), 1)
    rows = [(c, f"{n}") for c, n in key] + [("Overall", "Overall risk of bias")]
    order = ("low", "some_concerns", "high", "critical", "no_information", "not_assessed")
    fig, ax = plt.subplots(figsize=(8.0, 1.3 + 0.32 * len(rows)))
    for i, (code, _) in enumerate(rows):
        left = 0.0
        for k in order:
            share = float(w[(mat[code] == k).to_numpy()].sum())
            if share <= 0:
                continue
            ax.barh(i, 100 * share, left=100 * left, color=JUDGEMENTS[k][0], edgecolor="white")
            if share >= 0.08:
                dark = k in ("some_concerns", "not_assessed")
                ax.text(
                    100 * (left + share / 2),
                    i,
                    f"{100 * share:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="#222222" if dark else "white",
                )
            left += share
    ax.set_yticks(range(len(rows)), [escape_mathtext(n) for _, n in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    what = "participants" if weights is not None else "studies"
    ax.set_xlabel(f"Share of {what} (%), {len(mat)} studies", fontsize=8)
    ax.set_title(f"{TOOLS.get(tool, tool)}: summary of risk of bias", fontsize=9)
    ax.tick_params(labelsize=8)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    ax.legend(
        handles=_legend_handles(tool, set(mat.to_numpy().ravel())),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25 - 0.4 / len(rows)),
        ncol=3,
        fontsize=7,
        frameon=False,
    )
    tight_layout(fig)
    return fig


#: Above this many studies the traffic-light cells are one image (see :func:`_draw_cells`).
RASTER_STUDIES = 300
#: Pixels of one cell of that image (rows × columns) and the coloured block inside it, centred:
#: about the disc's 13 pt in a 0.26 × 0.55 in cell.
_CELL_PX, _BLOCK_PX = (8, 6), (6, 2)
#: Rows of cells per image.
_IMAGE_ROWS = 100


def _draw_cells(ax, keys: np.ndarray, *, size: float) -> str | None:  # noqa: ANN001
    """The traffic-light cells: one coloured disc per judgement, its symbol on top; for more
    than :data:`RASTER_STUDIES` studies images of coloured blocks instead (a disc and a
    symbol are a few hundred bytes of SVG and ~10 kB of memory each: 2,600 studies × 9
    domains made a 15 MB figure that took 400 MB to draw). Returns the note that says so,
    or None."""
    n_rows, n_cols = keys.shape
    if n_rows > RASTER_STUDIES:
        # one image per _IMAGE_ROWS rows: Agg (PNG) resamples an image into float arrays the
        # size of its drawn area, 1.2 GB for the whole column of 2,600 studies at once
        for top in range(0, n_rows, _IMAGE_ROWS):
            part = keys[top : top + _IMAGE_ROWS]
            ax.imshow(
                cell_image(part),
                extent=(-0.5, n_cols - 0.5, top + len(part) - 0.5, top - 0.5),
                interpolation="none",  # pixelated, not blurred, when the page zooms
                aspect="auto",
                zorder=2,
            )
        return f"{n_rows} studies: one coloured block per judgement, without symbols"
    # one scatter for all cells (a collection per cell costs more than the whole figure);
    # symbols only where there is a judgement
    jj, ii = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    colours = [JUDGEMENTS.get(k, JUDGEMENTS["no_information"])[0] for k in keys.ravel()]
    ax.scatter(jj.ravel(), ii.ravel(), s=size, c=colours, edgecolors="white", zorder=2)
    for i, j in zip(*np.nonzero(keys != "not_assessed"), strict=True):
        sym = JUDGEMENTS.get(keys[i, j], JUDGEMENTS["no_information"])[1]
        ax.text(j, i, sym, ha="center", va="center", fontsize=8, color="white", zorder=3)
    return None


def cell_image(keys: np.ndarray) -> np.ndarray:
    """RGBA image (uint8) of a judgement matrix: cell ``(i, j)`` is the ``_CELL_PX`` pixel
    block at ``[i*8:(i+1)*8, j*6:(j+1)*6]``, its judgement's colour in the centred
    ``_BLOCK_PX`` part and transparent around it."""
    from matplotlib.colors import to_rgba_array

    kinds, codes = np.unique(keys.astype(str), return_inverse=True)
    codes = codes.reshape(keys.shape)
    palette = to_rgba_array([JUDGEMENTS.get(k, JUDGEMENTS["no_information"])[0] for k in kinds])
    palette = np.vstack([np.round(255 * palette), [0, 0, 0, 0]]).astype(np.uint8)
    (ch, cw), (bh, bw) = _CELL_PX, _BLOCK_PX
    in_row = np.zeros(ch, bool)
    in_row[(ch - bh) // 2 : (ch + bh) // 2] = True
    in_col = np.zeros(cw, bool)
    in_col[(cw - bw) // 2 : (cw + bw) // 2] = True
    block = np.tile(in_row, keys.shape[0])[:, None] & np.tile(in_col, keys.shape[1])[None]
    px = np.repeat(np.repeat(codes, ch, axis=0), cw, axis=1)
    return palette[np.where(block, px, len(kinds))]  # the last entry is transparent
