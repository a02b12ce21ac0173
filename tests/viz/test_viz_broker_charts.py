"""The broker charts: built from their inputs only, the same on every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import pytest

from edalab import App, Event, MemoryBroker
from edalab.viz import (
    DeliveryLog,
    assignment_chart,
    assignments,
    delivery_timeline,
    lag_over_time,
    partition_load,
    partition_log,
    records_frame,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _broker() -> MemoryBroker:
    broker = MemoryBroker()
    broker.create_topic("orders", partitions=3)
    keys = ["alice", "bob", "erin", "grace", "mallory", "sybil"] * 3
    broker.publish_many("orders", [Event("order", "/shop", {"n": i}, key=k, id=f"o{i}",
                                         time=T0 + timedelta(seconds=i))
                                   for i, k in enumerate(keys)])
    return broker


def test_figures_are_identical_across_builds():
    a, b = _broker(), _broker()
    for build in (partition_load, lambda br: partition_log(br, "orders")):
        first, second = build(a), build(b)
        assert isinstance(first, go.Figure)
        assert first.to_json() == second.to_json()
        assert '"uid"' not in first.to_json()


def test_partition_load_counts_end_offsets_and_skips_dead_letter_topics():
    broker = _broker()
    fig = partition_load(broker)
    assert [t.name for t in fig.data] == ["orders"]
    assert list(fig.data[0].y) == broker.end_offsets("orders")


def test_partition_log_draws_each_record_once_in_its_partition():
    broker = _broker()
    fig = partition_log(broker, "orders")
    cells = {(t.name, x, y) for t in fig.data for x, y in zip(t.x, t.y, strict=True)}
    assert cells == {(r.event.key, r.offset, f"p{r.partition}") for r in broker.read("orders")}


def test_assignments_follow_joins_and_closes():
    broker = _broker()
    group = {"a": broker.subscribe("orders", group="g")}
    group["b"] = broker.subscribe("orders", group="g")
    assert assignments(group) == {"a": [0, 1], "b": [2]}
    group["a"].close()
    snapshots = [("a closes", assignments(group))]
    assert snapshots == [("a closes", {"b": [0, 1, 2]})]
    fig = assignment_chart(snapshots, partitions=3)
    assert list(fig.data[0].y) == ["p0", "p1", "p2"]


def test_delivery_log_marks_crash_redelivery_and_dead_letter():
    broker = MemoryBroker()
    broker.create_topic("t")
    broker.publish_many("t", [Event("e", "/s", id="ok", time=T0),
                              Event("e", "/s", id="bad", time=T0)])
    log = DeliveryLog()
    crashing = broker.subscribe("t", group="g", max_attempts=2)
    log.add(1, "crashing", crashing.poll(), outcome="unacked")
    worker = broker.subscribe("t", group="g", max_attempts=2)
    crashing.close()
    for step in (2, 3):
        for record in worker.poll():
            if record.event.id == "ok":
                worker.ack([record])
                log.add(step, "worker", [record])
            else:
                log.add(step, "worker", [record], outcome="nacked")
                worker.nack(record, error="bad")
    frame = log.to_frame()
    assert frame[["step", "consumer", "offset", "attempt", "outcome"]].values.tolist() == [
        [1, "crashing", 0, 1, "unacked"], [1, "crashing", 1, 1, "unacked"],
        [2, "worker", 0, 2, "acked"], [2, "worker", 1, 2, "nacked"],
    ]
    assert [r.event.id for r in broker.read("t.dlq")] == ["bad"]
    fig = delivery_timeline(log)
    assert {t.name for t in fig.data} == {"crashing · unacked", "worker · acked",
                                          "worker · nacked"}
    with pytest.raises(ValueError, match="outcome"):
        log.add(4, "worker", [], outcome="lost")


def test_lag_over_time_has_one_line_per_stream_ending_at_zero():
    app = App(partitions=2)

    @app.handler("in", output="out")
    def fan_out(event):
        return [event, event, event]

    @app.handler("out")
    def sink(event):
        pass

    app.source("in", [Event("e", "/s", key=str(i), time=T0) for i in range(60)])
    stats = app.run(batch_size=10)
    fig = lag_over_time(stats.timeline)
    assert [t.name for t in fig.data] == ["in/fan_out", "out/sink"]
    assert max(fig.data[1].y) > 0 and fig.data[1].y[-1] == 0
    assert len(lag_over_time(stats.timeline, x="clock").data[0].x) == len(fig.data[0].x)
    with pytest.raises(ValueError, match="x must be"):
        lag_over_time(stats.timeline, x="wall")


def test_records_frame_flattens_dead_letter_extensions():
    broker = MemoryBroker()
    broker.create_topic("t")
    broker.publish("t", Event("e", "/s", id="x", time=T0))
    worker = broker.subscribe("t", group="g", max_attempts=1)
    worker.nack(worker.poll()[0], error=ValueError("no"))
    frame = records_frame(broker.read("t.dlq"), extensions=True)
    assert frame.loc[0, ["id", "dlerror", "dlattempts", "dlgroup"]].tolist() == [
        "x", "ValueError: no", 1, "g"]
    assert list(records_frame([]).columns)[:3] == ["topic", "partition", "offset"]


def test_broker_chart_labels_fit_their_boxes_and_legends_clear_the_x_title():
    broker = _broker()
    log = partition_log(broker, "orders")
    assert min(t.textfont.size for t in log.data) >= 11
    assert log.layout.xaxis.range[0] > -1  # no empty offset -1 at the edge
    owners = assignment_chart([("a joins", {"worker-a": [0, 1]})], partitions=2)
    # A square of 60 px holds "worker-a" at 11 px; the rows leave room for it.
    assert owners.data[0].marker.size >= 60 and owners.layout.height >= 170 + 74 * 2
    for fig in (log, owners):
        assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y >= 1
