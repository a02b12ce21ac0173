"""Notebooks import only public names: they are the story a user follows, so every name they
use must be one a user may rely on.

A name is public when no part of its path starts with ``_`` and, where the module lists
``__all__``, it is listed there. Each ``from edalab... import X`` must also resolve. Code
cells are parsed (IPython magics and shell lines are skipped), not run.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def code_of(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def private_uses(code: str) -> list[str]:
    """The edalab imports of `code` that reach a private or missing name, as messages.

    >>> private_uses("from edalab.viz._live import LiveDashboard")
    ['edalab.viz._live: a private module']
    >>> private_uses("from edalab.health import compare_methods, _nope")
    ['edalab.health._nope: a private name']
    >>> private_uses("from edalab.health import news2, compare")
    ['edalab.health.compare: does not exist']
    """
    problems = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            problems += [f"{m}: a private module" for m in modules
                         if m.startswith("edalab") and _private(m)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edalab"):
            if _private(node.module):
                problems.append(f"{node.module}: a private module")
                continue
            problems += [p for alias in node.names if (p := _check(node.module, alias.name))]
    return problems


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def _check(module_name: str, name: str) -> str | None:
    where = f"{module_name}.{name}"
    if name.startswith("_"):
        return f"{where}: a private name"
    module = importlib.import_module(module_name)
    try:
        getattr(module, name)
    except AttributeError:
        try:
            importlib.import_module(where)  # a submodule
        except ImportError:
            return f"{where}: does not exist"
    public = getattr(module, "__all__", None)
    if public is not None and name not in public:
        return f"{where}: not in {module_name}.__all__"
    return None


def test_notebooks_are_found():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_only_public_names(notebook):
    assert private_uses(code_of(notebook)) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_output_check_markers_stand_on_their_own_line(notebook):
    """nbval reads ``# NBVAL_CHECK_OUTPUT`` only as a comment line of its own: after code on
    the same line it is ignored, and the cell's output is compared with nothing."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    ignored = [(i, line.strip()) for i, cell in enumerate(cells) if cell["cell_type"] == "code"
               for line in "".join(cell["source"]).splitlines()
               if "NBVAL_" in line and not line.strip().startswith("#")]
    assert not ignored, f"markers nbval would ignore (cell, line): {ignored}"


def frames_by_hand(code: str) -> list[str]:
    """Lines of `code` that build a DataFrame from events' data by hand instead of with
    `edalab.streams.events_frame` (the one function for it).

    >>> frames_by_hand("df = pd.DataFrame([r.event.data for r in broker.read('t')])")
    ["df = pd.DataFrame([r.event.data for r in broker.read('t')])"]
    >>> frames_by_hand("df = events_frame(r.event for r in broker.read('t'))")
    []
    """
    return [line.strip() for line in code.splitlines()
            if re.search(r"DataFrame\(\s*\[[^\]]*\.data\b", line)]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_turn_events_into_frames_with_events_frame(notebook):
    assert frames_by_hand(code_of(notebook)) == []
