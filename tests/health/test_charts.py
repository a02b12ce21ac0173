"""The ward's charts: a patient's vitals show NEWS2 as scored and mark the episode's onset."""

from __future__ import annotations

import numpy as np
import pytest

from edalab.health import news2_frame, patient_vitals
from edalab.streams import vitals, vitals_episodes


def test_patient_vitals_shows_news2_and_marks_the_onset():
    ward = vitals(patients=20, hours=24, seed=7)
    episode = vitals_episodes(ward).iloc[0]
    fig = patient_vitals(ward, episode.patient_id)
    rows = ward[ward.patient_id == episode.patient_id]
    news = fig.data[-1]
    assert news.name == "NEWS2" and news.yaxis == "y6"
    expected = news2_frame(rows)["total"].tolist()
    assert [np.nan if v is None else v for v in news.y] == pytest.approx(expected, nan_ok=True)
    onset = [s for s in fig.layout.shapes if s.type == "line"]
    assert onset[0].x0 == episode.onset.tz_localize(None).isoformat()
    assert fig.to_json() == patient_vitals(ward, episode.patient_id).to_json()
    with pytest.raises(ValueError, match="p999"):
        patient_vitals(ward, "p999")


def test_patient_vitals_has_one_vital_and_one_unit_per_axis_and_marks_the_adverse_event():
    ward = vitals(patients=40, hours=48, seed=1)
    episode = vitals_episodes(ward).dropna(subset=["adverse_event"]).iloc[0]
    fig = patient_vitals(ward, episode.patient_id)
    axes = [t.yaxis for t in fig.data]
    assert len(set(axes)) == len(axes)  # no axis holds two signs
    titles = [fig.layout[f"yaxis{a[1:]}"].title.text for a in axes]
    assert all("," in t for t in titles), titles  # "name, unit"
    assert [t.split(", ")[1] for t in titles] == ["beats/min", "mmHg", "%", "breaths/min",
                                                  "°C", "points"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert lines[-1].x0 == episode.adverse_event.tz_localize(None).isoformat()


def test_ward_levels_labels_every_patient_in_a_readable_size():
    from edalab.health import WardMonitor, ward_levels

    ward = vitals(patients=12, hours=6, seed=2)
    monitor = WardMonitor(methods=("news2",)).feed(ward)
    monitor.run()
    fig = ward_levels(monitor.assessed())
    assert fig.layout.yaxis.dtick == 1 and fig.layout.yaxis.tickfont.size >= 12
    assert fig.layout.height >= 20 * 12


def test_tradeoff_draws_lead_with_its_iqr_against_alarm_burden_off_the_axes():
    from edalab.health import WardMonitor, compare_methods, tradeoff

    ward = vitals(patients=40, hours=48, seed=1)
    monitor = WardMonitor().feed(ward)
    monitor.run()
    table = compare_methods({m: monitor.alerts(m) for m in monitor.methods}, ward)
    fig = tradeoff(table)
    assert [t.name for t in fig.data] == list(monitor.methods)
    for trace, (_, row) in zip(fig.data, table.iterrows(), strict=True):
        assert trace.y[0] == row["median_lead_minutes"] > 0
        assert trace.error_y.arrayminus[0] == row["median_lead_minutes"] - row["lead_q1_minutes"]
        assert 0 < trace.x[0] < fig.layout.xaxis.range[1]  # not stuck on an axis
    assert "+ = ahead" in fig.layout.yaxis.title.text


def test_pipeline_diagram_draws_every_topic_the_monitor_wires():
    from edalab.health import WardMonitor, pipeline_diagram

    monitor = WardMonitor()
    wired = {h.topic for h in monitor.app.handlers} | {"vitals.artefacts", "vitals.dlq"}
    wired |= {f"alerts.{m}" for m in monitor.methods}
    labels = [a.text for a in pipeline_diagram().layout.annotations if a.showarrow is False]
    drawn = {t.replace("<b>", "").replace("</b>", "") for t in labels if t.startswith("<b>")}
    assert wired <= drawn
