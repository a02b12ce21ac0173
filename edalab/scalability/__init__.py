"""Theodolite's four scalability use cases as edalab apps, and `use_case`, which builds one.

The load is `edalab.streams.power_sensors`: one reading per sensor per second, so the load in
messages per second is the number of sensors. Every use case reads topic ``input`` (keyed by
sensor) and, but UC1, writes ``output``:

- ``uc1``: `uc1_storage`, each reading converted and written to SQLite;
- ``uc2``: `uc2_downsample`, per-sensor tumbling one-minute windows (count, sum, min, max,
  mean, population variance);
- ``uc3``: `uc3_aggregate`, the same statistics per (sensor, hour of day) in hopping windows
  of 30 days advancing one day;
- ``uc4``: `uc4_hierarchy`, aggregates per group of a nested registry (topic
  ``configuration``) every 5 s with 5 s grace, results fed back for the nested groups.

>>> use_case("uc2", window="10s")
App(broker=MemoryBroker(...), handlers=['downsample'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edalab.brokers.base import Broker
from edalab.runtime.app import App
from edalab.scalability.uc1_storage import uc1_storage
from edalab.scalability.uc2_downsample import uc2_downsample
from edalab.scalability.uc3_aggregate import uc3_aggregate
from edalab.scalability.uc4_hierarchy import registry_event, uc4_hierarchy

__all__ = ["USE_CASES", "registry_event", "uc1_storage", "uc2_downsample", "uc3_aggregate",
           "uc4_hierarchy", "use_case"]

#: Use-case name -> the function that builds its App.
USE_CASES: dict[str, Callable[..., App]] = {
    "uc1": uc1_storage, "uc2": uc2_downsample, "uc3": uc3_aggregate, "uc4": uc4_hierarchy}


def use_case(name: str, broker: Broker | None = None, **params: Any) -> App:
    """The App of use case `name` (``"uc1"`` .. ``"uc4"``) on `broker`, built with `params`
    (each use case's keyword arguments: ``partitions``, ``window``, ``db``, ...)."""
    try:
        build = USE_CASES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown use case {name!r}; choose from {', '.join(USE_CASES)}") from None
    return build(broker, **params)
