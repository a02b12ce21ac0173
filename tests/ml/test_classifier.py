from __future__ import annotations

import math
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from river import linear_model, preprocessing

from edalab import App, Event
from edalab.ml.classifier import OnlineClassifier
from edalab.ml.progressive import EVENT_FIELDS, dataset_events, operator_overhead

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Spy:
    """A classifier that records what it was asked, in order."""

    def __init__(self, p: float = 0.25):
        self.p = p
        self.calls: list[tuple] = []

    def predict_proba_one(self, x):
        self.calls.append(("predict", x))
        return {False: 1 - self.p, True: self.p}

    def learn_one(self, x, y):
        self.calls.append(("learn", x, y))


def feature(i: int, x=None, **data) -> Event:
    x = {"a": float(i), "b": 1.0} if x is None else x
    return Event("fraud.features", "/test", {"tx_id": i, "x": x, **data}, key="c1",
                 time=T0 + timedelta(minutes=i), id=f"features-{i}")


def label(i: int, fraud: int = 0) -> Event:
    return Event("fraud.label", "/test", {"tx_id": i, "fraud": fraud}, key="c1",
                 time=T0 + timedelta(days=7, minutes=i), id=f"label-{i}")


def test_predicts_first_then_learns_the_buffered_features_when_the_label_arrives():
    spy = Spy()
    op = OnlineClassifier(spy, forward_labels=True)
    [prediction] = op.test(feature(1))
    assert spy.calls == [("predict", {"a": 1.0, "b": 1.0})]
    assert (prediction.type, prediction.id, prediction.key, prediction.time) == (
        "prediction", "prediction-1", "c1", feature(1).time)
    assert prediction.data["id"] == 1 and prediction.data["score"] == 0.25
    assert prediction.data["model_version"] == 1 and prediction.data["latency_us"] > 0
    lab = label(1, fraud=1)
    assert op.test(lab) == [lab]
    assert spy.calls[-1] == ("learn", {"a": 1.0, "b": 1.0}, 1)
    assert op.stats.learns == 1 and op.stats.buffered == 0


def test_labels_are_learnt_and_not_forwarded_unless_asked():
    spy = Spy()
    op = OnlineClassifier(spy)  # a downstream consumer sees predictions only, by default
    assert [e.type for e in op.test(feature(1)) + op.test(label(1, fraud=1))] == ["prediction"]
    assert spy.calls[-1] == ("learn", {"a": 1.0, "b": 1.0}, 1)

def test_prediction_event_survives_json_and_carries_passthrough_and_label():
    op = OnlineClassifier(Spy(0.75), passthrough=("customer_id", "day"), emit_label=True)
    [p] = op.test(feature(3, customer_id=7, day=2))
    assert Event.from_json(p.to_json()) == p
    assert {k: p.data[k] for k in ("customer_id", "day", "label")} == {
        "customer_id": 7, "day": 2, "label": True}


def test_buffer_evicts_oldest_first_and_counts_labels_that_find_nothing():
    spy = Spy()
    op = OnlineClassifier(spy, buffer_size=2, forward_labels=False)
    for i in (1, 2, 3):
        op(feature(i))
    assert op(label(1)) is None  # evicted when 3 arrived
    op(label(3))
    op(label(3))  # a duplicate label finds nothing either
    s = op.stats
    assert (s.predictions, s.learns, s.unmatched, s.evicted, s.buffered) == (3, 1, 2, 1, 1)
    assert [c[2] for c in spy.calls if c[0] == "learn"] == [0]


def test_replace_model_bumps_the_version_the_predictions_carry():
    op = OnlineClassifier(Spy())
    announced = op.replace_model(Spy(0.9), "promoted", time=T0)
    assert (announced.type, announced.time) == ("model.version", T0)
    assert announced.data == {"version": 2, "reason": "promoted", "model": str(op.model)}
    [p] = op.test(feature(1))
    assert (p.data["model_version"], p.data["score"]) == (2, 0.9)
    with pytest.raises(ValueError, match="reason"):
        op.replace_model(Spy(), "because")


def test_labels_of_features_predicted_by_the_old_model_train_the_new_one():
    new = Spy()
    op = OnlineClassifier(Spy())
    op(feature(1))
    op.replace_model(new, "reset")
    op(label(1, fraud=1))
    assert new.calls == [("learn", {"a": 1.0, "b": 1.0}, 1)]


@pytest.mark.parametrize("x, field", [
    (None, "'x'"), ([1.0], "'x'"), ({"a": math.nan}, "x.a"), ({"a": None}, "x.a"),
    ({"a": 1.0, "b": "high"}, "x.b"), ({"a": math.inf}, "x.a"),
])
def test_bad_features_raise_value_error_naming_the_event_and_field(x, field):
    event = Event("fraud.features", "/t", {"tx_id": 9, "x": x}, id="features-9", time=T0)
    with pytest.raises(ValueError, match="features-9") as info:
        OnlineClassifier(Spy())(event)
    assert field in str(info.value)


def test_missing_passthrough_field_raises_before_anything_is_buffered():
    op = OnlineClassifier(Spy(), passthrough=("customer_id",))
    with pytest.raises(ValueError, match="'customer_id'"):
        op(feature(1))
    assert (op.stats.predictions, op.stats.buffered) == (0, 0)


def test_validate_false_passes_categorical_features_to_the_model():
    spy = Spy()
    OnlineClassifier(spy, validate=False)(feature(1, x={"colour": "red"}))
    assert spy.calls == [("predict", {"colour": "red"})]


