"""The import graph of kratom_omics is a tree of floors (docs: DESIGN.md, "Layering").

``errors`` and the bottom helpers (``_core``, the result accessor, atomic writes, defaults, the
design builder, smoothers) -> ``io``, ``pp`` -> ``tl`` (and ``datasets``) -> ``get`` -> ``pl`` ->
``report`` -> ``cli``. A module imports only from its own floor or below, and no modules import
each other in a circle. Every import counts, also those inside functions (lazy imports still tie
the modules together) and those only for type checking.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "kratom_omics"

FLOORS: dict[str, int] = {
    "errors": 0,
    "_version": 0,
    "_core": 1,
    "_defaults": 1,
    "_design": 1,
    "_files": 1,
    "_results": 1,
    "_smooth": 1,
    "io": 2,
    "pp": 2,
    "datasets": 3,
    "tl": 3,
    "get": 4,
    "pl": 5,
    "report": 6,
    "cli": 7,
    "__main__": 8,
    "": 8,  # the package itself: it re-exports every namespace (lazily)
}


def _modules() -> dict[str, tuple[Path, list[str]]]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ["kratom_omics", *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
            package = parts
        else:
            package = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> modules of kratom_omics it imports (resolved to the most specific module)."""
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names]
                found = [s for s in subs if s in modules]
                targets = found or [target]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges[name].update(t for t in targets if t in modules and t != name)
    return edges


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_floor() -> None:
    unknown = sorted({_area(m) for m in import_graph()} - set(FLOORS))
    assert unknown == [], f"add these modules/packages to FLOORS: {unknown}"


def test_no_import_runs_back_up() -> None:
    upward = [
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in sorted(targets)
        if FLOORS[_area(b)] > FLOORS[_area(a)]
    ]
    assert upward == []


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_checks_see_a_circle_and_an_upward_arrow() -> None:
    edges = {"kratom_omics.tl.a": {"kratom_omics.tl.b"}, "kratom_omics.tl.b": {"kratom_omics.tl.a"}}
    assert circles(edges) == [["kratom_omics.tl.a", "kratom_omics.tl.b"]]
    assert circles({"kratom_omics.tl.a": {"kratom_omics.tl.b"}, "kratom_omics.tl.b": set()}) == []
    real = import_graph()
    # relative, package-level and function-level imports are all resolved
    assert "kratom_omics._results" in real["kratom_omics.get._differential"]
    assert "kratom_omics.pl" in real["kratom_omics.report._sections"]  # inside functions
    assert "kratom_omics.tl._limma._engine" in real["kratom_omics.tl._limma"]
    assert FLOORS["tl"] < FLOORS["get"] < FLOORS["pl"] < FLOORS["report"] < FLOORS["cli"]
