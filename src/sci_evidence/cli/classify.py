"""`sci-evidence classify`: ISNCSCI classification of exams in a file."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from sci_evidence.errors import InputError
from sci_evidence.isncsci.formats import RESULT_SUFFIXES, classify_file, write_results


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
    values, '*' for values depending on tagged scores, INT, NA, ND).

    Example: sci-evidence classify exams.csv --output results.csv
    """
    if output is not None and output.suffix.lower() not in RESULT_SUFFIXES:
        raise InputError(
            f"unknown output type {output.suffix!r}; use one of {', '.join(RESULT_SUFFIXES)}",
            file=str(output),
        )
    results = classify_file(file, skip_invalid=skip_invalid)
    text = write_results(results, output)
    if text is not None:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    """Add the `classify` command to ``app``."""
    app.command("classify")(classify)
