"""The public API of sci_evidence.meta is one sorted list, and every name in it exists."""

import ast
from pathlib import Path

import sci_evidence.meta as meta

INIT = Path(meta.__file__)


def test_all_is_sorted_and_unique():
    assert list(meta.__all__) == sorted(set(meta.__all__))


def test_every_public_name_is_importable():
    missing = [name for name in meta.__all__ if not hasattr(meta, name)]
    assert missing == []


def test_all_is_one_literal_list_after_the_imports():
    """One ``__all__ = [...]`` assignment, no ``+=`` blocks and no imports after it."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    assigns = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AugAssign)
        and any(
            isinstance(t, ast.Name) and t.id == "__all__"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    assert len(assigns) == 1 and isinstance(assigns[0], ast.Assign)
    assert isinstance(assigns[0].value, ast.List)
    position = tree.body.index(assigns[0])
    late_imports = [n for n in tree.body[position:] if isinstance(n, ast.Import | ast.ImportFrom)]
    assert late_imports == []
    assert "noqa: E402" not in INIT.read_text(encoding="utf-8")
