"""Fast start (issue 13, issue 16): ``sci-evidence --help`` loads no heavy library.

numpy, pandas, scipy, matplotlib, SQLAlchemy and pyarrow are imported inside the commands
that use them. The first test covers the root and the reliability-owned command modules;
the second covers the whole command line, so it depends on every command module (those of
other engineers too) keeping its heavy imports inside functions.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "sqlalchemy", "pyarrow")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize(
    "module",
    ["sci_evidence.cli._common", "sci_evidence.cli.meta", "sci_evidence.cli.classify"],
)
def test_reliability_command_modules_import_nothing_heavy(module):
    assert _loaded_after(f"import {module}") == []


def test_the_whole_command_line_imports_nothing_heavy():
    # Depends on every cli module (evidence, review, trial, web, ... as merged).
    assert _loaded_after("import sci_evidence.cli") == []


def test_help_runs_without_heavy_imports():
    code = (
        "import sys\n"
        "from sci_evidence.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', ' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1].strip() == "LOADED"
