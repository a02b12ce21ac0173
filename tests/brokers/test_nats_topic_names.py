"""Topic names on NATS: every topic gets a stream of its own, and a stream that belongs to
another topic is refused, never used. The properties run without a server; the rest on a real
`nats-server -js` (the `nats_broker` fixture)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.js import api

from edalab import BrokerError, Event
from edalab.brokers.nats.codec import TOPIC_PATTERN, stream_name

# A stream name becomes a subject token, a directory of the server's store and the first token
# of the consumer-group lease keys: JetStream refuses these characters and more than 255 of
# them; a key-value key allows only the characters of `KV_KEY`.
NOT_IN_STREAM = set(" \t\r\n\f.*>/\\")
KV_KEY = set("-/_=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

segment = st.text("aZ0_-", min_size=1, max_size=4)
# Few characters, so that topics differing only in '.', '_' or '-' come up often.
near_topics = st.lists(segment, min_size=1, max_size=4).map(".".join)
alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
topics = st.lists(st.text(alphabet, min_size=1, max_size=60), min_size=1, max_size=6).map(
    ".".join).filter(lambda t: len(t) <= 244)


def ev(i: int) -> Event:
    return Event("test.name", "/tests/names", {"i": i}, id=f"n{i}")


@st.composite
def near_pairs(draw) -> tuple[str, str]:
    """Two valid topics, the second one character off the first (or another topic)."""
    a = draw(near_topics)
    if draw(st.booleans()):
        return a, draw(near_topics)
    i = draw(st.integers(0, len(a) - 1))
    b = a[:i] + draw(st.sampled_from("._-aZ0")) + a[i + 1:]
    return a, b if TOPIC_PATTERN.match(b) else a


@settings(max_examples=500, deadline=None)
@given(near_pairs())
def test_distinct_topics_have_distinct_streams(pair):
    a, b = pair
    if a != b:
        assert stream_name(a) != stream_name(b)


@settings(max_examples=300, deadline=None)
@given(topics)
def test_every_stream_name_is_a_valid_jetstream_name(topic):
    name = stream_name(topic)
    assert 0 < len(name) <= 255
    assert name.isprintable() and not NOT_IN_STREAM & set(name)
    assert set(name) <= KV_KEY
    assert len(stream_name(topic + ".dlq")) <= 255  # its dead-letter topic fits too


def test_topics_differing_in_dot_or_underscore_are_distinct(nats_broker):
    nats_broker.create_topic("orders.eu")
    nats_broker.create_topic("orders_eu")
    nats_broker.publish("orders.eu", ev(1))
    nats_broker.publish("orders_eu", ev(2))
    assert [r.event.id for r in nats_broker.read("orders.eu")] == ["n1"]
    assert [r.event.id for r in nats_broker.read("orders_eu")] == ["n2"]
    assert {"orders.eu", "orders_eu", "orders.eu.dlq", "orders_eu.dlq"} <= set(
        nats_broker.topics())


def test_topic_named_like_a_dead_letter_topic_is_its_own(nats_broker):
    nats_broker.create_topic("pay")
    nats_broker.create_topic("pay_dlq")
    nats_broker.publish("pay_dlq", ev(1))
    assert [r.event.id for r in nats_broker.read("pay_dlq")] == ["n1"]
    assert nats_broker.read("pay.dlq") == []


def _foreign_stream(broker, stream: str, topic: str) -> None:
    """A stream named `stream` holding `topic` (as an older edalab named them, or a stream
    someone made by hand)."""
    config = api.StreamConfig(name=stream, subjects=[f"{topic}.0"],
                              metadata={"edalab_topic": topic, "edalab_partitions": "1"})
    broker._run(broker._js.add_stream(config))


def test_stream_of_another_topic_is_refused_naming_both(nats_broker):
    _foreign_stream(nats_broker, stream_name("orders_eu"), "orders.eu")
    for use in (lambda: nats_broker.create_topic("orders_eu"),
                lambda: nats_broker.publish("orders_eu", ev(1)),
                lambda: nats_broker.delete_topic("orders_eu")):
        with pytest.raises(BrokerError) as info:
            use()
        message = str(info.value)
        assert "'orders_eu'" in message and "'orders.eu'" in message
        assert stream_name("orders_eu") in message
    info = nats_broker._run(nats_broker._js.stream_info(stream_name("orders_eu")))
    assert info.config.metadata["edalab_topic"] == "orders.eu"


def test_topic_whose_subjects_another_stream_holds_is_refused(nats_broker):
    _foreign_stream(nats_broker, "edalab-orders_eu", "orders.eu")
    with pytest.raises(BrokerError) as info:
        nats_broker.create_topic("orders.eu")
    message = str(info.value)
    assert "'orders.eu'" in message and "edalab-orders_eu" in message


def test_too_long_topic_name_is_refused(nats_broker):
    nats_broker.create_topic("x" * 244)
    assert nats_broker.read("x" * 244 + ".dlq") == []
    for name in ("y" * 245, "z" * 249):
        with pytest.raises(ValueError, match="244 characters"):
            nats_broker.create_topic(name)
