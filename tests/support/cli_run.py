"""Running the ``sci-evidence`` program in-process from a test."""

from __future__ import annotations

from sci_evidence.cli import main


def run(argv: list[str], capsys) -> tuple[int, str, str]:  # noqa: ANN001
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err
