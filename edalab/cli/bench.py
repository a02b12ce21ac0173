"""`edalab bench NAME`: route to a benchmark of `edalab.bench` (each has ``main(argv)``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import edalab.bench

__all__ = ["benchmarks", "main"]


def benchmarks() -> list[str]:
    """The benchmark names, sorted: the public modules of `edalab.bench`.

    >>> {"bus", "nats"} <= set(benchmarks())
    True
    """
    return sorted(m.name for m in pkgutil.iter_modules(edalab.bench.__path__)
                  if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    """Run ``edalab bench NAME [OPTIONS]`` (the arguments after ``bench``); the exit status."""
    names = benchmarks()
    if not argv or argv[0] in ("--list", "-h", "--help"):
        print("benchmarks: " + ", ".join(names) + "\nusage: edalab bench NAME [--json]")
        return 0
    if argv[0] not in names:
        print(f"edalab bench: unknown benchmark {argv[0]!r}; choose from {', '.join(names)}",
              file=sys.stderr)
        return 2
    return int(importlib.import_module(f"edalab.bench.{argv[0]}").main(argv[1:]) or 0)
