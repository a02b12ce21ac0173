"""Alert policy: escalation by NEWS2 level, de-duplication, hysteresis, acknowledgement, and
how the combined method uses the anomaly score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import Event, EventError
from edalab.health.alerts import AlertPolicy, level_of

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def assessed(i: int, news2: int, score: float = 0.0, red: bool = False) -> Event:
    return Event("vitals.assessed", "/t", {"patient_id": "p1", "news2": news2, "red": red,
                                           "level": level_of(news2, red), "score": score},
                 key="p1", time=T0 + timedelta(minutes=15 * i), id=f"o{i}")


def run(policy: AlertPolicy, news2: list[int], scores: list[float] | None = None) -> list:
    scores = scores or [0.0] * len(news2)
    return [(e.type, e.data["level"]) for i, (n, s) in enumerate(zip(news2, scores, strict=True))
            for e in policy.test(assessed(i, n, s))]


def test_a_patient_who_stays_high_pages_once():
    assert run(AlertPolicy("news2"), [6] * 40) == [("alert.raised", "urgent")]


def test_one_high_reading_does_not_page_but_an_emergency_does_at_once():
    assert run(AlertPolicy("news2", confirm=2), [0, 5, 0, 0]) == []
    assert run(AlertPolicy("news2", confirm=2), [0, 8]) == [("alert.raised", "emergency")]


def test_bouncing_around_the_threshold_does_not_repage_until_resolved():
    pages = run(AlertPolicy("news2", clear="1h"), [5, 5, 4, 5, 4, 5, 0, 0, 0, 0, 0, 5, 5])
    assert pages == [("alert.raised", "urgent"), ("alert.resolved", "routine"),
                     ("alert.raised", "urgent")]


def test_acknowledgement_is_recorded_once():
    policy = AlertPolicy("news2")
    run(policy, [6, 6])
    ack = Event("alert.ack", "/nurse", {"by": "n1"}, key="p1", time=T0)
    assert [e.data["by"] for e in policy.acknowledge(ack)] == ["n1"]
    assert policy.acknowledge(ack) == []


def test_combined_holds_a_news2_level_the_patients_baseline_does_not_support():
    policy = AlertPolicy("combined", warmup=0, uncorroborated=4, corroborate=2.0)
    assert run(policy, [5, 5, 5], [0.5] * 3) == []
    assert run(AlertPolicy("combined", warmup=0, corroborate=2.0), [0, 5, 5],
               [2.5, 2.5, 2.5]) == [("alert.raised", "urgent")]


def test_combined_pages_a_corroborated_emergency_at_once_and_holds_a_one_reading_spike():
    assert run(AlertPolicy("combined", warmup=0), [0, 8], [3.5, 6.0]) == [
        ("alert.raised", "emergency")]
    assert run(AlertPolicy("combined", warmup=0), [0, 8, 2, 2], [0.5, 6.0, 2.0, 1.0]) == []
    assert run(AlertPolicy("combined", warmup=0), [0, 8, 8], [0.5, 6.0, 6.0]) == [
        ("alert.raised", "emergency")]


def test_combined_anomaly_only_pages_when_strong_and_persistent():
    policy = AlertPolicy("combined", warmup=0, page=4.0, persist="30min")
    assert run(policy, [0, 0, 0, 0], [5.0, 5.0, 1.0, 5.0]) == []  # 15-min rounds, broken run
    assert run(AlertPolicy("combined", warmup=0, page=4.0, persist="30min"), [0, 0, 0],
               [5.0, 5.0, 5.0]) == [("alert.raised", "ward review")]


def test_anomaly_alone_pages_ward_review_after_warmup_only():
    assert run(AlertPolicy("anomaly", warmup=3, page=4.0), [0] * 5, [9.0] * 5) == [
        ("alert.raised", "ward review")]


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="method"):
        AlertPolicy("vibes")
    with pytest.raises(EventError, match="level"):
        AlertPolicy().test(Event("vitals.assessed", "/t", {"patient_id": "p", "level": "meh",
                                                      "score": 0.0}, time=T0))


@pytest.mark.parametrize("option", ["clear", "persist"])
def test_a_negative_alert_duration_is_refused(option):
    with pytest.raises(ValueError, match=rf"^{option} must be a duration >= 0, got '-5min'$"):
        AlertPolicy(**{option: "-5min"})
