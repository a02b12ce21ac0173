"""Scoring against ground truth: detection windows, lead-time sign, censoring, false alerts."""

from __future__ import annotations

import pandas as pd

from edalab.health.scoring import detection, summary

T = pd.Timestamp("2024-01-01", tz="UTC")
EPISODES = pd.DataFrame({"episode_id": ["e1", "e2"], "patient_id": ["p1", "p2"],
                         "onset": [T + pd.Timedelta("10h"), T + pd.Timedelta("22h")]})


def alerts(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame({"type": [r[0] for r in rows], "patient_id": [r[1] for r in rows],
                         "time": [T + pd.Timedelta(r[2]) for r in rows]})


def test_lead_time_is_positive_before_onset_and_negative_after():
    found = detection(alerts(("alert.raised", "p1", "9h30min"),
                             ("alert.raised", "p2", "23h")), EPISODES)
    assert found["lead_minutes"].tolist() == [30.0, -60.0]


def test_pages_long_before_onset_are_false_and_do_not_detect():
    a = alerts(("alert.raised", "p1", "2h"), ("alert.resolved", "p1", "3h"))
    s = summary(a, EPISODES, patients=4, hours=24)
    assert s["detected"] == 0 and s["false_alerts"] == 1
    assert s["false_alerts_per_patient_day"] == 0.25
    assert s["alerts_per_nurse_hour"] == round(1 / 12, 3)  # 1 page, 24 h x 4/8 nurses


def test_late_episodes_are_censored_not_missed():
    s = summary(alerts(("alert.raised", "p1", "11h")), EPISODES, patients=2, hours=24,
                end=T + pd.Timedelta("24h"), min_observed="4h")
    assert (s["episodes"], s["detected"], s["censored"]) == (1, 1, 1)
