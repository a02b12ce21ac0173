"""Functions the real-mode tests run in worker processes (importable, as spawn needs)."""

from __future__ import annotations

import time

from edalab import Event


def slow_init() -> dict:
    time.sleep(0.2)
    return {"factor": 2}


def double(event: Event, state: dict) -> Event:
    if event.data.get("bad"):
        raise ValueError("bad payment")
    if event.data.get("hang"):
        time.sleep(60)
    return Event(type="doubled", source="tests", data={"x": event.data["x"] * state["factor"]})


def failing_init() -> None:
    raise RuntimeError("model file missing")


def echo(event: Event) -> None:
    return None
