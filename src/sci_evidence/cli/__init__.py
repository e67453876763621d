"""The ``sci-evidence`` command line: a thin layer over the library.

Each command group lives in its own module and exposes ``register(app)``. User mistakes
(:class:`~sci_evidence.errors.SciEvidenceError`) are printed as one line ``Error: ...`` on
standard error with exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
import warnings

import typer

from sci_evidence import __version__
from sci_evidence.cli import classify, evidence, meta, review, trial, web
from sci_evidence.cli._common import err_console
from sci_evidence.errors import SciEvidenceError

app = typer.Typer(
    name="sci-evidence",
    help="Evidence synthesis of cell therapies in traumatic spinal cord injury.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sci-evidence {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """Evidence synthesis of cell therapies in traumatic spinal cord injury."""


for _module in (meta, classify, evidence, review, trial, web):
    _module.register(app)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    err_console.print(f"[yellow]Warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sci-evidence`` program."""
    warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=False)
    except SciEvidenceError as exc:
        err_console.print(f"Error: {exc}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.", markup=False)
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("Interrupted.", markup=False)
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
