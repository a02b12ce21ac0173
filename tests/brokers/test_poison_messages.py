"""One poison message never stops a pipeline: hostile documents published straight into a
topic (as an outside producer would) end in the dead-letter topic with their error, and every
valid event behind them is handled once, on both brokers."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edalab import App, MemoryBroker
from edalab.brokers.base import decode, malformed
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer

_topics = itertools.count()


def valid(i: int) -> dict:
    return {"specversion": "1.0", "id": f"v{i}", "source": "/fuzz", "type": "reading",
            "time": "2024-01-01T00:00:00Z", "partitionkey": f"k{i % 3}", "data": {"i": i}}


# What crosses the boundary: random bytes and text, and valid documents with one attribute
# made hostile (deep nesting, huge numbers, NaN, odd times, nulls, wrong types).
_hostile_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.just("9999-12-31T23:59:59-14:00"), st.just("0001-01-01T00:00:00+14:00"),
    st.just("2024-02-30T00:00:00Z"), st.just("2024-01-01T00:00:00"),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2))
_attribute = st.sampled_from(["specversion", "id", "source", "type", "time", "partitionkey",
                              "data", "data_base64", "subject", "datacontenttype", "Bad", "x1"])


def _mutated(i: int, name: str, value) -> bytes:
    doc = valid(i) | {name: value}
    return json.dumps(doc).encode()  # NaN and Infinity written as json.dumps does


_raw = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda i, n, v: _mutated(i, n, v), st.integers(1000, 1999), _attribute,
              _hostile_value),
    st.sampled_from([
        b'{"specversion":"1.0","id":"d","source":"/s","type":"t","data":' + b"[" * 5000
        + b"]" * 5000 + b"}",
        b'{"specversion":"1.0","id":"n","source":"/s","type":"t","data":'
        + b"9" * 5000 + b"}",
        b'{"specversion":"1.0","id":"u","source":"/s","type":"t","data":"\xff\xfe"}',
        b'{"specversion":"1.0","id":null,"source":"/s","type":"t"}',
        b"null", b"[]", b"",
    ]),
)
_stream = st.lists(st.one_of(st.integers(0, 999), _raw), min_size=1, max_size=25)


def run_app(broker, payloads: list) -> tuple[Counter, Counter, list]:
    """Publish every payload raw into a new topic, run an App on it, return the ids
    handled, the ids of the valid payloads, and the topic's dead letters."""
    topic = f"fuzz{next(_topics)}"
    broker.create_topic(topic, 2)
    expected: Counter = Counter()
    bad = 0
    for item in payloads:
        payload = json.dumps(valid(item)).encode() if isinstance(item, int) else item
        broker.publish_raw(topic, payload)
        event, error = decode(payload, topic)
        if error is None:
            expected[event.id] += 1
        else:
            bad += 1
    app = App(broker)
    seen: Counter = Counter()

    @app.handler(topic, group="fuzz")
    def handle(event):
        seen[event.id] += 1

    stats = app.run(clock="wall", timeout=60)
    assert stats.stopped_by == "drained"
    dead = [r.event for r in broker.read(f"{topic}.dlq")]
    assert len(dead) == bad
    return seen, expected, dead


def check(broker, payloads: list) -> None:
    seen, expected, dead = run_app(broker, payloads)
    assert seen == expected  # every valid event handled once
    for event in dead:
        assert event.type == "edalab.malformed" and event.extensions["dlerror"]
        assert event.data == malformed(event.data, "t").data  # the payload, byte for byte


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stream)
def test_memory_app_survives_any_payload(payloads):
    check(MemoryBroker(), payloads)


@pytest.fixture(scope="module")
def nats_url():
    with NatsServer() as server:
        yield server.url


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_stream)
def test_nats_app_survives_any_payload(nats_url, payloads):
    broker = NatsBroker(nats_url, ack_wait=5.0, lease_ttl=3.0, storage="memory")
    try:
        check(broker, payloads)
    finally:
        broker.close()


def test_poison_documents_of_every_kind_are_dead_lettered_with_their_error(broker):
    hostile = {
        "deep nesting": b'{"specversion":"1.0","id":"a","source":"/s","type":"t","data":'
                        + b"[" * 5000 + b"]" * 5000 + b"}",
        "time out of range": _mutated(1, "time", "9999-12-31T23:59:59-14:00"),
        "null id": _mutated(2, "id", None),
        "NaN": _mutated(3, "data", float("nan")),
        "invalid UTF-8": b'{"specversion":"1.0","id":"\xff","source":"/s","type":"t"}',
    }
    payloads = [0, *hostile.values(), 1]
    seen, expected, dead = run_app(broker, payloads)
    assert seen == expected == Counter({"v0": 1, "v1": 1})
    errors = sorted(e.extensions["dlerror"] for e in dead)
    assert len(errors) == len(hostile) and all(e.startswith("EventError") for e in errors)
    assert sorted(e.data for e in dead) == sorted(hostile.values())
