"""Operators with ``state=``: one state per partition (their ``snapshot()``), swapped in as
events of each partition run, checkpointed and restored; the fraud features and the ward's
patient baselines keep theirs through `edalab.state`."""

from __future__ import annotations

import pytest

from edalab import App, Event, MemoryBroker
from edalab.fraud import FraudPipeline
from edalab.fraud.features import FraudFeatures
from edalab.health import WardMonitor
from edalab.state import State
from edalab.streams import transaction_events, transactions, vitals
from tests.state.joining import run_while_a_member_joins


@pytest.fixture(scope="module")
def cards():
    return transactions(customers=60, terminals=120, days=40, seed=2)


def features_app(broker, state, partitions=4):
    app = App(broker, partitions=partitions)
    app.handler("payments", group="features", output="features",
                state=state)(FraudFeatures("7D"))
    return app


def features_of(broker) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in broker.read("features"):
        assert out.setdefault(r.event.id, r.event.data) == r.event.data, r.event.id
    return out


def test_fraud_pipeline_with_state_decides_as_without(cards):
    plain = FraudPipeline(seed=1).feed(cards)
    plain.run()
    durable = FraudPipeline(seed=1, state=State(every=300)).feed(cards)
    durable.run()
    assert durable.decisions().drop(columns="latency_ms").equals(
        plain.decisions().drop(columns="latency_ms"))  # (latency: wall time)


def test_features_survive_a_rebalance_as_one_process_computes_them(cards):
    events = list(transaction_events(cards))
    ref = MemoryBroker()
    one = features_app(ref, State(every=200))
    one.source("payments", events)
    one.run()

    broker = MemoryBroker()
    first, second = features_app(broker, State(every=200)), features_app(broker, State(every=200))
    run_while_a_member_joins(first, second, "payments", events, batch_size=32)
    assert features_of(broker) == features_of(ref)


def test_an_operator_without_snapshot_cannot_keep_state():
    from edalab.operators.base import Operator

    class Plain(Operator):
        def process(self, event):
            return [event]
    with pytest.raises(TypeError, match="snapshot"):
        App().handler("t", state=True)(Plain())


def test_ward_baselines_in_state_alert_as_in_memory():
    ward = vitals(patients=12, hours=24, seed=4)
    plain = WardMonitor(partitions=3).feed(ward)
    plain.run()
    durable = WardMonitor(partitions=3, state=State(every=100)).feed(ward)
    durable.run()
    assert durable.alerts().equals(plain.alerts())
    assert durable.app.handlers[2].guard.stats.checkpoints > 0


def test_windows_keep_state_per_partition_and_flush_each_at_the_end():
    from datetime import UTC, datetime, timedelta

    from river import stats

    from edalab.ml.windows import SessionWindow, TumblingWindow
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = [Event("click", "/tests", {"ms": i % 50}, key=f"u{i % 9}", id=f"c{i}",
                    time=t0 + timedelta(seconds=17 * i)) for i in range(3000)]

    def results(make, state, partitions=3):
        app = App(MemoryBroker(), partitions=partitions)
        app.handler("clicks", output="out", state=state)(make())
        app.source("clicks", events)
        app.run(batch_size=128)
        return {r.event.id: r.event.data for r in app.broker.read("out")}
    for make in (lambda: TumblingWindow("10min", {"n": stats.Count, "ms": stats.Mean}),
                 lambda: SessionWindow("3min", {"n": stats.Count})):
        # One instance across three partitions read one after another sees a watermark
        # another partition moved: events come late. One state per partition does not.
        in_order = results(make, False, partitions=1)
        assert in_order and results(make, State(every=100)) == in_order
