"""The layer picture of the package, from its imports: run ``python tools/layers.py [SRC]``.

Reads every module under ``SRC`` (default ``src/sci_evidence``) with :mod:`ast` — nothing is
imported or run — and prints:

- imports against the layers (core ``meta``/``isncsci`` → domain ``evidence``/``trials``/
  ``review`` → edges ``report``/``cli``/``web``; top-level leaf modules such as ``errors``
  may be imported from anywhere): every import from a lower layer to a higher one, and from
  ``review`` to ``report``/``cli``;
- import cycles between modules at import time (module-level imports only: imports inside
  functions and under ``if TYPE_CHECKING:`` do not run at import time and are left out);
- files over 500 lines.

Compare two trees with ``git archive REV src | tar -x -C /tmp/old`` and
``python tools/layers.py /tmp/old/src/sci_evidence``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYER = {"meta": 0, "isncsci": 0, "evidence": 1, "trials": 1, "review": 1}
EDGES = {"report", "cli", "web"}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([root.name, *parts])


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    top = parts[1]
    if top in EDGES:
        return 2
    return LAYER.get(top)


def _imports(path: Path, module: str, package: bool) -> tuple[set[str], set[str], set[str]]:
    """(all imports, imports that run (not under TYPE_CHECKING), module-level imports run at
    import time) of one file, as module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    everything: set[str] = set()
    running: set[str] = set()
    at_import: set[str] = set()

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            return [stem] + [f"{stem}.{a.name}" for a in node.names]
        return []

    def walk(nodes: list[ast.stmt], top: bool, runs: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found = names(node)
                everything.update(found)
                if runs:
                    running.update(found)
                if top:
                    at_import.update(found)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                walk(node.body, False, False)
                walk(node.orelse, top, runs)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                walk(node.body, False, runs)
            elif isinstance(node, ast.ClassDef):
                walk(node.body, top, runs)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        walk([n for n in inner if isinstance(n, ast.AST)], top, runs)

    walk(tree.body, True, True)
    return everything, running, at_import


def main(root: Path) -> int:
    files = sorted(root.rglob("*.py"))
    modules = {_module_name(root, f): f for f in files}
    graph: dict[str, set[str]] = {}
    graph_calls: dict[str, set[str]] = {}
    against: list[str] = []
    for mod, path in modules.items():
        every, running, runtime = _imports(path, mod, path.name == "__init__.py")
        graph_calls[mod] = {
            m for m in running if m in modules and m != mod and not mod.startswith(m + ".")
        }
        resolved_all = {m for m in every if m in modules}
        # an edge to one's own parent package is no cycle: Python imports the parents first
        graph[mod] = {
            m for m in runtime if m in modules and m != mod and not mod.startswith(m + ".")
        }
        src_layer = _layer(mod)
        for target in sorted(resolved_all):
            t_layer = _layer(target)
            if src_layer is None or t_layer is None:
                continue
            upward = t_layer > src_layer
            review_to_edge = mod.split(".")[1] == "review" and target.split(".")[1] in EDGES
            if upward or review_to_edge:
                against.append(f"{mod} -> {target}")
    cycles = _cycles(graph)
    # imports inside functions too: a result that imports its model to refit is a reach-back;
    # a package's __init__ that re-exports is left out (it imports everything by design)
    calls = {
        m: {
            t
            for t in ts
            if not t.endswith(
                ("meta", "isncsci", "evidence", "trials", "review", "report", "cli", "web")
            )
        }
        for m, ts in graph_calls.items()
    }
    reach_backs = _cycles(calls)
    long_files = [
        (n, str(p.relative_to(root.parent)))
        for p in files
        if (n := sum(1 for _ in p.open(encoding="utf-8"))) > 500
    ]
    print(f"modules: {len(modules)}")
    print(f"imports against the layers: {len(against)}")
    for line in against:
        print(f"  {line}")
    print(f"import cycles at import time: {len(cycles)}")
    for cyc in cycles:
        print("  " + " -> ".join(cyc))
    print(f"cycles counting imports inside functions too: {len(reach_backs)}")
    for cyc in reach_backs:
        print("  " + " <-> ".join(cyc))
    print(f"files over 500 lines: {len(long_files)}")
    for n, p in sorted(long_files, reverse=True):
        print(f"  {n:5d} {p}")
    return 0


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "src/sci_evidence").resolve()))
