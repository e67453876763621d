"""`sci-evidence evidence`: the evidence base — init, import, export, validate, list, show,
history, template.

The database is ``--db URL`` (or a path to an SQLite file), else ``SCI_EVIDENCE_DB``, else an
SQLite file in the user data directory. Commands that only read (``list``, ``show``,
``export``, ``validate``) fall back to the bundled data set while no database is initialised.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from sci_evidence.cli._common import console, err_console
from sci_evidence.errors import InputError, NotFoundError

evidence_app = typer.Typer(
    name="evidence",
    help="The evidence base of MSC studies in SCI: init, import, export, validate, list, show, "
    "history, template.",
    no_args_is_help=True,
    add_completion=False,
)

DB_HELP = (
    "Database URL (sqlite:///file, postgresql://user:pw@host/db) or an SQLite file path. "
    "Default: $SCI_EVIDENCE_DB, else evidence.sqlite in the user data directory."
)
DbOption = typer.Option(None, "--db", help=DB_HELP, envvar=None, show_default=False)


def register(app: typer.Typer) -> None:
    """Add the `evidence` command group to ``app``."""
    app.add_typer(evidence_app, name="evidence")


# ----------------------------------------------------------------------------- helpers
def _store(db: str | None):  # noqa: ANN202
    from sci_evidence.evidence.store import EvidenceStore

    return EvidenceStore(db)


def _read_source(db: str | None):  # noqa: ANN202
    """The evidence to read: the database when given/configured/initialised, else bundled."""
    from sci_evidence.evidence.bundled import load_bundled

    explicit = db or os.environ.get("SCI_EVIDENCE_DB")
    store = _store(db)
    if explicit:
        return store.load()
    if store.is_initialised():
        return store.load()
    return load_bundled()


def _cell(value: object) -> str:
    """A stored value for a Rich table cell: markup escaped, terminal controls removed."""
    from sci_evidence.text import escape_rich

    return "" if value is None else escape_rich(_printable(str(value)))


def _plain(value: object) -> str:
    """Stored text printed with markup off: terminal controls removed, unprintables escaped."""
    from sci_evidence.text import strip_control

    return strip_control(_printable(str(value)))


def _printable(text: str) -> str:
    # Lone surrogates (from JSON "\\ud800") cannot be encoded for the terminal.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _protected(db: str | None) -> list[Path]:
    """The SQLite file in use (given or default), which no output may overwrite."""
    path = _store(db).sqlite_path
    return [path] if path is not None else []


def _print_issues(report) -> None:  # noqa: ANN001
    for issue in report.issues:
        style = "red" if issue.severity == "error" else "yellow"
        err_console.print(
            _plain(issue.line()), style=style, markup=False, highlight=False, soft_wrap=True
        )


def _validated(file: Path, existing: dict | None):  # noqa: ANN202
    from sci_evidence.evidence.io import read_evidence_file
    from sci_evidence.evidence.validate import validate_tables

    tables = read_evidence_file(file)
    return validate_tables(tables, existing)


# ----------------------------------------------------------------------------- commands
@evidence_app.command("init")
def init_cmd(
    db: str | None = DbOption,
    empty: bool = typer.Option(
        False, "--empty", help="Create the tables only; do not load the bundled data set."
    ),
    message: str = typer.Option("", "--message", "-m", help="Why (kept in the history)."),
) -> None:
    """Create the evidence database and load the bundled data set (when it is empty).

    Example: sci-evidence evidence init --db sqlite:///review.sqlite
    """
    store = _store(db)
    summary = store.init(load_bundled=not empty, message=message)
    console.print(
        f"Evidence database {store.display_url}: {summary.summary()}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@evidence_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="CSV, Excel (.xlsx) or JSON file."),
    db: str | None = DbOption,
    message: str = typer.Option("", "--message", "-m", help="Why (kept in the history)."),
) -> None:
    """Validate FILE and write it to the database in one transaction (all or nothing).

    Studies in the file replace the stored studies with the same id; other rows are added
    or replaced by their key. Nothing is written when any error is found.

    Example: sci-evidence evidence import extraction.xlsx -m "add Smith 2024"
    """
    store = _store(db)
    if not store.is_initialised():
        raise InputError(
            f"the evidence database {store.display_url} is not initialised; "
            "run 'sci-evidence evidence init' first"
        )
    report = _validated(file, store.read_frames())
    _print_issues(report)
    if not report.ok:
        raise InputError(
            f"{len(report.errors)} errors, {len(report.warnings)} warnings; nothing was written",
            file=str(file),
        )
    if not any(len(df) for df in report.frames.values()):
        raise InputError("the file holds no data rows; nothing was written", file=str(file))
    summary = store.import_frames(report.frames, message=message, source=str(file))
    console.print(
        _plain(f"Imported {file}: {summary.summary()}"),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@evidence_app.command("export")
def export_cmd(
    file: Path = typer.Argument(..., help="Output file: .csv, .xlsx or .json."),
    db: str | None = DbOption,
) -> None:
    """Write the whole evidence base to FILE (format by extension); it imports back unchanged.

    Example: sci-evidence evidence export evidence.xlsx
    """
    from sci_evidence.evidence.io import SUFFIXES, write_evidence_file
    from sci_evidence.outputs import check_output_path

    protect = _protected(db)
    # Checked before reading: `export X --db X` must never touch the database X.
    check_output_path(file, suffixes=tuple(SUFFIXES), protect=protect, what="export")
    ev = _read_source(db)
    write_evidence_file(ev.frames(), file, data_hash=ev.data_hash, protect=protect)
    console.print(
        f"Exported {len(ev.studies)} studies from {ev.origin} to {_plain(file)} "
        f"(data hash {ev.data_hash[:12]})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@evidence_app.command("validate")
def validate_cmd(
    file: Path = typer.Argument(..., help="CSV, Excel (.xlsx) or JSON file."),
    db: str | None = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check FILE and report every problem at once (file, row, column, value, why).

    Exit code 0 when there are no errors (warnings allowed), 2 otherwise.

    Example: sci-evidence evidence validate extraction.xlsx
    """
    existing = _read_source(db).frames()
    report = _validated(file, existing)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_issues(report)
    if not report.ok:
        raise InputError(
            f"{len(report.errors)} errors, {len(report.warnings)} warnings", file=str(file)
        )
    if not as_json:
        rows = sum(len(df) for df in report.frames.values())
        console.print(
            _plain(f"{file}: valid ({rows} rows, {len(report.warnings)} warnings)"),
            markup=False,
            highlight=False,
        )


