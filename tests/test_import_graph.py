"""The package's import graph, read from the source (AST), has no cycle.

Every `import`/`from ... import` of a hnet_diag module counts, at module level or inside a
function (a deferred import is still a dependency), except under `if TYPE_CHECKING:`.
A cycle means two modules each need the other: the layering (sources -> analyzers ->
results -> rules -> diagnosis -> report -> commands) no longer reads as the architecture.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hnet_diag"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The hnet_diag modules `name` imports (a package's __init__ when the name is not a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import hnet_diag.x.y` of a name inside a module
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("hnet_diag"):
                out.add(t)
    return out


@functools.lru_cache(maxsize=1)  # parsed once for all tests (callers only read it)
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (iterative DFS, three colours)."""
    colour = {n: 0 for n in g}
    for start in sorted(g):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(g[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(child, 2) == 1:
                return path[path.index(child):] + [child]
            elif colour.get(child) == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(g[child]))))
                path.append(child)
    return None


def strongly_connected(g: dict[str, set[str]]) -> list[frozenset[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(frozenset(group))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


#: cycles that exist today, each with who removes it; a new cycle fails, and so does an entry
#: here once its cycle is gone (delete it then), so the list only shrinks
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert strongly_connected({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [frozenset({"a", "b"})]


def test_the_graph_sees_relative_deferred_and_package_imports():
    g = graph()
    assert "hnet_diag.rules.registry" in g["hnet_diag.rules.engine"]  # deferred, relative
    assert "hnet_diag.results" in g["hnet_diag.rules.gradients"]  # `from ..results import`
    assert "hnet_diag.paper" in g["hnet_diag.rules.schedule"]  # `from .. import paper`
    assert len(g) > 50


def test_hnet_diag_has_no_import_cycle():
    g = graph()
    groups = strongly_connected(g)
    new = [sorted(c) for c in groups if c not in KNOWN_CYCLES]
    assert not new, f"import cycle(s): {new}; one path: {' -> '.join(find_cycle({n: g[n] & set(new[0]) for n in new[0]}) or [])}"
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in groups]
    assert not gone, f"these cycles are gone, delete them from KNOWN_CYCLES: {gone}"


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_trainer_imports_nothing_from_the_analysis_side():
    analysis = {"sources", "analyzers", "results", "rules", "diagnosis", "report", "commands", "cli", "advice"}
    for module, deps in graph().items():
        if _layer(module) == "trainer":
            bad = sorted(d for d in deps if _layer(d) in analysis)
            assert not bad, f"{module} imports {bad}"


def test_sources_and_analyzers_never_reach_up_into_rules_reports_or_commands():
    above = {"rules", "diagnosis", "report", "commands", "cli"}
    for module, deps in graph().items():
        if _layer(module) in ("sources", "analyzers"):
            bad = sorted(d for d in deps if _layer(d) in above)
            assert not bad, f"{module} imports {bad}"
