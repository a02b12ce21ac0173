"""The card-scoring app (`edalab.apps.card_scoring`) on the embedded broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import App, Event, MemoryBroker
from edalab.apps import card_scoring
from edalab.cli.worker import load_app
from edalab.streams import transaction_events, transactions

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def stream() -> list[Event]:
    return list(transaction_events(transactions(customers=40, terminals=80, days=15,
                                                seed=11)))


def run(events: list[Event], **options) -> App:
    app = card_scoring(MemoryBroker(), **options)
    app.source("transactions", events)
    app.run()
    return app


def payment(i: int, amount: float) -> Event:
    return Event("card.transaction", "/t", {"TX_ID": i, "TX_AMOUNT": amount, "TX_FRAUD": 0},
                 key="c1", id=f"tx-{i}", time=T0 + timedelta(minutes=i))


def test_every_transaction_is_scored_once_under_an_id_derived_from_its_own(stream):
    app = run(stream, worker="w1")
    scores = [r.event for r in app.broker.read("scores")]
    assert sorted(e.id for e in scores) == sorted(f"score-{e.id}" for e in stream)
    assert {e.extensions["worker"] for e in scores} == {"w1"}
    alerts = [r.event for r in app.broker.read("alerts")]
    assert alerts and all(a.data["z"] > 3 and a.id == f"alert-tx-{a.data['tx_id']}"
                          for a in alerts)


def test_an_amount_far_above_the_customers_history_alerts_after_warmup():
    app = card_scoring(worker="w1", warmup=5)
    score = app.handlers[0]
    first = [score.test(payment(i, 20.0 + i % 3))[0].data["z"] for i in range(5)]
    assert first == [None] * 5  # too little history to judge
    [big] = score.test(payment(5, 500.0))
    assert big.data["z"] > 3 and big.key == "c1" and big.time == payment(5, 0).time
    assert app.handlers[1].test(big)[0].type == "card.alert"
    assert app.handlers[1].test(score.test(payment(6, 21.0))[0]) == []


def test_alerts_do_not_depend_on_the_partition_count(stream):
    ids = [sorted(r.event.id for r in run(stream, partitions=n).broker.read("alerts"))
           for n in (1, 4)]
    assert ids[0] == ids[1]


def test_edalab_worker_loads_it_as_a_function_of_the_broker():
    broker = MemoryBroker()
    app = load_app("edalab.apps.card_scoring:card_scoring", broker)
    assert app.broker is broker
    assert [(h.name, h.topic, h.group, h.output) for h in app.handlers] == [
        ("score", "transactions", "scoring", "scores"), ("alert", "scores", "alerting", "alerts")]


def test_warmup_below_two_is_refused():
    with pytest.raises(ValueError, match="warmup must be >= 2"):
        card_scoring(warmup=1)


def test_profiles_in_edalab_state_score_as_in_memory():
    df = transactions(customers=40, terminals=80, days=20, seed=5)

    def alerts(state):
        app = card_scoring(MemoryBroker(), worker="w", state=state)
        app.source("transactions", transaction_events(df))
        app.run(batch_size=200)
        return {r.event.id: r.event.data for r in app.broker.read("alerts")}
    plain = alerts(False)
    assert plain and alerts(True) == plain
