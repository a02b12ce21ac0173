"""The monitoring pipeline end to end on a small seeded ward, and the streaming NEWS2 operator
against the vectorised NEWS2."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from edalab import Event
from edalab.health import news2_frame
from edalab.health.monitor import News2Operator, WardMonitor
from edalab.health.scoring import compare_methods
from edalab.health.validation import ACVPU, VECTOR
from edalab.streams import vitals, vitals_events


@pytest.fixture(scope="module")
def ward():
    return vitals(patients=30, hours=36, seed=1)


@pytest.fixture(scope="module")
def monitor(ward):
    m = WardMonitor().feed(ward)
    m.run()
    return m


def test_streaming_news2_equals_the_vectorised_news2_on_complete_sets(ward, monitor):
    scored = monitor.assessed().set_index(["time", "patient_id"])
    clean = ward[ward["artefact"] == ""].set_index(["time", "patient_id"])
    expected = news2_frame(clean.reset_index())["total"].to_numpy()
    got = scored.loc[clean.index, "news2"].to_numpy(dtype=float, na_value=np.nan)
    assert np.array_equal(got, expected, equal_nan=True)


def test_batch_operator_gives_the_per_event_operator_events():
    rng = np.random.default_rng(3)
    t = datetime(2024, 1, 1, tzinfo=UTC)
    events = []
    for i in range(300):
        values = [float(rng.integers(5, 35)), float(rng.integers(85, 100)),
                  float(rng.integers(0, 2)), float(rng.integers(80, 230)),
                  float(rng.integers(35, 140)), float(rng.integers(0, len(ACVPU))),
                  round(float(rng.uniform(34, 40)), 1)]
        if i % 7 == 0:
            values[i % len(VECTOR)] = None
        events.append(Event("vitals.validated", "/t", {"patient_id": "p", "values": values,
                                                       "carried": []}, key="p", time=t))
    op = News2Operator()
    assert [e.data for e in op.batch(events)] == [op(e).data for e in events]


def test_every_input_event_is_accounted_for(ward, monitor):
    q = monitor.quality()
    assert q["observations"] == len(ward) and q["dead_letters"] == 0
    assert q["impossible_values"] == (ward["artefact"] == "out_of_range").sum()
    assert q["motion_sets"] >= 0.8 * (ward["artefact"] == "motion").sum()


def test_combined_policy_detects_every_observable_episode_earlier_than_news2(ward, monitor):
    table = compare_methods({m: monitor.alerts(m) for m in monitor.methods}, ward)
    combined, alone = table.loc["combined"], table.loc["news2"]
    assert combined["detected"] == combined["episodes"] > 0
    assert combined["median_lead_minutes"] > alone["median_lead_minutes"]


def test_garbage_events_end_in_dead_letters_or_artefacts_and_the_run_goes_on(ward):
    events = list(vitals_events(ward.head(60)))
    t = events[-1].time
    base = dict(events[0].data)
    garbage = [
        Event("vitals.observation", "/bad", {**base, "spo2": "ninety"}, key="p000", time=t),
        Event("vitals.observation", "/bad", {k: v for k, v in base.items() if k != "pulse"},
              key="p000", time=t),
        Event("vitals.observation", "/bad", {**base, "spo2": 140, "pulse": -3}, key="p000",
              time=t),
        Event("vitals.observation", "/bad", {**base, "temperature": float("nan")},
              key="p000", time=t),
        Event("vitals.observation", "/bad", None, key="p000", time=t),
    ]
    m = WardMonitor(methods=("combined",)).feed(events + garbage)
    stats = m.run()
    q = m.quality()
    # Three fail validation; the NaN one no broker can carry, so it is dead-lettered as it
    # is published (as on NATS), before the validator sees it.
    assert stats.dead_letters == q["dead_letters"] == 4
    assert [e.type for e in m.dead_letters()].count("edalab.unpublishable") == 1
    assert q["impossible_values"] >= 2 and q["observations"] == 61
    assert len(m.assessed()) == 61
    assert pd.Series([e.data for e in m.dead_letters()]).notna().sum() >= 2


def test_a_malformed_event_in_a_news2_batch_is_dead_lettered_alone():
    from edalab import App

    t = datetime(2024, 1, 1, tzinfo=UTC)
    good = {"patient_id": "p", "values": [16.0, 97.0, 0.0, 120.0, 70.0, 0.0, 36.9],
            "carried": []}
    events = [Event("vitals.validated", "/t", good, key="p", time=t, id=f"g{i}")
              for i in range(5)]
    events.insert(2, Event("vitals.validated", "/t", {"patient_id": "p", "values": "x"},
                           key="p", time=t, id="bad"))
    app = App()
    app.handler("valid", output="scored", batch=True)(News2Operator().batch)
    app.source("valid", events)
    stats = app.run()
    assert stats.dead_letters == 1
    assert [r.event.id for r in app.broker.read("scored")] == [f"g{i}" for i in range(5)]


def test_run_progress_bar_knows_the_total(capsys):
    ward = vitals(patients=3, hours=1, seed=2)
    WardMonitor().feed(ward).run(progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and f"{len(ward)}/{len(ward)}" in err
