"""Dead-letter operations on both brokers: list the dead letters, redrive them with their
original ids, and see them handled."""

from __future__ import annotations

import pytest

from edalab import Event
from edalab.resilience import dead_letters, redrive


def _fail(broker, topic, group, errors, max_attempts=2):
    """Publish one event per error and nack each until it is dead-lettered (None: ack)."""
    broker.create_topic(topic, partitions=2)
    for i in range(len(errors)):
        broker.publish(topic, Event("payment", "/test", {"i": i}, key=f"k{i}", id=f"p{i}",
                                    extensions={"trace": f"t{i}"}))
    consumer = broker.subscribe(topic, group=group, max_attempts=max_attempts)
    while batch := consumer.poll(timeout=0.5):
        for record in batch:
            error = errors[record.event.data["i"]]
            if error is None:
                consumer.ack([record])
            else:
                consumer.nack(record, error=error)
    return consumer


def test_dead_letters_lists_error_class_text_attempts_and_origin(broker):
    consumer = _fail(broker, "pay", "scorer", [TimeoutError("model slow"), None,
                                               KeyError("amount")])
    consumer.close()
    frame = dead_letters(broker, "pay").sort_values("id").reset_index(drop=True)
    assert list(frame.columns) == ["id", "type", "error_class", "error", "attempts", "group",
                                   "topic", "partition", "offset", "time"]
    assert frame[["id", "type", "error_class", "error", "attempts", "group", "topic"]
                 ].values.tolist() == [
        ["p0", "payment", "TimeoutError", "model slow", 2, "scorer", "pay"],
        ["p2", "payment", "KeyError", "'amount'", 2, "scorer", "pay"]]
    assert dead_letters(broker, "pay.dlq").equals(dead_letters(broker, "pay"))
    assert dead_letters(broker, "pay", group="other").empty


def test_redrive_republishes_with_original_ids_and_they_are_handled(broker):
    _fail(broker, "pay", "scorer", [TimeoutError("model slow"), None, KeyError("amount")]
          ).close()
    assert redrive(broker, "pay", where="error_class == 'TimeoutError'") == 1
    consumer = broker.subscribe("pay", group="scorer")
    handled = []
    while batch := consumer.poll(timeout=0.5):
        handled += [r.event for r in batch]
        consumer.ack(batch)
    [event] = handled
    assert (event.id, event.data, event.key, event.extensions) == (
        "p0", {"i": 0}, "k0", {"trace": "t0"})
    assert broker.lag("pay", "scorer") == {0: 0, 1: 0}


def test_redrive_to_another_topic_with_a_predicate(broker):
    _fail(broker, "pay", "g", [ValueError("a"), ValueError("b"), None]).close()
    broker.create_topic("pay.fixed")
    assert redrive(broker, "pay", where=lambda e: e.data["i"] == 1, to="pay.fixed") == 1
    assert [r.event.id for r in broker.read("pay.fixed")] == ["p1"]
    assert redrive(broker, "pay", to="pay.fixed") == 2  # the log keeps its dead letters
    assert sorted(r.event.id for r in broker.read("pay.fixed")) == ["p0", "p1", "p1"]


def test_redrive_leaves_payloads_that_are_no_events(broker):
    broker.create_topic("pay")
    broker.publish_raw("pay", b"{not json")
    consumer = broker.subscribe("pay", group="g")  # NATS dead-letters it at delivery
    assert not consumer.poll(timeout=0.5)
    assert dead_letters(broker, "pay")["type"].tolist() == ["edalab.malformed"]
    assert redrive(broker, "pay") == 0


def test_a_where_that_is_no_condition_names_the_columns():
    from edalab import MemoryBroker
    broker = MemoryBroker()
    _fail(broker, "pay", "g", [ValueError("a")])
    with pytest.raises(ValueError, match=r"where 'attempts \+ 1' must be a condition .*"
                                         r"giving True or False"):
        redrive(broker, "pay", where="attempts + 1")
    with pytest.raises(ValueError, match=r"where 'colour == 1' must be a condition over the "
                                         r"dead-letter columns \(id, type, error_class"):
        redrive(broker, "pay", where="colour == 1")
    with pytest.raises(TypeError, match="where must be a query string or a predicate"):
        redrive(broker, "pay", where=3)


def test_an_error_given_as_plain_text_has_no_class():
    from edalab import MemoryBroker
    broker = MemoryBroker()
    _fail(broker, "pay", "g", ["gave up: the card is blocked"], max_attempts=1)
    row = dead_letters(broker, "pay").iloc[0]
    assert (row["error_class"], row["error"], row["attempts"]) == (
        "", "gave up: the card is blocked", 1)


@pytest.mark.parametrize("mode", ["blocking", "topics"])
def test_redrive_drops_what_the_apps_retries_added(mode):
    from edalab import App
    from edalab.resilience import Backoff, Retry

    app = App()
    app.source("pay", [Event("payment", "/test", {"i": 0}, key="k0", id="p0",
                             extensions={"trace": "t0"})])

    @app.handler("pay", retry=Retry(max_attempts=2, mode=mode, backoff=Backoff.fixed(1.0)))
    def scorer(event):
        raise TimeoutError("model slow")

    app.run()
    [dead] = [r.event for r in app.broker.read("pay.dlq")]
    assert "dlspentms" in dead.extensions
    assert redrive(app.broker, "pay") == 1
    assert app.broker.read("pay")[-1].event.extensions == {"trace": "t0"}
