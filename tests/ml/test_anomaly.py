from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from river import anomaly, preprocessing

from edalab import App, Event
from edalab.brokers.base import dead_letter_topic
from edalab.ml.anomaly import AnomalyDetector

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def readings(n=600, seed=0):
    """Two patients on very different scales, with spikes of 8 sd every 50 rounds after 200."""
    rng = random.Random(seed)
    events, spikes = [], set()
    for i in range(n):
        for key, mu in (("a", 0.0), ("b", 50.0)):
            v, eid = rng.gauss(mu, 1.0), f"{key}{i}"
            if i >= 200 and i % 50 == 25:
                v = mu + rng.choice((-8.0, 8.0))
                spikes.add(eid)
            events.append(Event("r", "/s", {"v": v, "w": rng.gauss(0, 1)}, key=key,
                                time=T0 + timedelta(seconds=i), id=eid))
    return events, spikes


def hst():
    limits = {"v": (-5, 5), "w": (-5, 5)}
    return preprocessing.StandardScaler() | anomaly.HalfSpaceTrees(seed=1, window_size=50,
                                                                    limits=limits)


def test_per_key_detectors_catch_every_spike():
    events, spikes = readings()
    op = AnomalyDetector(hst, x=("v", "w"), quantile=0.99, key=True, warmup=150)
    alerted = {a.id.removeprefix("anomaly-") for e in events for a in op.test(e)}
    assert spikes <= alerted
    assert len(spikes) / len(alerted) >= 0.5  # precision
    assert op.stats["keys"] == 2 and op.stats["alerts"] == len(alerted)
    assert op.detector_for("a") is not op.detector_for("b")


def test_scores_before_learning_like_a_river_loop():
    events, _ = readings(n=120)
    op = AnomalyDetector(hst(), x=("v", "w"), threshold=-1.0, protect=False)  # alert on all
    scores = [op.test(e)[0].data["score"] for e in events]
    model, expected = hst(), []
    for e in events:
        x = {"v": e.data["v"], "w": e.data["w"]}
        expected.append(model.score_one(x))
        model.learn_one(x)
    assert scores == expected


def test_quantile_decisions_match_river_quantile_filter():
    events, _ = readings(n=300)
    op = AnomalyDetector(hst(), x=("v", "w"), quantile=0.95)
    got = [bool(op.test(e)) for e in events]
    filt, expected = anomaly.QuantileFilter(hst(), q=0.95), []
    for e in events:
        x = {"v": e.data["v"], "w": e.data["w"]}
        expected.append(filt.classify(filt.score_one(x)))
        filt.learn_one(x)
    assert got == expected and any(got)


def test_alert_carries_threshold_and_passthrough():
    events, _ = readings(n=300)
    op = AnomalyDetector(hst(), x=("v", "w"), quantile=0.95, passthrough=("w",))
    alerts = [a for e in events for a in op.test(e)]
    a = alerts[0]
    assert a.type == "anomaly.alert" and a.data["score"] >= a.data["threshold"]
    source = next(e for e in events if f"anomaly-{e.id}" == a.id)
    assert (a.key, a.time, a.data["w"]) == (source.key, source.time, source.data["w"])


def test_warmup_suppresses_alerts_per_key():
    events, _ = readings(n=100)
    op = AnomalyDetector(hst, x=("v", "w"), threshold=-1.0, key=True, warmup=30)
    alerts = [a for e in events for a in op.test(e)]
    assert len(alerts) == 2 * (100 - 30)
    assert op.stats["warming_up"] == 0


@pytest.mark.parametrize("data, field", [
    ({"v": 1.0}, "w"), ({"v": math.nan, "w": 0.0}, "v"), ({"v": "high", "w": 0.0}, "v"),
    ({"v": None, "w": 0.0}, "v")])
def test_bad_input_raises_naming_event_and_field(data, field):
    op = AnomalyDetector(hst(), x=("v", "w"), quantile=0.9)
    with pytest.raises(ValueError, match=rf"'bad-1'.*'{field}'"):
        op.test(Event("r", "/s", data, time=T0, id="bad-1"))


def test_dict_field_x_and_labels_forwarded():
    op = AnomalyDetector(hst(), x="x", threshold=2.0, forward=("fraud.label",))
    label = Event("fraud.label", "/l", {"tx_id": 1}, time=T0)
    assert op.test(label) == [label]
    with pytest.raises(ValueError, match=r"field 'x.v' is not finite"):
        op.test(Event("f", "/s", {"x": {"v": math.inf}}, time=T0))
    assert op.test(Event("f", "/s", {"x": {"v": 0.5, "w": 0.1}}, time=T0)) == []


def test_in_app_a_bad_event_is_dead_lettered_and_the_stream_goes_on():
    events, spikes = readings(n=300)
    bad = Event("r", "/s", {"v": "??", "w": 0.0}, key="a", time=events[100].time, id="bad")
    app = App()
    op = AnomalyDetector(hst, x=("v", "w"), quantile=0.99, key=True, warmup=150)
    app.handler("vitals", output="alerts", max_attempts=2)(op)
    app.source("vitals", events[:101] + [bad] + events[101:])
    app.run()
    assert [r.event.id for r in app.broker.read(dead_letter_topic("vitals"))] == ["bad"]
    alerted = {r.event.id.removeprefix("anomaly-") for r in app.broker.read("alerts")}
    assert spikes <= alerted and op.stats["events"] == len(events)


def test_needs_exactly_one_rule():
    with pytest.raises(ValueError, match="exactly one"):
        AnomalyDetector(hst(), threshold=0.5, quantile=0.9)
    with pytest.raises(ValueError, match="already an anomaly filter"):
        AnomalyDetector(anomaly.ThresholdFilter(hst(), 0.5), quantile=0.9)
