"""Shared by every test folder: ``tests/`` is put on ``sys.path`` so tests import the test-only
helpers as top-level modules: ``tolerances`` (every numeric tolerance, one home) and
``support`` (generators of random and synthetic ISNCSCI exams and trials, kept out of the
installed package because only tests and benchmarks use them)."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
