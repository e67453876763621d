"""Shared by every test folder: ``tests/`` is put on ``sys.path`` so tests import the test-only
helpers as top-level modules: ``tolerances`` (every numeric tolerance, one home) and
``support`` (generators of random and synthetic ISNCSCI exams and trials, kept out of the
installed package because only tests and benchmarks use them); and the hypothesis profile."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

# Property tests draw the same examples on every run (CI and here alike): a counterexample is
# then a reproducible failure of a commit, not a flake that depends on the run. Exploring new
# examples stays one flag away: `pytest --hypothesis-seed=N` or `--hypothesis-profile=explore`.
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")