def test_label_without_its_field_raises_naming_it():
    bad = Event("fraud.label", "/t", {"tx_id": 1}, id="label-1", time=T0)
    with pytest.raises(ValueError, match="'fraud'"):
        OnlineClassifier(Spy())(bad)


def test_bad_feature_event_is_dead_lettered_and_the_run_goes_on():
    op = OnlineClassifier(Spy(), forward_labels=True)
    app = App()
    handler = app.handler("features", output="predictions")(op)
    events = [feature(1), feature(2, x={"a": math.nan}), feature(3), label(1), label(3)]
    app.source("features", events)
    stats = app.run()
    assert handler.name == "classifier"
    assert [r.event.id for r in app.broker.read("features.dlq")] == ["features-2"]
    assert [r.event.id for r in app.broker.read("predictions")] == [
        "prediction-1", "prediction-3", "label-1", "label-3"]
    assert (op.stats.predictions, op.stats.learns) == (2, 2) and stats.dead_letters == 1


def test_feature_type_forwards_other_events_unchanged():
    op = OnlineClassifier(Spy(), feature_type="fraud.features")
    other = Event("card.transaction", "/t", {"tx_id": 1}, time=T0)
    assert op.test(other) == [other] and op.stats.predictions == 0


def test_operator_overhead_times_both_paths_on_the_same_examples():
    events = dataset_events(({"a": float(i % 5)}, i % 3 == 0) for i in range(300))
    result = operator_overhead(lambda: preprocessing.StandardScaler()
                               | linear_model.LogisticRegression(), events, repeats=2,
                               **EVENT_FIELDS)
    assert result["examples"] == 300
    assert len(result["raw_runs"]) == len(result["operator_runs"]) == 2
    assert result["operator_us"] > 0 and result["raw_us"] > 0
    # The App run's time holds the operator's calls: their share cannot be the larger.
    assert -1 < result["operator_alone"] <= result["overhead"] + 0.05
    with pytest.raises(ValueError, match="no feature event"):
        operator_overhead(linear_model.LogisticRegression, events[:1], **EVENT_FIELDS)


def test_buffer_matches_an_oldest_first_reference_on_a_random_stream():
    rng = np.random.default_rng(5)
    spy = Spy()
    op = OnlineClassifier(spy, buffer_size=4)
    reference: OrderedDict = OrderedDict()
    expected, evicted = [], 0
    next_id = 0
    for _ in range(400):
        if rng.random() < 0.55:
            op(feature(next_id))
            reference[next_id] = feature(next_id).data["x"]
            if len(reference) > 4:
                reference.popitem(last=False)
                evicted += 1
            next_id += 1
        elif next_id:
            recent = rng.random() < 0.8  # mostly recent ids: the buffer is often not full
            back = rng.integers(min(next_id, 5)) if recent else rng.integers(next_id)
            i = int(next_id - 1 - back)
            op(label(i, fraud=i % 2))
            if i in reference:
                expected.append(("learn", reference.pop(i), i % 2))
    assert [c for c in spy.calls if c[0] == "learn"] == expected
    assert (op.stats.evicted, op.stats.buffered) == (evicted, len(reference)) and evicted > 0


def run_app(events: list[Event], batch: bool) -> tuple[list, list, OnlineClassifier]:
    op = OnlineClassifier(preprocessing.StandardScaler() | linear_model.LogisticRegression(),
                          passthrough=("day",), forward_labels=True)
    app = App()
    app.handler("features", output="predictions", batch=batch)(op)
    app.source("features", events)
    app.run(batch_size=4)
    emitted = [(r.event.id, {k: v for k, v in r.event.data.items() if k != "latency_us"})
               for r in app.broker.read("predictions")]
    return emitted, [r.event.id for r in app.broker.read("features.dlq")], op


def test_batch_mode_emits_what_one_at_a_time_does_and_dead_letters_only_the_bad_event():
    events = []
    for i in range(10):  # features one a minute, labels a week later, in batches of 4
        events += [feature(i, x={"a": math.nan} if i == 6 else None, day=i // 3),
                   label(i, fraud=i % 2)]
    events.sort(key=lambda e: e.time)
    one_by_one, dead, op = run_app(events, batch=False)
    batched, dead_batched, op_batched = run_app(events, batch=True)
    assert batched == one_by_one and len(batched) == 9 + 10
    assert dead == dead_batched == ["features-6"]
    assert op.stats == op_batched.stats and op_batched.stats.learns == 9


def test_batch_with_a_bad_event_learns_every_good_example_once():
    spy = Spy()
    op = OnlineClassifier(spy, forward_labels=True)
    app = App()
    app.handler("features", output="predictions", batch=True)(op)
    events = [feature(1), feature(2), label(1), feature(3, x={"a": None}), feature(4),
              label(2), label(4)]
    app.source("features", events)
    stats = app.run()
    assert [c[1]["a"] for c in spy.calls if c[0] == "learn"] == [1.0, 2.0, 4.0]
    assert [c[1]["a"] for c in spy.calls if c[0] == "predict"] == [1.0, 2.0, 4.0]
    assert [r.event.id for r in app.broker.read("features.dlq")] == ["features-3"]
    assert [r.event.id for r in app.broker.read("predictions")] == [
        "prediction-1", "prediction-2", "label-1", "prediction-4", "label-2", "label-4"]
    assert stats.dead_letters == 1 and op.stats.learns == 3
