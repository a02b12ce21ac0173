from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edalab import App, Event
from edalab.patterns.participant import Participant, coupling

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_participant_refuses_to_emit_an_undeclared_type():
    app = App()
    p = Participant("p", app, emits={"ok": "out"})

    @p.on("in", "ping")
    def handle(event):
        return p.emit("surprise", {"workflow": "w"}, cause=event)
    app.source("in", [Event("ping", "/t", {"workflow": "w"}, time=T0)])
    stats = app.run()
    assert stats.dead_letters == 1


def test_participant_declares_each_topic_once_with_its_types():
    p = Participant("p", App(), emits={})
    with pytest.raises(ValueError, match="declare the event types"):
        p.on("in")
    p.on("in", "ping")(lambda e: None)
    with pytest.raises(ValueError, match="already subscribes"):
        p.on("in", "pong")


def test_coupling_links_emitters_and_consumers_on_the_same_topic():
    app = App()
    a = Participant("a", app, emits={"ping": "t", "other": "u"})
    b = Participant("b", app, emits={})
    b.on("t", "ping")(lambda e: None)
    c = Participant("c", app, emits={})
    c.on("u", "ping")(lambda e: None)  # ping on another topic: no link to a
    table = coupling([a, b, c])
    assert table.loc["a", "talks to"] == "b" and table.loc["c", "partners"] == 0
    assert table.loc["a", "event types known"] == 2
