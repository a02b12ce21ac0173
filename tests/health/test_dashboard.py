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
