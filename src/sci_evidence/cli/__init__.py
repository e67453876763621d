"""The ``sci-evidence`` command line: a thin layer over the library.

Each command group lives in its own module and exposes ``register(app)``. User mistakes
(:class:`~sci_evidence.errors.SciEvidenceError`), usage errors (a missing argument, an unknown
option or command, a bad option value) and faults of the machine (a full disk, a file that
cannot be read) are printed as one line ``Error: ...`` on standard error with exit code 2 —
never a traceback. Ctrl-C ends with exit code 130.

Start-up stays fast: this module and the command modules import only typer and rich at
module level; numpy, pandas, scipy, matplotlib and SQLAlchemy are imported inside the
commands that use them, so ``sci-evidence --help`` never loads them.
"""

from __future__ import annotations

import sys
import warnings

import typer

from sci_evidence import __version__
from sci_evidence.cli import classify, evidence, meta, review, trial, web
from sci_evidence.cli._common import err_console
from sci_evidence.errors import SciEvidenceError
from sci_evidence.text import strip_control

PROG_NAME = "sci-evidence"

app = typer.Typer(
    name=PROG_NAME,
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
    err_console.print(
        "Warning: " + one_line(message), highlight=False, soft_wrap=True, markup=False
    )


def one_line(message: object) -> str:
    """``message`` as one printable line: terminal controls stripped, line breaks joined."""
    text = strip_control(str(message).replace("\r\n", "\n").replace("\r", "\n"))
    return " ".join(part.strip() for part in text.split("\n") if part.strip())


def _error(message: object, code: int = 2) -> None:
    err_console.print("Error: " + one_line(message), highlight=False, soft_wrap=True, markup=False)
    sys.exit(code)


def _usage_error(exc: typer.TyperException) -> None:
    """A usage error of the parser (typer's vendored click): one line, exit 2.

    ``typer.TyperException`` is the public base class of every exception typer's parser
    raises (typer >= 0.27.2); its ``format_message()`` is the reason and ``exit_code`` its
    code (2 for usage errors). The usage text click would print above it is left out: the
    line names the command to ask for help instead.
    """
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        # the bare program or a bare group: asking for nothing is asking for help (typer's
        # rich help has already been printed on stdout; the plain one is the message)
        if exc.format_message().strip():
            typer.echo(exc.format_message())
        sys.exit(0)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    code = exc.exit_code if isinstance(exc.exit_code, int) and exc.exit_code else 2
    _error(exc.format_message() + hint, 2 if code == 1 else code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sci-evidence`` program."""
    warnings.showwarning = _show_warning
    try:
        code = app(args=argv, standalone_mode=False, prog_name=PROG_NAME)
    except SciEvidenceError as exc:
        _error(exc)
    except typer.TyperException as exc:
        _usage_error(exc)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("Interrupted.", markup=False)
        sys.exit(130)
    except RecursionError:
        # input nested deeper than Python's stack (a reader that did not catch it itself)
        _error("the input is nested too deeply to read")
    except MemoryError:
        _error("not enough memory for this request; try a smaller input or fewer iterations")
    except OSError as exc:
        # a fault of the machine (disk full, permission lost, a folder given as a file)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _error(f"{where}{exc.strerror or exc}")
    # standalone_mode=False returns typer.Exit's code instead of raising it
    if isinstance(code, int) and not isinstance(code, bool) and code:
        sys.exit(code)
