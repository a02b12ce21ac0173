"""The live ward dashboard without a browser: advancing fills the ward, the patient view and
the alert feed; switching patient redraws."""

from __future__ import annotations

import pytest

from edalab.health import WardDashboard, WardMonitor
from edalab.streams import vitals


@pytest.fixture(scope="module")
def dashboard():
    ward = vitals(patients=6, hours=16, seed=3)
    return WardDashboard(WardMonitor(methods=("news2", "combined")).feed(ward), chunk=100)


def test_advance_runs_part_of_the_stream_and_fills_the_ward(dashboard):
    dashboard.advance(200)
    assert 200 <= dashboard.events < 384 and not dashboard.finished
    heat = dashboard.ward.data[0]
    assert list(heat.y) == sorted(dashboard.patients) and len(heat.x) >= 1


def test_run_to_end_fills_the_patient_view_and_the_alert_feed(dashboard):
    dashboard.run_to_end()
    assert dashboard.finished and dashboard.events == 384
    assert len(dashboard.ward.data[0].x) == 16
    shown = dashboard.selector.value
    assert len(dashboard.patient.data[0].x) == len(dashboard.patients[shown].time) == 64
    assert dashboard.alerts and "<table" in dashboard.feed.value
    assert dashboard.alerts[-1].key in dashboard.feed.value


def test_switching_patient_redraws_the_patient_view(dashboard):
    paged = next(e.key for e in dashboard.alerts if e.type == "alert.raised")
    dashboard.select(paged)
    assert dashboard.selector.value == paged
    assert list(dashboard.patient.data[-2].x)  # page markers of that patient
    assert paged in dashboard.patient.layout.title.text
    with pytest.raises(ValueError, match="no observations"):
        dashboard.select("p999")


def test_text_form_has_no_random_ids(dashboard):
    bundle = dashboard._repr_mimebundle_()
    assert bundle["text/plain"].startswith("WardDashboard(method='combined'")
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_a_method_the_monitor_does_not_run_is_refused():
    monitor = WardMonitor(methods=("news2",)).feed(vitals(patients=2, hours=2, seed=0))
    with pytest.raises(ValueError, match="method"):
        WardDashboard(monitor, method="combined")


# -- replays: a dashboard built from a function that makes a monitor plays again --------------

WARD = vitals(patients=6, hours=16, seed=3)


def _fresh():
    return WardMonitor(methods=("news2", "combined")).feed(WARD)


def test_play_on_a_finished_run_replays_the_ward_on_a_fresh_monitor():
    dashboard = WardDashboard(_fresh, chunk=100).run_to_end()
    finished, alerts = dashboard.monitor, len(dashboard.alerts)
    dashboard.select(dashboard.alerts[0].key)
    chosen = dashboard.selector.value
    dashboard.play.playing = True  # the reader presses Play after Run All
    assert dashboard.monitor is not finished and dashboard.state == "ready"
    assert not dashboard.patients and dashboard.play.playing
    dashboard.play.value += 1
    assert dashboard.events == dashboard.speed.value and dashboard.patients
    while not dashboard.finished:
        dashboard.play.value += 1
    assert dashboard.events == 384 and len(dashboard.alerts) == alerts  # the same run again
    assert dashboard.selector.value == chosen and not dashboard.play.playing


def test_a_replay_at_the_default_pace_lasts_15_to_30_seconds():
    ward = vitals(patients=40, hours=48, seed=1)
    dashboard = WardDashboard(lambda: WardMonitor(methods=("combined",)).feed(ward))
    dashboard.run_to_end()
    ticks = -(-dashboard.events // dashboard.speed.value)
    assert 15 <= ticks * dashboard.play.interval / 1000 <= 30


def test_a_monitor_that_already_ran_is_refused_in_words():
    monitor = _fresh()
    monitor.run()
    with pytest.raises(ValueError, match="already run its stream.*lambda: WardMonitor"):
        WardDashboard(monitor)


def test_a_dashboard_on_a_monitor_given_as_it_is_says_it_cannot_replay():
    dashboard = WardDashboard(_fresh(), chunk=100).run_to_end()
    dashboard.play.playing = True
    assert not dashboard.play.playing and dashboard.events == 384
    assert "consumed" in dashboard.status.value and "lambda: WardMonitor" in dashboard.status.value


def test_each_row_of_the_patient_view_has_one_unit_in_its_axis_title(dashboard):
    layout = dashboard.patient.layout
    titles = [layout[f"yaxis{i}"].title.text for i in ("", 2, 3, 4, 5)]
    assert titles == ["per minute", "systolic BP (mmHg)", "SpO₂ (%)", "temperature (°C)",
                      "NEWS2 (points)"]
    assert layout.xaxis5.title.text == "time (UTC)"
    rows = {t.name: t.yaxis for t in dashboard.patient.data}
    assert rows["pulse (beats/min)"] == rows["respiration (breaths/min)"] == "y"
    assert len({rows["systolic BP"], rows["SpO₂"], rows["temperature"], rows["NEWS2"]}) == 4


def test_an_empty_ward_says_it_waits_for_observations():
    dashboard = WardDashboard(_fresh)
    waiting = [a for a in dashboard.ward.layout.annotations if a.name == "waiting"]
    assert waiting and waiting[0].visible is not False
    assert dashboard.ward.layout.xaxis.visible is False
    assert dashboard.patient.layout.yaxis.visible is False
    assert "waiting" in dashboard.patient.layout.title.text
    dashboard.advance(100)
    assert waiting[0].visible is False and dashboard.ward.layout.xaxis.visible is True
    assert dashboard.patient.layout.yaxis.visible is True
