"""Online NLP on text events: `TextClassifier`, `SemanticRouter`, `NoveltyDetector`,
`ErrorDrift`, alone and in an `App`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edalab import App, Event
from edalab.ml.novelty import ErrorDrift, NoveltyDetector
from edalab.ml.routing import SemanticRouter, routing_curve
from edalab.ml.text import TextClassifier
from edalab.streams import merge
from edalab.streams.text import incident_reports, text_events, text_label_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def stream():
    df = incident_reports(2000, seed=3)
    return df, list(merge(text_events(df), text_label_events(df, delay="30min")))


def _text(i: int, text: object) -> Event:
    return Event("incident.reported", "/t", {"id": i, "text": text}, time=T0, id=f"r{i}")


def _label(i: int, category: str) -> Event:
    return Event("incident.label", "/t", {"id": i, "category": category}, time=T0, id=f"l{i}")


def test_classifier_learns_only_from_labels_that_arrived(stream):
    df, events = stream
    op = TextClassifier()
    preds = [e.data for e in op.test(events)]
    assert preds[0]["label"] is None and preds[0]["confidence"] == 0.0
    assert op.stats.learns == len(df) and op.stats.buffered == 0
    # report 30's label has not arrived when it is classified: 30 labels were learnt
    late = [p["label"] == c for p, c in zip(preds[500:], df.category[500:], strict=True)]
    assert sum(late) / len(late) > 0.8
    assert all(0 <= p["confidence"] <= 1 and p["score"] == p["confidence"] for p in preds)


def test_classifier_never_sees_a_label_before_it_exists():
    op = TextClassifier()
    op.test([_text(0, "disk full"), _label(0, "storage")])
    [p] = op.test(_text(1, "disk full"))
    assert p.data["label"] == "storage"
    op2 = TextClassifier()
    [p] = op2.test(_text(1, "disk full"))  # the label of 0 never came
    assert p.data["label"] is None


@pytest.mark.parametrize(("text", "message"), [
    (None, "field 'text' must be a non-empty string, got None"),
    ("   ", "field 'text' must be a non-empty string"),
    (42, "field .text. must be a non-empty string, got 42"),
])
def test_a_bad_text_raises_naming_the_event(text, message):
    with pytest.raises(ValueError, match=f"text event 'r7': {message}"):
        TextClassifier().test(_text(7, text))


def test_a_bad_text_in_an_app_is_dead_lettered_and_the_rest_classified():
    app = App()
    app.handler("incidents", output="predictions")(TextClassifier())
    app.source("incidents", [_text(0, "disk full"), _text(1, None), _text(2, "dns timeout")])
    app.run()
    assert [r.event.data["id"] for r in app.broker.read("predictions")] == [0, 2]
    [dead] = app.broker.read("incidents.dlq")
    assert dead.event.id == "r1"


def test_router_routes_confident_predictions_and_reviews_the_rest():
    router = SemanticRouter(0.7)
    for i, conf in enumerate([0.9, 0.5, 0.8, None]):
        router.test(Event("prediction", "/m", {"id": i, "label": None if conf is None
                                               else "network", "confidence": conf or 0.0},
                          time=T0))
    assert router.stats["routed"] == 2 and router.stats["reviewed"] == 2
    router.test([_label(0, "network"), _label(2, "storage"), _label(1, "network")])
    assert router.stats["routed_accuracy"] == 0.5 and router.stats["routed_scored"] == 2
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\], got 2"):
        router.threshold = 2


def test_routed_decisions_land_on_their_topics_in_an_app(stream):
    df, events = stream
    app = App()
    router = SemanticRouter(0.9)
    app.handler("incidents", output="predictions")(
        TextClassifier(forward_labels=True, passthrough=("text",)))
    app.handler("predictions", output=router.topic_of)(router)
    app.source("incidents", events[:600])
    app.run()
    review = app.broker.read("incidents.review")
    network = app.broker.read("incidents.network")
    assert review and network
    assert all(not r.event.data["routed"] for r in review)
    assert all(r.event.data["label"] == "network" and r.event.data["confidence"] >= 0.9
               for r in network)
    assert "text" in network[0].event.data


def test_raising_the_threshold_reviews_more_and_routes_more_accurately(stream):
    df, events = stream
    preds = [e.data for e in TextClassifier().test(events)]
    correct = [p["label"] == c for p, c in zip(preds, df.category, strict=True)]
    curve = routing_curve([p["confidence"] for p in preds], correct, [0.0, 0.6, 0.9, 0.99])
    assert curve["review_share"].is_monotonic_increasing
    assert curve["routed_accuracy"].iloc[-1] > curve["routed_accuracy"].iloc[0] + 0.05


def test_novelty_is_detected_soon_after_the_new_kind_appears(stream):
    df, events = stream
    op = NoveltyDetector()
    out = op.test(events)
    first = int(df.novel.idxmax())
    assert out and all(e.type == "novelty.detected" for e in out)
    delays = [e.data["n"] - 1 - first for e in out]
    assert 0 <= delays[0] <= 30  # before the first label of the new kind arrives
    assert {"ransom", "bitcoin", "encrypted", "malware", "wallet"} & set(out[0].data["terms"])
    assert "ransomware" not in out[0].data["known_labels"]


def test_novelty_detector_stays_quiet_without_a_new_kind():
    df = incident_reports(2000, seed=3, novel_at=None)
    events = merge(text_events(df), text_label_events(df, delay="30min"))
    assert NoveltyDetector().test(events) == []


def test_a_typo_is_not_novel():
    op = NoveltyDetector(warmup=1)
    op.test([_text(0, "database replica deadlock"), _label(0, "database")])
    assert op.score(["databse", "replcia", "daedlock"]) == 0.0
    assert op.score(["bitcoin", "replica"]) == 0.5


def test_error_drift_fires_on_a_rising_error_only():
    op = ErrorDrift()
    out = []
    for i in range(3000):
        wrong = i >= 1500 and i % 2 == 0
        op.test(Event("prediction", "/m", {"id": i, "label": "a"}, time=T0))
        out += op.test(_label(i, "b" if wrong else "a"))
    assert out and out[0].type == "drift.detected"
    assert 1500 < op.detections[0] < 1700