@evidence_app.command("list")
def list_cmd(
    db: str | None = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
) -> None:
    """List the studies of the evidence base.

    Example: sci-evidence evidence list --json
    """
    from sci_evidence.evidence.model import _records

    ev = _read_source(db)
    cols = [
        "study_id",
        "first_author",
        "year",
        "design",
        "controlled",
        "n_arms",
        "n_total",
        "flags",
    ]
    df = ev.studies[cols]
    if as_json:
        typer.echo(json.dumps(_records(df), indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(df)} studies ({_cell(ev.origin)})")
    for c in cols:
        table.add_column(c)
    for rec in _records(df):
        table.add_row(*[_cell(rec[c]) for c in cols])
    console.print(table)


@evidence_app.command("show")
def show_cmd(
    study: str = typer.Argument(..., help="Study id, e.g. tien2019."),
    db: str | None = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one study: citation, arms, outcomes, adverse events, risk of bias, provenance.

    Example: sci-evidence evidence show tien2019
    """
    ev = _read_source(db)
    try:
        data = ev.study(study)
    except NotFoundError as exc:
        raise InputError(str(exc), value=study) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    s = data["study"]
    console.print(
        f"[bold]{_cell(s['study_id'])}[/bold] — {_cell(s['first_author'])} "
        f"{_cell(s['year'] or '')}, {_cell(s['journal'])}",
        highlight=False,
    )
    console.print(
        _plain(
            f"design: {s['design']} ({s['design_verbatim']}); registry: "
            f"{s['registry_id'] or '-'}; flags: {s['flags'] or '-'}"
        ),
        markup=False,
        highlight=False,
    )
    arms = Table(title="arms")
    acols = [
        "arm_id",
        "role",
        "n",
        "cell_source",
        "route",
        "dose_cells",
        "dose_unit",
        "injury_phase",
        "level",
        "status",
    ]
    for c in acols:
        arms.add_column(c)
    for a in data["arms"]:
        arms.add_row(*[_cell(a[c]) for c in acols])
    console.print(arms)
    out = Table(title="outcomes")
    ocols = [
        "arm_id",
        "subgroup",
        "outcome",
        "timepoint",
        "n",
        "mean",
        "sd",
        "events",
        "from_grade",
        "to_grade",
        "count",
        "status",
    ]
    for c in ocols:
        out.add_column(c)
    for o in data["outcomes"]:
        out.add_row(*[_cell(o[c]) for c in ocols])
    console.print(out)
    ae = Table(title="adverse events")
    ecols = ["arm_id", "ae_type", "n", "patients", "events", "percent", "severity", "status"]
    for c in ecols:
        ae.add_column(c)
    for a in data["adverse_events"]:
        ae.add_row(*[_cell(a[c]) for c in ecols])
    console.print(ae)
    console.print(
        f"{len(data['risk_of_bias'])} risk-of-bias rows; "
        f"{len(data['provenance'])} provenance rows (use --json to see them)",
        markup=False,
    )


@evidence_app.command("history")
def history_cmd(
    db: str | None = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
) -> None:
    """Show the change history of the database: when, who, what, why.

    Example: sci-evidence evidence history --json
    """
    store = _store(db)
    hist = store.history()
    if as_json:
        recs = []
        for r in hist.to_dict("records"):
            r["at"] = r["at"].isoformat() if hasattr(r["at"], "isoformat") else str(r["at"])
            r["detail"] = json.loads(r["detail"])
            recs.append(r)
        typer.echo(json.dumps(recs, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"history of {_cell(store.display_url)}")
    for c in ("id", "at", "user", "action", "study_id", "message", "change"):
        table.add_column(c)
    for r in hist.to_dict("records"):
        detail = json.loads(r["detail"])
        change = detail.get("change", "")
        if "changed" in detail:
            change += f" ({len(detail['changed'])} fields)"
        if "rows" in detail:
            change = ", ".join(f"{k}: {v}" for k, v in detail["rows"].items())
        at = r["at"].strftime("%Y-%m-%d %H:%M:%S") if hasattr(r["at"], "strftime") else r["at"]
        table.add_row(
            *[_cell(v) for v in (r["id"], at, r["user"], r["action"], r["study_id"])],
            *[_cell(r["message"]), _cell(change)],
        )
    console.print(table)


@evidence_app.command("template")
def template_cmd(
    file: Path = typer.Argument(..., help="Output workbook (.xlsx)."),
) -> None:
    """Write a data-extraction template (Excel) with the allowed values of coded columns.

    Example: sci-evidence evidence template extraction.xlsx
    """
    from sci_evidence.evidence.template import write_template

    path = write_template(file, protect=_protected(None))
    console.print(_plain(f"Wrote the extraction template {path}"), markup=False, highlight=False)
