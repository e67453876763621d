"""`sci-evidence evidence`: the evidence base — init, import, export, validate, list, show,
history, revert, template.

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
    "history, revert, template.",
    no_args_is_help=True,
    add_completion=False,
)

DB_HELP = (
    "Database URL (sqlite:///file, postgresql://user:pw@host/db) or an SQLite file path. "
    "Default: $SCI_EVIDENCE_DB, else evidence.sqlite in the user data directory."
)
DbOption = typer.Option(None, "--db", help=DB_HELP, envvar=None, show_default=False)
UserOption = typer.Option(
    None,
    "--user",
    help="Who makes the change (kept in the history). Default: $SCI_EVIDENCE_USER, else the "
    "operating-system user.",
    show_default=False,
)


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
            _plain(issue.line()).replace("\n", "\\n"),  # one line per problem
            style=style,
            markup=False,
            highlight=False,
            soft_wrap=True,
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
    user: str | None = UserOption,
) -> None:
    """Create the evidence database and load the bundled data set (when it is empty).

    Example: sci-evidence evidence init --db sqlite:///review.sqlite
    """
    store = _store(db)
    summary = store.init(load_bundled=not empty, message=message, user=user)
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
    user: str | None = UserOption,
) -> None:
    """Validate FILE and write it to the database in one transaction (all or nothing).

    Studies in the file replace the stored studies with the same id; other rows are added
    or replaced by their key. Nothing is written when any error is found. Only rows that
    differ are written, and each is kept in the history with its old and new values;
    importing unchanged data records nothing. Waits up to $SCI_EVIDENCE_BUSY_TIMEOUT seconds
    (default 30) while another program writes to the database.

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
    summary = store.import_frames(report.frames, message=message, source=str(file), user=user)
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
        typer.echo(_printable(json.dumps(report.to_dict(), indent=2, ensure_ascii=False)))
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
        "label",
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
        typer.echo(_printable(json.dumps(_records(df), indent=2, ensure_ascii=False)))
        return
    table = Table(title=f"{len(df)} studies ({_cell(ev.origin)})")
    for c in cols:
        table.add_column(c)
    for rec in _records(df):
        table.add_row(*[_cell(rec[c]) for c in cols])
    console.print(table)


@evidence_app.command("show")
def show_cmd(
    study: str = typer.Argument(..., help="Study id, e.g. tien-2019."),
    db: str | None = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one study: citation, arms, outcomes, adverse events, risk of bias, provenance.

    Example: sci-evidence evidence show tien-2019
    """
    ev = _read_source(db)
    try:
        data = ev.study(study)
    except NotFoundError as exc:
        raise InputError(str(exc), value=study) from None
    if as_json:
        typer.echo(_printable(json.dumps(data, indent=2, ensure_ascii=False)))
        return
    s = data["study"]
    console.print(
        f"[bold]{_cell(s['label'] or s['study_id'])}[/bold] ({_cell(s['study_id'])})"
        f" — {_cell(s['first_author'])} {_cell(s['year'] or '')}, {_cell(s['journal'])}",
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
    change_id: int | None = typer.Argument(
        None, help="Show this change with the old and new values of every row it edited."
    ),
    db: str | None = DbOption,
    study: str | None = typer.Option(None, "--study", help="Only changes that touched STUDY."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the newest N changes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
) -> None:
    """Show the change history of the database: when, who, what, why (oldest first).

    With CHANGE_ID: that change's row-level diffs (table, key, operation, old → new).

    Example: sci-evidence evidence history 12 --json
    """
    store = _store(db)
    if change_id is not None:
        change = store.change(change_id)
        if as_json:
            typer.echo(_printable(json.dumps(change.to_dict(), indent=2, ensure_ascii=False)))
            return
        console.print(_plain(change.summary()), markup=False, highlight=False, soft_wrap=True)
        if change.source:
            console.print(_plain(f"source: {change.source}"), markup=False, highlight=False)
        if not change.rows:
            console.print("(no row-level record for this change)", markup=False)
        for row in change.rows:
            console.print(_plain(row.describe()), markup=False, highlight=False, soft_wrap=True)
        return
    changes = list(reversed(store.changes(study_id=study, limit=limit)))
    if as_json:
        recs = []
        for c in changes:
            rec = c.to_dict()
            del rec["rows"]
            rec["study_id"] = ",".join(c.study_ids)
            recs.append(rec)
        typer.echo(_printable(json.dumps(recs, indent=2, ensure_ascii=False)))
        return
    table = Table(title=f"history of {_cell(store.display_url)}")
    for c in ("id", "at", "user", "action", "studies", "message", "change"):
        table.add_column(c)
    for c in changes:
        what = "; ".join(
            f"{t} " + ", ".join(f"{n} {op}" for op, n in ops.items())
            for t, ops in c.counts().items()
        )
        if "reverts" in c.detail:
            what = f"reverts {c.detail['reverts']}: {what}"
        studies = ", ".join(c.study_ids[:5]) + (" …" if len(c.study_ids) > 5 else "")
        table.add_row(
            *[_cell(v) for v in (c.id, f"{c.at:%Y-%m-%d %H:%M:%S}", c.user, c.action, studies)],
            *[_cell(c.message), _cell(what)],
        )
    console.print(table)


@evidence_app.command("revert")
def revert_cmd(
    change_id: int = typer.Argument(..., help="The change to undo (see 'evidence history')."),
    db: str | None = DbOption,
    message: str = typer.Option("", "--message", "-m", help="Why (kept in the history)."),
    user: str | None = UserOption,
) -> None:
    """Restore the rows CHANGE_ID edited to their state before it (recorded as a new change).

    Refused, with nothing written, when a row it edited was changed again later: revert the
    later change first.

    Example: sci-evidence evidence revert 12 -m "import of the wrong file"
    """
    store = _store(db)
    summary = store.revert(change_id, user=user, message=message)
    console.print(
        _plain(f"Reverted change {change_id}: {summary.summary()}"),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


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
