"""`sci-evidence review`: the evidence base turned into a complete, reproducible report."""

from __future__ import annotations

from pathlib import Path

import typer

from sci_evidence.cli._common import console, err_console


def review_command(
    db: str = typer.Option(
        None,
        "--db",
        help="Evidence database URL (default: SCI_EVIDENCE_DB, else the bundled data).",
    ),
    protocol: Path = typer.Option(
        None, "--protocol", help="Protocol file (TOML or YAML; default: the bundled protocol)."
    ),
    out: Path = typer.Option(Path("review"), "--out", help="Output directory."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Run the systematic review of the evidence base and write report.html, figures, tables
    and results.json.

    Example: sci-evidence review --out review --pdf
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sci_evidence.errors import InputError
    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.pipeline import check_protocol_against_evidence, run_review
    from sci_evidence.review.protocol import load_protocol

    if out.exists() and not out.is_dir():
        raise InputError("--out must be a directory, not a file", file=str(out))
    proto = load_protocol(protocol)
    evidence = load_evidence(db)
    # every user mistake surfaces before the progress display starts
    check_protocol_against_evidence(evidence, proto)
    with Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task("review", total=None)

        def progress(name: str, done: int, total: int) -> None:
            bar.update(task, description=name, completed=done, total=max(total, done))

        try:
            result = run_review(evidence, proto, out, progress=progress, pdf=pdf)
        except PermissionError as exc:
            raise InputError(f"cannot write the review: {exc.strerror}", file=str(out)) from None
    pooled = sum(1 for a in result.analyses if a.main is not None)
    console.print(
        f"Review written to [bold]{out / 'report.html'}[/bold] "
        f"({pooled} pooled analyses, {len(result.files)} files, {result.record.seconds:.1f} s; "
        f"data hash {result.record.data_hash[:12]})",
        highlight=False,
    )
    if pdf and "report.pdf" not in result.files:
        err_console.print("[yellow]Warning:[/yellow] report.pdf could not be written.")


def register(app: typer.Typer) -> None:
    """Add the `review` command to ``app``."""
    app.command("review")(review_command)
