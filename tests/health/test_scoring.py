"""Scoring against ground truth: paged before the adverse event, lead-time sign, false alerts."""

from __future__ import annotations

import pandas as pd

from edalab.health.scoring import detection, summary

T = pd.Timestamp("2024-01-01", tz="UTC")
EPISODES = pd.DataFrame({"episode_id": ["e1", "e2", "e3"], "patient_id": ["p1", "p2", "p3"],
                         "onset": [T + pd.Timedelta("10h"), T + pd.Timedelta("12h"),
                                   T + pd.Timedelta("20h")],
                         "adverse_event": [T + pd.Timedelta("14h"), T + pd.Timedelta("16h"),
                                           pd.NaT]})


def alerts(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame({"type": [r[0] for r in rows], "patient_id": [r[1] for r in rows],
                         "time": [T + pd.Timedelta(r[2]) for r in rows]})


def test_lead_time_is_positive_when_the_page_comes_before_the_adverse_event():
    found = detection(alerts(("alert.raised", "p1", "12h30min"),
                             ("alert.raised", "p2", "17h")), EPISODES)
    assert found["lead_minutes"].tolist()[:2] == [90.0, -60.0]
    assert found["detected"].tolist() == [True, False, False]


def test_a_page_after_onset_but_after_the_adverse_event_is_not_detection():
    s = summary(alerts(("alert.raised", "p1", "15h"), ("alert.raised", "p2", "13h")), EPISODES,
                patients=4, hours=24)
    assert (s["episodes"], s["detected"], s["missed"]) == (2, 1, 1)
    assert s["median_lead_minutes"] == 180.0 and s["false_alerts"] == 0


def test_compensated_episodes_are_listed_not_scored():
    s = summary(alerts(("alert.raised", "p3", "21h")), EPISODES, patients=4, hours=24)
    assert (s["episodes"], s["detected"], s["compensated"], s["false_alerts"]) == (2, 0, 1, 0)


def test_pages_long_before_onset_are_false_and_do_not_detect():
    a = alerts(("alert.raised", "p1", "2h"), ("alert.resolved", "p1", "3h"))
    s = summary(a, EPISODES, patients=4, hours=24)
    assert s["detected"] == 0 and s["false_alerts"] == 1
    assert s["false_alerts_per_patient_day"] == 0.25
    assert s["pages_per_nurse_hour"] == round(1 / 12, 4)  # 1 page, 24 h x 4/8 nurses


def test_lead_time_quartiles_span_the_detected_episodes():
    eps = pd.DataFrame({"episode_id": [f"e{i}" for i in range(4)],
                        "patient_id": [f"p{i}" for i in range(4)],
                        "onset": [T] * 4, "adverse_event": [T + pd.Timedelta("10h")] * 4})
    a = alerts(*[("alert.raised", f"p{i}", f"{h}h") for i, h in enumerate([2, 4, 6, 8])])
    s = summary(a, eps, patients=4, hours=24)
    assert (s["lead_q1_minutes"], s["median_lead_minutes"], s["lead_q3_minutes"]) == (
        210.0, 300.0, 390.0)  # leads 480, 360, 240, 120 min
