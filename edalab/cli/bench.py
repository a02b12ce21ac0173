"""`edalab bench NAME`: route to a benchmark of `edalab.bench` (each has ``main(argv)``)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
import textwrap
from pathlib import Path

import edalab.bench

__all__ = ["benchmark_summary", "benchmarks", "main"]


def benchmarks() -> list[str]:
    """The benchmark names, sorted: the public modules of `edalab.bench`.

    >>> {"bus", "nats"} <= set(benchmarks())
    True
    """
    return sorted(m.name for m in pkgutil.iter_modules(edalab.bench.__path__)
                  if not m.name.startswith("_"))


def benchmark_summary(name: str) -> str:
    """What benchmark `name` measures, in one line: its docstring's first line after the
    command, read from the source (the benchmarks are not imported just to list them).

    >>> benchmark_summary("bus")
    'the event bus against the bare-Python floor and peers, in one run.'
    """
    path = Path(edalab.bench.__path__[0]) / f"{name}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = doc.split("\n\n")[0].replace("\n", " ")
    return re.sub(r"^`+edalab bench \w+`+:\s*", "", first).replace("`", "")


def _listing() -> str:
    names = benchmarks()
    width = max(map(len, names)) + 4
    rows = [textwrap.fill(benchmark_summary(n), 96, initial_indent=f"  {n:<{width - 2}}",
                          subsequent_indent=" " * width) for n in names]
    return ("usage: edalab bench NAME [OPTIONS]\n\nbenchmarks:\n" + "\n".join(rows)
            + "\n\nedalab bench NAME --help shows a benchmark's options (--json: JSON output)")


def main(argv: list[str]) -> int:
    """Run ``edalab bench NAME [OPTIONS]`` (the arguments after ``bench``); the exit status."""
    names = benchmarks()
    if not argv or argv[0] in ("--list", "-h", "--help"):
        print(_listing())
        return 0
    if argv[0] not in names:
        print(f"edalab bench: unknown benchmark {argv[0]!r}; choose from {', '.join(names)}",
              file=sys.stderr)
        return 2
    return int(importlib.import_module(f"edalab.bench.{argv[0]}").main(argv[1:]) or 0)
