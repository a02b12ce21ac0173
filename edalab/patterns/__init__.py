"""Event-driven patterns: event store, CQRS projections, sagas, resilience, serverless, mesh.

Each module is usable alone. Names that start servers or import a broker client load on first
use, so ``import edalab.patterns`` stays cheap.
"""

from __future__ import annotations

__all__ = ["EventMesh", "mesh_latency"]

_LAZY = {"EventMesh": "edalab.patterns.mesh", "mesh_latency": "edalab.patterns.mesh"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edalab.patterns' has no attribute {name!r}")
