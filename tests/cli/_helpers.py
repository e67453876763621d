"""Helpers of the command-line tests: run the installed ``sci-evidence`` program."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def program() -> list[str]:
    """The installed console script (beside this interpreter), else ``python -m``."""
    script = Path(sys.executable).with_name("sci-evidence")
    if script.exists():
        return [str(script)]
    found = shutil.which("sci-evidence")
    return [found] if found else [sys.executable, "-m", "sci_evidence"]


def run_cli(*args: str, cwd: str | os.PathLike[str] | None = None, timeout: float = 120, **env):
    """Run ``sci-evidence ARGS`` as a subprocess; wide, colourless output."""
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", **env}
    return subprocess.run(
        [*program(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )


def assert_one_line_error(out, *, code: int = 2, contains: str | None = None) -> str:
    """Exit ``code``, exactly one line on stderr starting with ``Error:``, no traceback."""
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == code, (out.returncode, out.stderr[-2000:])
    assert len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in out.stderr
    if contains is not None:
        assert contains.lower() in lines[0].lower(), lines[0]
    return lines[0]


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process (``sci_evidence.cli.main``): exit code, stdout, stderr."""
    from sci_evidence.cli import main

    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(code: int, err: str, *, contains: str | None = None) -> str:
    """Assert exit 2 and exactly one ``Error:`` line on stderr (warnings aside)."""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("Warning:")]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    if contains is not None:
        assert contains.lower() in lines[0].lower(), lines[0]
    return lines[0]
