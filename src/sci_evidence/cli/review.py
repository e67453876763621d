"""`sci-evidence review`: the evidence base turned into a complete, reproducible report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from sci_evidence.cli._common import console, err_console
from sci_evidence.text import escape_rich


def review_command(
    db: str = typer.Option(
        None,
        "--db",
        help="Evidence database URL (default: SCI_EVIDENCE_DB, else the bundled data).",
    ),
    protocol: Path = typer.Option(
        None, "--protocol", help="Protocol file (TOML or YAML; default: the bundled protocol)."
    ),
    out: Path = typer.Option(
        Path("review"),
        "--out",
        help="Output folder. It is built beside this path and swapped in when complete, so a "
        "failed or interrupted run leaves an existing report as it was.",
    ),
    figures: str = typer.Option(
        "svg",
        "--figures",
        help="Figure files to write, comma-separated from svg, png, pdf (default svg; SVG is "
        "always written and inlined in report.html). Example: --figures png,pdf",
    ),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf."),
    compare: Path = typer.Option(
        None,
        "--compare",
        metavar="PREVIOUS_DIR",
        help="An earlier review's output folder: the report and results.json then say what "
        "changed since it (studies, pooled estimates, certainty, key messages, data hash). "
        "Example: --compare review",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Run the systematic review of the evidence base and write report.html, figures, tables
    and results.json.

    Example: sci-evidence review --out review --pdf --figures png

    Example (a living review): sci-evidence review --out review-2 --compare review
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sci_evidence.errors import InputError
    from sci_evidence.evidence import load_evidence
    from sci_evidence.outputs import check_output_path
    from sci_evidence.report.pdf import find_chromium
    from sci_evidence.report.writer import FigureRenderer, check_formats, write_review
    from sci_evidence.review.compare import compare_results, load_previous
    from sci_evidence.review.pipeline import check_protocol_against_evidence, run_review
    from sci_evidence.review.protocol import load_protocol

    check_output_path(out, directory=True, what="--out folder")
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        # the folder is swapped whole: it cannot be the one we stand in (or above it)
        raise InputError(
            "--out must name a folder to create or replace, not the current folder or one "
            "above it (e.g. --out review)",
            file=str(out),
        )
    formats = set(check_formats(figures.split(",")))
    if pdf and find_chromium() is None:
        formats.add("png")  # the fallback report.pdf is made of the figures' PNGs
    # read before anything is computed (and before --out, which may be the same folder, is
    # replaced)
    previous = None if compare is None else load_previous(compare)
    proto = load_protocol(protocol)
    # the renderer's workers draw each analysis' figures while the next ones compute; they
    # are forked before the evidence is loaded, so that each starts as small as it can
    renderer = FigureRenderer.beside(out, formats=formats)
    try:
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
            n_steps = len(proto.analyses) + len(proto.syntheses) + 3

            def progress(name: str, done: int, total: int) -> None:
                bar.update(task, description=name, completed=done, total=n_steps)

            def written(name: str) -> None:
                bar.update(task, description=name, advance=1)

            result = run_review(
                evidence, proto, on_analysis=renderer.submit_analysis, progress=progress
            )
            if previous is not None:
                changes = compare_results(result.to_dict(), previous, previous_dir=str(compare))
                result = replace(result, changes=changes)
            files = write_review(result, out, renderer=renderer, pdf=pdf, progress=written)
    finally:
        renderer.close(cancel=True)
    pooled = sum(1 for a in result.analyses if a.main is not None)
    console.print(
        f"Review written to [bold]{escape_rich(out / 'report.html')}[/bold] "
        f"({pooled} pooled analyses, {len(files)} files, {result.record.seconds:.1f} s to "
        f"compute; data hash {result.record.data_hash[:12]})",
        highlight=False,
    )
    if result.changes is not None:
        console.print(_changes_line(result.changes), highlight=False, markup=False)
    if pdf and "report.pdf" not in files:
        err_console.print("[yellow]Warning:[/yellow] report.pdf could not be written.")


def _changes_line(c) -> str:  # noqa: ANN001 - ReviewChanges
    """One line on what changed since the earlier run (the report lists every change)."""
    if c.no_changes:
        return f"No changes since {c.previous}."
    counts = [
        (len(c.studies_added), "study added", "studies added"),
        (len(c.studies_removed), "study removed", "studies removed"),
        (len(c.estimates), "pooled estimate changed", "pooled estimates changed"),
        (
            len(c.analyses_appeared) + len(c.analyses_disappeared),
            "analysis appeared or disappeared",
            "analyses appeared or disappeared",
        ),
        (len(c.status_changed), "status change", "status changes"),
        (len(c.certainty_changed), "certainty change", "certainty changes"),
        (len(c.messages_changed), "key message reworded", "key messages reworded"),
    ]
    parts = [f"{n} {one if n == 1 else many}" for n, one, many in counts if n]
    if c.data_changed:
        parts.append("data hash changed")
    if c.protocol_changed:
        parts.append("protocol changed")
    return f"Changes since {c.previous}: " + ", ".join(parts) + " (see report.html#changes)."


def register(app: typer.Typer) -> None:
    """Add the `review` command to ``app``."""
    app.command("review")(review_command)
