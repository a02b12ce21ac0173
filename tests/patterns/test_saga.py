from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import App, Event
from edalab.patterns.aggregate import Aggregate, Repository
from edalab.patterns.eventstore import MemoryEventStore
from edalab.patterns.participant import Participant
from edalab.patterns.saga import Saga, SagaCoordinator, timer_ticks

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Order(Saga):
    """A shop order, nothing to do with ML: pay, then ship; a lost or late parcel is refunded."""

    source = "/shop"
    initial = "paying"
    steps = {"paying": "pay", "shipping": "ship", "refunding": "refund"}
    commands = {"pay": "pay.requested", "ship": "ship.requested", "refund": "refund.requested"}
    transitions = {("paying", "paid"): "shipping", ("paying", "declined"): "failed",
                   ("shipping", "shipped"): "delivered", ("shipping", "lost"): "refunding",
                   ("refunding", "refunded"): "refunded"}
    on_timeout = {"paying": "failed", "shipping": "refunding", "refunding": "refunding"}
    timeouts = {"pay": 60.0, "ship": 600.0, "refund": 60.0}
    keep = ("payment",)


class Shop(SagaCoordinator):
    def arguments(self, saga, step):
        return {"payment": saga.results["payment"]} if step == "refund" else {}


def run_shop(ship_answers: bool, crash_after=None):
    """Orders o1, o2; payments always answer, shipping only if `ship_answers`."""
    app, store = App(), MemoryEventStore()
    p = Participant("coordinator", app, emits={"pay.requested": "pay", "ship.requested": "ship",
                                               "refund.requested": "pay",
                                               **{f"saga.{s}": "done" for s in Order.finals}})
    shop = Shop(Order, store, p, crash_after=crash_after)
    p.on("orders", "order.placed")(
        lambda e: shop.start(e.data["order"], e, {"customer": "c1"}, {"amount": 10}))
    p.on("replies", *sorted({reply for _, reply in Order.transitions}))(shop.on_reply)
    p.on("ticks", "timer.tick")(shop.on_tick)
    bank = Participant("bank", app, emits={"paid": "replies", "refunded": "replies"})

    @bank.on("pay", "pay.requested", "refund.requested")
    def pay(e):
        kind = "paid" if e.type == "pay.requested" else "refunded"
        return bank.emit(kind, {"workflow": e.data["workflow"], "command": e.data["command"],
                                "payment": f"pay-{e.data['workflow']}"}, cause=e)

    courier = Participant("courier", app, emits={"shipped": "replies"})

    @courier.on("ship", "ship.requested")
    def ship(e):
        if ship_answers:
            return courier.emit("shipped", {"workflow": e.data["workflow"],
                                            "command": e.data["command"]}, cause=e)

    app.source("orders", [Event("order.placed", "/web", {"order": o}, key=o,
                                time=T0 + timedelta(seconds=i), id=f"order-{o}")
                          for i, o in enumerate(["o1", "o2"])])
    app.source("ticks", timer_ticks(T0, T0 + timedelta(seconds=1800), every=30))
    stats = app.run(batch_size=1)  # one event a step: the clock moves with the ticks
    return shop, store, stats


def test_a_saga_runs_any_workflow_given_as_a_table():
    shop, store, stats = run_shop(ship_answers=True)
    saga = Repository(store, Order).load("saga-o1")
    assert saga.status == "delivered" and saga.context == {"customer": "c1"}
    assert [e.event.type for e in store.read("saga-o2")][-1] == "saga.delivered"
    assert stats.dead_letters == 0


def test_a_timed_out_step_takes_the_tables_compensation():
    _, store, _ = run_shop(ship_answers=False)
    events = [s.event for s in store.read("saga-o1")]
    assert [e.data["step"] for e in events if e.type == "saga.step_started"] == [
        "pay", "ship", "refund"]
    assert events[-1].type == "saga.refunded"
    assert events[-1].data == {"workflow": "o1", "customer": "c1", "payment": "pay-o1",
                               "error": "ship timed out"}


def test_saga_state_is_the_aggregates_fold_of_its_stream():
    shop, store, _ = run_shop(ship_answers=False)
    in_memory = shop.sagas["o1"]
    replayed = Order.replay("saga-o1", [s.event for s in store.read("saga-o1")])
    assert isinstance(replayed, Aggregate)
    assert replayed.state == in_memory.state and replayed.version == store.version("saga-o1")


def test_a_crashed_coordinator_recovers_any_saga_from_its_stream():
    shop, store, _ = run_shop(ship_answers=True, crash_after=("paid", "o1"))
    assert shop.recoveries == 1 and shop.replayed > 0
    assert Repository(store, Order).load("saga-o1").status == "delivered"


def test_a_saga_table_is_checked_when_the_class_is_defined():
    with pytest.raises(TypeError, match="state 'b' has no on_timeout"):
        class Broken(Saga):
            initial = "a"
            steps = {"a": "one", "b": "two"}
            commands = {"one": "one.requested", "two": "two.requested"}
            transitions = {("a", "ok"): "b", ("b", "ok"): "done"}
            on_timeout = {"a": "failed"}
            timeouts = {"one": 1.0, "two": 1.0}
    with pytest.raises(TypeError, match="initial 'z' is not a step state"):
        class NoStart(Saga):
            initial = "z"
            steps = {"a": "one"}
            commands = {"one": "one.requested"}
            on_timeout = {"a": "failed"}
            timeouts = {"one": 1.0}


def test_coordinator_refuses_a_saga_without_a_table():
    with pytest.raises(TypeError, match="Saga subclass with a table"):
        SagaCoordinator(Saga, MemoryEventStore(), Participant("c", App(), emits={}))



def test_the_generic_saga_knows_nothing_of_the_ml_workflow():
    import ast
    from pathlib import Path

    import edalab.patterns.saga as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if "retraining" in m or m.startswith(("river", "edalab.ml"))}
