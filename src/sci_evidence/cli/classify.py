"""`sci-evidence classify`: ISNCSCI classification of exams in a file.

The exams stream from the reader to the output in blocks (bounded memory for a million
exams). The output path is checked before any work; the file is written to a temporary file
beside it and renamed into place only when complete. numpy/pandas are imported inside the
command, so ``sci-evidence --help`` does not load them.
"""

from __future__ import annotations

from pathlib import Path

import typer

#: Output types of ``--output`` (kept here, not imported, so that --help stays light).
RESULT_SUFFIXES = (".csv", ".json", ".jsonl")


def classify(
    file: Path = typer.Argument(
        ..., help="Exams: .csv/.xlsx (flat columns), .json (flat list or nested) or .jsonl."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write results to OUT.csv, OUT.json or OUT.jsonl."
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Report exams with invalid values and classify the rest."
    ),
) -> None:
    """Classify ISNCSCI exams: levels, NLI, AIS, ZPPs and totals, one row per exam.

    Results follow the Praxis reference algorithm's conventions (comma-joined possible
    values, '*' for values depending on tagged scores, INT, NA, ND). In CSV output an exam
    id that a spreadsheet would run as a formula (=, +, -, @) gets a leading quote.

    Example: sci-evidence classify exams.csv --output results.csv
    """
    from sci_evidence.isncsci.formats import classify_to
    from sci_evidence.outputs import check_output_path

    if output is not None:
        # before any work; the exam file itself is protected from being overwritten
        check_output_path(output, suffixes=RESULT_SUFFIXES, protect=[file], what="output (-o)")
    classify_to(file, output, skip_invalid=skip_invalid)


def register(app: typer.Typer) -> None:
    """Add the `classify` command to ``app``."""
    app.command("classify")(classify)
