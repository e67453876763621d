"""One tolerance module for the whole suite: no test file defines its own tolerance numbers."""

import ast
import re
from pathlib import Path

import tolerances

TESTS = Path(__file__).resolve().parent
NAME = re.compile(r"(^|_)(R|A)?TOL($|_)|PRINTED|TOLERANCE", re.IGNORECASE)


def _literal_tolerances(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        names = [
            n.id
            for t in node.targets
            for n in (t.elts if isinstance(t, ast.Tuple) else [t])
            if isinstance(n, ast.Name)
        ]
        has_number = any(
            isinstance(c, ast.Constant) and isinstance(c.value, float | int)
            for c in ast.walk(node.value)
        )
        if has_number and any(NAME.search(n) for n in names):
            found.append(f"{path.relative_to(TESTS)}: {', '.join(names)}")
    return found


def test_no_test_file_defines_its_own_tolerance():
    files = [p for p in TESTS.rglob("*.py") if p.name != "tolerances.py"]
    assert [hit for p in files for hit in _literal_tolerances(p)] == []


def test_every_tolerance_is_a_positive_number_with_a_reason():
    source = (TESTS / "tolerances.py").read_text(encoding="utf-8")
    names = [n for n in vars(tolerances) if n.isupper()]
    assert len(names) >= 10
    for name in names:
        value = getattr(tolerances, name)
        values = value.values() if isinstance(value, dict) else [value]
        # at most 1e-2: the loosest, GLMM fits under lme4's default stopping rule
        assert all(isinstance(v, float) and 0 < v <= 0.01 for v in values), name
        line = next(i for i, text in enumerate(source.splitlines()) if text.startswith(name))
        assert source.splitlines()[line - 1].startswith("#:"), f"{name} has no reason above it"
