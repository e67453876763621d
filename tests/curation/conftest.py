"""Fixtures for the curation tests: the curation script ``tools/curate.py``, imported by its path
(it lives outside the installed package), and its raw and decision files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"


def load_curate():
    """The module ``tools/curate.py`` (imported once)."""
    if "sci_evidence_tools_curate" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "sci_evidence_tools_curate", TOOLS / "curate.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["sci_evidence_tools_curate"]


@pytest.fixture(scope="session")
def curate():
    return load_curate()


@pytest.fixture(autouse=True)
def _no_db(monkeypatch):
    monkeypatch.delenv("SCI_EVIDENCE_DB", raising=False)
