"""The data-extraction template: an Excel workbook a reviewer fills in, then imports.

One sheet per extraction table (``studies, arms, outcomes, adverse_events, risk_of_bias,
screening``) with the exact column headers, a ``vocabulary`` sheet listing the allowed values
of every coded column, drop-down lists on those columns, and a ``README`` sheet. The filled
workbook is read back by ``sci-evidence evidence validate/import`` (the ``README`` and
``vocabulary`` sheets are ignored).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sci_evidence.errors import InputError
from sci_evidence.evidence.columns import (
    AIS_GRADES,
    FRAMES,
    OUTCOME_DOMAINS,
    RISK_OF_BIAS_JUDGEMENTS,
    SINGLE_ROUTES,
    STATUS,
    VOCAB,
)
from sci_evidence.outputs import atomic_write, check_output_path

TEMPLATE_FRAMES = ("studies", "arms", "outcomes", "adverse_events", "risk_of_bias", "screening")
MAX_ROWS = 1000

README = [
    "sci-evidence data-extraction template",
    "",
    "Fill one row per study (studies), arm (arms), outcome value (outcomes), adverse event "
    "(adverse_events), risk-of-bias domain (risk_of_bias) and screening record (screening).",
    "Column meanings: docs/evidence_schema.md. Allowed values of coded columns: sheet "
    "'vocabulary' (drop-down lists are set on those columns).",
    "Every row needs its provenance: source_key, where_in_source (abstract, table, text), "
    "verbatim (the source's own wording) and status (reported, derived, interpreted, "
    "unverified).",
    "Leave a cell empty when the source does not report it; never enter 0 for 'not reported'.",
    "arm_id is '<study_id>:<arm>' (e.g. smith2020:treated); route joins several routes with "
    "'+' (e.g. intralesional+intrathecal).",
    "Check the file: sci-evidence evidence validate FILE; load it: sci-evidence evidence "
    "import FILE --message 'why'.",
]


def vocabulary() -> dict[str, tuple[str, ...]]:
    """``"frame.column"`` → allowed values, for every coded column of the template frames."""
    out: dict[str, tuple[str, ...]] = {}
    for (frame, col), allowed in VOCAB.items():
        if frame in TEMPLATE_FRAMES:
            out[f"{frame}.{col}"] = tuple(a for a in allowed if a)
    for frame in TEMPLATE_FRAMES:
        if "status" in dict(FRAMES[frame]):
            out[f"{frame}.status"] = STATUS
        for col, kind in FRAMES[frame]:
            if kind == "bool":
                out[f"{frame}.{col}"] = ("true", "false")
    out["outcomes.outcome"] = tuple(OUTCOME_DOMAINS)
    out["outcomes.to_grade"] = AIS_GRADES
    out["arms.route (parts, join with +)"] = SINGLE_ROUTES
    out["risk_of_bias.judgement"] = tuple(
        dict.fromkeys(j for js in RISK_OF_BIAS_JUDGEMENTS.values() for j in js)
    )
    return out


def write_template(path: str | Path, *, protect: Iterable[str | Path] = ()) -> Path:
    """Write the extraction template workbook to ``path`` (must end in ``.xlsx``).

    The path is checked first (:func:`~sci_evidence.outputs.check_output_path`: never onto a
    database, ``protect`` or an SQLite file) and the workbook is written atomically: an
    existing file is replaced only once the new one is complete.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise InputError(
            "the template is an Excel workbook; give a file name ending in .xlsx",
            file=str(path),
        )
    check_output_path(path, suffixes=(".xlsx",), protect=protect, what="template")
    wb = Workbook()
    ws = wb.active
    ws.title = "README"
    for i, line in enumerate(README, start=1):
        ws.cell(row=i, column=1, value=line)
    ws["A1"].font = Font(bold=True)
    vocab = vocabulary()
    vs = wb.create_sheet("vocabulary")
    ranges: dict[str, str] = {}
    for j, (name, values) in enumerate(vocab.items(), start=1):
        letter = get_column_letter(j)
        vs.cell(row=1, column=j, value=name).font = Font(bold=True)
        for i, v in enumerate(values, start=2):
            vs.cell(row=i, column=j, value=v)
        ranges[name] = f"vocabulary!${letter}$2:${letter}${len(values) + 1}"
    for frame in TEMPLATE_FRAMES:
        sh = wb.create_sheet(frame)
        for j, (col, _kind) in enumerate(FRAMES[frame], start=1):
            cell = sh.cell(row=1, column=j, value=col)
            cell.font = Font(bold=True)
            rng = ranges.get(f"{frame}.{col}")
            if rng is None:
                continue
            strict = not (frame == "risk_of_bias" and col == "judgement")
            dv = DataValidation(
                type="list", formula1=f"={rng}", allow_blank=True, showErrorMessage=strict
            )
            dv.error = f"not an allowed value of {col}; see the vocabulary sheet"
            letter = get_column_letter(j)
            dv.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
            sh.add_data_validation(dv)
        sh.freeze_panes = "A2"
    with atomic_write(path, "wb") as fh:
        wb.save(fh)
    return path
