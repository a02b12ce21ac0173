"""Participants: named services of a workflow whose subscriptions and emitted event types are
declared, so what each must know (its coupling) is computed from the declarations.

A `Participant` wires its handlers into an `App` and refuses to emit an event type it did not
declare, so the declarations are what the code does; `coupling` reads them back as a table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from edalab.events import Event
from edalab.runtime.app import App

__all__ = ["Participant", "coupling"]


class Participant:
    """A named participant whose subscriptions and emitted event types are declared, wired
    into an `App` as handlers.

    ``@p.on(topic, *types)`` registers a handler for those event types on `topic` (consumer
    group = the participant's name; other types on the topic are ignored). Handlers return
    events made with `emit`; an event of a type not in `emits` is refused (the handler's event
    is nacked and in the end dead-lettered), so the declarations are what the code does.

    Parameters
    ----------
    name
        The participant; its events' source is ``/<name>``.
    app
        The app to register in.
    emits
        Event type -> the topic it is published to.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> app = App()
    >>> echo = Participant("echo", app, emits={"pong": "out"})
    >>> @echo.on("in", "ping")
    ... def reply(event):
    ...     return echo.emit("pong", {"workflow": "w1"}, cause=event)
    >>> ping = Event("ping", "/test", {"workflow": "w1"},
    ...              time=datetime(2024, 1, 1, tzinfo=timezone.utc), id="p1")
    >>> [(e.type, e.source, e.key, e.extensions["causation"]) for e in reply.test(ping)]
    [('pong', '/echo', 'w1', 'p1')]
    >>> echo.subscriptions
    {'in': ('ping',)}
    """

    def __init__(self, name: str, app: App, *, emits: dict[str, str]):
        if not name or not isinstance(name, str):
            raise ValueError(f"a participant needs a non-empty name, got {name!r}")
        self.name = name
        self.app = app
        self.emits = dict(emits)
        self.subscriptions: dict[str, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return (f"Participant({self.name!r}, subscribes={self.subscriptions}, "
                f"emits={self.emits})")

    def on(self, topic: str, *types: str) -> Callable[[Callable], Any]:
        if not types:
            raise ValueError(f"{self.name}: declare the event types handled on {topic!r}")
        if topic in self.subscriptions:
            raise ValueError(f"{self.name} already subscribes to {topic!r}")
        self.subscriptions[topic] = types
        accepted = frozenset(types)

        def register(fn: Callable[[Event], Any]):
            def handle(event: Event):
                if event.type not in accepted:
                    return None
                out = fn(event)
                for e in out if isinstance(out, list) else [out] if out is not None else []:
                    if e.type not in self.emits:
                        raise ValueError(f"{self.name} emitted {e.type!r}, which it does not "
                                         f"declare (declared: {sorted(self.emits)})")
                return out
            handle.__name__ = f"{self.name}@{topic}"
            return self.app.handler(topic, group=self.name, output=self._route)(handle)
        return register

    def _route(self, event: Event) -> str:
        return self.emits[event.type]

    def emit(self, type: str, data: dict, *, cause: Event) -> Event:
        """An event of `type` from this participant, caused by `cause`: keyed by the workflow,
        at the app's clock (never before its cause), with `causation` and `wallns`."""
        when = max(self.app.now(), cause.time)
        return Event(type, f"/{self.name}", data, key=data.get("workflow"), time=when,
                     extensions={"causation": cause.id, "wallns": time.time_ns()})


def coupling(participants: list[Participant]) -> pd.DataFrame:
    """What each participant must know, from its declared subscriptions and emitted types.

    Columns: topics it subscribes to and emits to, event types it consumes and emits, the
    number of distinct event types it knows, and the participants it exchanges events with
    (those emitting what it consumes on the same topic, and those consuming what it emits).

    Examples
    --------
    >>> app = App()
    >>> a = Participant("a", app, emits={"ping": "t"})
    >>> b = Participant("b", app, emits={"pong": "u"})
    >>> _ = b.on("t", "ping")(lambda e: None)
    >>> coupling([a, b])[["consumes", "emits", "talks to"]].to_dict("index")
    {'a': {'consumes': '', 'emits': 'ping', 'talks to': 'b'}, 'b': {'consumes': 'ping', \
'emits': 'pong', 'talks to': 'a'}}
    """
    consumes = {p.name: {(topic, t) for topic, types in p.subscriptions.items() for t in types}
                for p in participants}
    emits = {p.name: set(p.emits.items()) for p in participants}
    rows = []
    for p in participants:
        upstream = {q for q in consumes if q != p.name and emits[q] & {(t, topic) for topic, t
                                                                        in consumes[p.name]}}
        downstream = {q for q in consumes if q != p.name and {(topic, t) for t, topic in
                                                             emits[p.name]} & consumes[q]}
        consumed = sorted({t for _, t in consumes[p.name]})
        rows.append({"participant": p.name,
                     "subscribes to": len(p.subscriptions),
                     "emits to": len(set(p.emits.values())),
                     "consumes": ", ".join(consumed), "emits": ", ".join(sorted(p.emits)),
                     "event types known": len(set(consumed) | set(p.emits)),
                     "talks to": ", ".join(sorted(upstream | downstream)),
                     "partners": len(upstream | downstream)})
    return pd.DataFrame(rows).set_index("participant")
