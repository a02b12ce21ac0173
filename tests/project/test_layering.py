"""The import graph of edalab, read from every module's source (module-level imports and those
inside functions alike): no cycle between modules, and no module imports a higher layer; and no
module is over 450 lines.

A module's layer is the layer of its top-level package under ``edalab`` (``edalab.health.charts``
is in ``health``: layer 5), as the design ("Layers") names them. The package
``edalab`` itself is the public facade (`from edalab import App, Event, ...`): its layer is the
highest layer it imports, so a low module that imports a name from the facade instead of from
its home module is caught too.

Imports under ``if TYPE_CHECKING:`` count for the layers (a type from a higher layer is a
dependency on it) but not for cycles (they never run, so they cannot make one at import time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edalab

ROOT = Path(edalab.__file__).parent

#: Layer of each top-level package (or module) under edalab.
LAYERS = {
    "events": 1, "errors": 1, "jsonproof": 1, "durations": 1, "readonly": 1,
    "brokers": 2,
    "runtime": 3, "resilience": 3, "state": 3,
    "operators": 4, "ml": 4, "streams": 4, "patterns": 4, "serverless": 4, "viz": 4,
    "fraud": 5, "health": 5, "apps": 5, "workflows": 5, "retraining": 5, "scalability": 5,
    "cli": 6, "bench": 6, "testing": 6,
}
#: Imports across layers known to be wrong and not fixed yet: (importer, imported) -> why.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = ("edalab", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The edalab module `name` names: itself, or the nearest enclosing package."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.AST) -> set[int]:
    """The ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    blocks = [n for n in ast.walk(tree) if isinstance(n, ast.If)
              and ast.unparse(n.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")]
    return {id(n) for block in blocks for stmt in block.body for n in ast.walk(stmt)}


def _imports(module: str, path: Path, modules: dict[str, Path], *,
             type_only: bool = True) -> set[str]:
    """The edalab modules `module` imports, anywhere in its body (with `type_only` False,
    leaving out those under ``if TYPE_CHECKING:``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = set() if type_only else _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule when there is one.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        found |= {target for n in names if n.split(".")[0] == "edalab"
                  and (target := _resolve(n, modules)) is not None and target != module}
    return found


def import_graph(*, type_only: bool = True) -> dict[str, set[str]]:
    """Module -> the edalab modules it imports (`type_only`: as for `_imports`)."""
    modules = _modules()
    return {name: _imports(name, path, modules, type_only=type_only)
            for name, path in modules.items()}


def layer_of(module: str, graph: dict[str, set[str]]) -> int:
    """The layer of `module` (see the module docstring)."""
    parts = module.split(".")
    if len(parts) == 1:
        return max((layer_of(m, graph) for m in graph[module] if m != module), default=1)
    if parts[1] not in LAYERS:
        raise KeyError(f"{module}: its package {parts[1]!r} has no layer in LAYERS")
    return LAYERS[parts[1]]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """One cycle through the first member of a component, as a readable chain."""
    start, inside = members[0], set(members)
    trail, seen = [start], {start}
    while True:
        nxt = sorted(graph[trail[-1]] & inside)
        if start in nxt and len(trail) > 1:
            return [*trail, start]
        step = next((m for m in nxt if m not in seen), start)
        if step == start:
            return [*trail, start]
        trail.append(step)
        seen.add(step)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_reads_imports_inside_functions_and_relative_ones(tmp_path):
    modules = {"edalab": tmp_path, "edalab.a": tmp_path, "edalab.a.b": tmp_path,
               "edalab.c": tmp_path}
    source = tmp_path / "b.py"
    source.write_text("from typing import TYPE_CHECKING\n\nimport os\nfrom . import x\n\n"
                      "def f():\n    from edalab.c import y\n\n"
                      "if TYPE_CHECKING:\n    from edalab import z\n")
    assert _imports("edalab.a.b", source, modules) == {"edalab.c", "edalab.a", "edalab"}
    assert _imports("edalab.a.b", source, modules, type_only=False) == {"edalab.c", "edalab.a"}


def test_every_package_has_a_layer(graph):
    for module in graph:
        layer_of(module, graph)


def test_cycles_are_found_and_shown_as_a_chain():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert _path(g, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycles_between_modules():
    graph = import_graph(type_only=False)
    found = [" -> ".join(_path(graph, members)) for members in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_no_module_imports_a_higher_layer(graph):
    upward = [f"{m} (layer {layer_of(m, graph)}) imports {t} (layer {layer_of(t, graph)})"
              for m, targets in sorted(graph.items()) for t in sorted(targets)
              if layer_of(t, graph) > layer_of(m, graph) and (m, t) not in KNOWN_UPWARD]
    assert not upward, "a lower layer imports a higher one:\n" + "\n".join(upward)


def test_known_exceptions_are_still_needed(graph):
    stale = [pair for pair in KNOWN_UPWARD if pair[1] not in graph.get(pair[0], ())]
    assert not stale, f"remove these from KNOWN_UPWARD, they no longer import: {stale}"


MAX_LINES = 450  # one concept per file: a module past this is two concepts, or more


def test_no_module_is_over_450_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (lines): {long}"


def test_no_module_imports_another_modules_private_name():
    crossing = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edalab"):
                crossing += [f"{name} imports {node.module}.{a.name}" for a in node.names
                             if a.name.startswith("_")]
    assert crossing == [], "make these public where they live, or move them: " + \
        "; ".join(crossing)
