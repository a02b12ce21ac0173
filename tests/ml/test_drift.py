from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from river import drift, linear_model, preprocessing
from river.datasets import synth

from edalab import App, Event
from edalab.ml.champion import ChallengerPolicy
from edalab.ml.classifier import OnlineClassifier
from edalab.ml.drift import DriftMonitor, ResetPolicy
from edalab.ml.progressive import EVENT_FIELDS, dataset_events

N, CHANGE = 6000, 3000
LABELS = {"label_type": "label", "label_field": "y", "label_join": "id"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def sea(flip=True, seed=1):
    """SEA concept 0; from example CHANGE on, every label is flipped."""
    for i, (x, y) in enumerate(synth.SEA(variant=0, seed=seed).take(N)):
        yield x, (not y) if flip and i >= CHANGE else y


def model():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def delayed(events, lag):
    """Each label `lag` examples after its features (features and labels alternate)."""
    features, labels = events[::2], events[1::2]
    out = []
    for i, f in enumerate(features):
        out.append(f)
        if i >= lag:
            out.append(labels[i - lag])
    return out + labels[len(features) - lag:]


def pipeline(policy=None, events=None, **options):
    """Classifier -> (challenger) -> drift monitor, one event at a time; returns the right/
    wrong of each prediction, the control events and the operators."""
    clf = OnlineClassifier(model(), **EVENT_FIELDS, forward_labels=True)
    if policy == "reset":
        policy = ResetPolicy(clf, model)
    elif policy == "challenger":
        policy = ChallengerPolicy(clf, model, **options)
    monitor = DriftMonitor(drift.ADWIN, policy=policy, **LABELS)
    scores, truth, control = {}, {}, []
    for e in events if events is not None else dataset_events(sea()):
        out = clf.test(e)
        if isinstance(policy, ChallengerPolicy):
            out += policy.test(e)
        for o in out:
            if o.type == "prediction":
                scores[o.data["id"]] = o.data["score"]
            elif o.type == "label":
                truth[o.data["id"]] = o.data["y"]
            else:
                control.append(o)
            control += monitor.test(o)
    right = [(scores[i] > 0.5) == truth[i] for i in range(len(scores))]
    return right, control, clf, monitor, policy


def accuracy(right, start, stop):
    return sum(right[start:stop]) / (stop - start)


def test_detects_the_flip_after_the_change_point_not_before():
    _, control, clf, monitor, _ = pipeline()
    assert monitor.detections and all(n > CHANGE for n in monitor.detections)
    assert monitor.detections[0] <= CHANGE + 200
    first = next(e for e in control if e.type == "drift.detected")
    assert first.data == {"detector": "ADWIN", "model_version": 1, "n": monitor.detections[0],
                          "reason": first.data["reason"]} and "rising" in first.data["reason"]


def test_no_drift_on_a_stationary_stream():
    _, control, _, monitor, _ = pipeline(events=dataset_events(sea(flip=False)))
    assert monitor.detections == [] and control == []


def test_reset_policy_replaces_the_model_and_accuracy_recovers():
    base, *_ = pipeline()
    right, control, clf, monitor, policy = pipeline("reset")
    [version] = [e for e in control if e.type == "model.version"]
    assert version.data["reason"] == "reset" and clf.version == version.data["version"] == 2
    assert monitor.stats["reactions"] == policy.resets == 1
    assert accuracy(right, 0, CHANGE) == accuracy(base, 0, CHANGE)  # same until the drift
    # Measured (seed 1): the 1,000 predictions after the flip are right 49% of the time
    # without a policy and 94% with a reset.
    assert accuracy(right, CHANGE, CHANGE + 1000) > accuracy(base, CHANGE, CHANGE + 1000) + 0.3
    assert accuracy(right, CHANGE, N) > accuracy(base, CHANGE, N) + 0.1


def test_labels_of_a_replaced_model_are_stale_and_cause_no_second_reset():
    events = delayed(dataset_events(sea()), lag=200)
    right, control, clf, monitor, policy = pipeline("reset", events=events)
    assert policy.resets == 1 and clf.version == 2
    assert monitor.stats["stale"] > 0  # labels due for version-1 predictions after the reset
    assert monitor.model_version == 2


def test_a_falling_error_is_not_reported():
    rng = random.Random(5)
    monitor = DriftMonitor(drift.ADWIN)
    for i in range(3000):  # wrong half the time, then 5% of the time
        right = rng.random() < (0.5 if i < 1500 else 0.95)
        monitor.test(Event("prediction", "/m", {"id": i, "score": 0.9}, time=T0))
        assert monitor.test(Event("fraud.label", "/l", {"tx_id": i, "fraud": right},
                                  time=T0)) == []
    assert monitor.stats["errors"] == 3000


class Recorder(drift.NoDrift):
    def __init__(self):
        super().__init__()
        self.seen = []

    def update(self, x):
        self.seen.append(x)


@pytest.mark.parametrize("error, expected", [
    ("zero_one", [0, 1, 1, 0]), ("absolute", [0.1, 0.9, 0.6, 0.4]),
    (lambda y, score: (y - score) ** 2, [0.01, 0.81, 0.36, 0.16])])
def test_error_definitions(error, expected):
    monitor = DriftMonitor(Recorder, error=error)
    for i, (score, y) in enumerate([(0.9, True), (0.9, False), (0.4, True), (0.4, False)]):
        monitor.test(Event("prediction", "/m", {"id": i, "score": score}, time=T0))
        monitor.test(Event("fraud.label", "/l", {"tx_id": i, "fraud": y}, time=T0))
    assert monitor.detector.seen == pytest.approx(expected)


def test_join_is_bounded_and_counts_what_it_drops():
    monitor = DriftMonitor(buffer_size=10, forward_labels=True)
    for i in range(20):
        monitor.test(Event("prediction", "/m", {"id": i, "score": 0.5}, time=T0))
    label = Event("fraud.label", "/l", {"tx_id": 0, "fraud": False}, time=T0)
    assert monitor.test(label) == [label]
    s = monitor.stats
    assert (s["evicted"], s["pending"], s["unmatched"], s["errors"]) == (10, 10, 1, 0)


def test_bad_events_raise_naming_them():
    monitor = DriftMonitor()
    with pytest.raises(ValueError, match="'p1'.*'id' and 'score'"):
        monitor.test(Event("prediction", "/m", {"score": 0.5}, time=T0, id="p1"))
    with pytest.raises(ValueError, match="'l1'.*'fraud'"):
        monitor.test(Event("fraud.label", "/l", {"tx_id": 1}, time=T0, id="l1"))


def test_in_an_app_the_same_detection_and_reset_happen():
    _, expected, *_ = pipeline("reset")
    clf = OnlineClassifier(model(), **EVENT_FIELDS, forward_labels=True)
    monitor = DriftMonitor(drift.ADWIN, policy=ResetPolicy(clf, model), **LABELS)
    app = App()
    app.handler("events", output="predictions")(clf)
    app.handler("predictions", output="control")(monitor)
    app.source("events", dataset_events(sea()))
    app.run()
    got = [r.event for r in app.broker.read("control")]
    assert [(e.type, e.data) for e in got] == [(e.type, e.data) for e in expected]
