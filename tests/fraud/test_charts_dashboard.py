"""Fraud charts draw exactly what their frames hold; the live dashboard follows a real pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edalab.fraud import (
    comparison_frame,
    decision_counts,
    decisions_over_time,
    metrics_over_time,
    model_comparison,
    score_distribution,
)

T = pd.date_range("2018-04-01", periods=6, freq="12h", tz="UTC")


def test_metrics_chart_has_a_line_per_metric_and_marks_drift_and_new_versions():
    metrics = pd.DataFrame({"time": T, "name": ["roc_auc", "average_precision"] * 3,
                            "value": np.linspace(0.5, 0.9, 6)})
    models = pd.DataFrame({"time": T[[0, 1, 4, 5]], "type": ["model.version", "drift.detected",
                                                             "drift.detected", "model.version"],
                           "detector": [None, "ADWIN", "ADWIN", None],
                           "version": [1, None, None, 2],
                           "reason": ["initial", "error up", "error up", "reset"]})
    fig = metrics_over_time(metrics, models)
    lines = {t.name: t for t in fig.data}
    assert list(lines) == ["ROC AUC", "average precision", "drift detected", "model version"]
    assert list(lines["average precision"].y) == pytest.approx(metrics.value[1::2].tolist())
    assert [x for x in lines["drift detected"].x if x] == [T[1].isoformat()[:19]] * 2 + [
        T[4].isoformat()[:19]] * 2
    assert len([x for x in lines["model version"].x if x]) == 2  # the initial one is not drawn


def test_score_histograms_are_percent_of_each_class():
    rng = np.random.default_rng(0)
    tx = pd.DataFrame({"TX_ID": np.arange(500), "TX_FRAUD": (rng.random(500) < 0.1).astype(int)})
    predictions = pd.DataFrame({"tx_id": tx.TX_ID[::-1], "score": rng.random(500)})
    fig = score_distribution(predictions, tx, bins=10, thresholds={"review": 0.5, "block": 0.8})
    assert [round(sum(t.y)) for t in fig.data] == [100, 100]
    assert fig.data[1].name == f"fraud ({tx.TX_FRAUD.sum()})"
    assert len(fig.layout.shapes) == 2
    with pytest.raises(ValueError, match="'fraud'"):
        score_distribution(predictions)
    with pytest.raises(ValueError, match="no transaction"):
        score_distribution(predictions.assign(tx_id=predictions.tx_id + 1), tx)


def test_decision_counts_count_every_decision_once_per_day():
    decisions = pd.DataFrame({"time": T, "decision": ["approve", "review", "approve", "block",
                                                      "approve", "approve"]})
    counts = decision_counts(decisions)
    assert counts.to_numpy().sum() == len(decisions)
    assert counts.loc["2018-04-02"].tolist() == [1, 0, 0, 1]  # approve abstain review block
    fig = decisions_over_time(decisions)
    assert [t.name for t in fig.data] == ["review", "block", "approve",
                                          "abstain (no label learned yet)"]
    with pytest.raises(ValueError, match="maybe"):
        decision_counts(decisions.assign(decision="maybe"))


def test_comparison_marks_the_published_numbers_as_published():
    from edalab.fraud.handbook import HANDBOOK_LR

    rows = [{"model": "online lr", "kind": "event-driven", "auc_roc": 0.85,
             "average_precision": 0.55, "card_precision_at_100": 0.27, "scores": [0.1]}]
    frame = comparison_frame(rows)
    assert frame["source"].tolist() == ["computed", "published"]
    assert "scores" not in frame
    assert frame.iloc[1][list(HANDBOOK_LR)].to_dict() == HANDBOOK_LR
    fig = model_comparison(rows, published=None)
    assert [t.name for t in fig.data] == ["online lr"]
    again = model_comparison(frame.reset_index())  # a table of this kind is not extended
    assert [t.name for t in again.data] == ["online lr", "handbook LR (published)"]
    assert again.data[1].marker.pattern.shape == "/"
    with pytest.raises(ValueError, match="card_precision_at_100"):
        comparison_frame([{"model": "x", "auc_roc": 1.0, "average_precision": 1.0}])


# -- the live dashboard, on a small real pipeline -------------------------------------------


@pytest.fixture(scope="module")
def tx():
    from edalab.streams import transactions

    return transactions(customers=50, terminals=100, days=20, seed=3)


@pytest.fixture
def dashboard(tx):
    from edalab.fraud import FraudDashboard
    from edalab.fraud.pipeline import FraudPipeline

    def make_pipeline(model):
        return FraudPipeline(model=model, metrics_every=200, seed=1).feed(tx)

    return FraudDashboard(make_pipeline, models=["lr", "hst"], chunk=500, speed=1000)


def _points(trace) -> int:
    return sum(x is not None for x in trace.x or ())


def test_advance_fills_every_chart_with_what_the_pipeline_emitted(dashboard, tx):
    dashboard.advance(1000)
    assert 1000 <= dashboard.events < 2 * len(tx) and not dashboard.finished
    dashboard.run_to_end()
    assert dashboard.finished and dashboard.events == 2 * len(tx)  # transactions + labels
    pipe, traces = dashboard.pipeline, {t.name: t for t in dashboard.figure.data}
    metrics = pipe.metrics()
    assert _points(traces["ROC AUC"]) == (metrics.name == "roc_auc").sum() > 0
    assert _points(traces["card precision@100"]) == (metrics.name == "card_precision@100").sum()
    alerts = pipe.decisions().decision.value_counts()
    assert sum(traces["review"].y) == alerts.get("review", 0)
    assert sum(traces["block"].y) == alerts.get("block", 0) and dashboard.alerts > 0
    assert _points(traces["events/s"]) == _points(traces["awaiting label"]) > 2
    assert repr(dashboard).startswith(f"FraudDashboard(model='lr', events={2 * len(tx)}, ")


def test_threshold_slider_changes_the_next_decisions(dashboard):
    dashboard.advance(1000)
    decided = len(dashboard.pipeline.decisions())
    dashboard.threshold.value = (0.0, 0.0)  # every later transaction is blocked
    dashboard.advance(1000)
    later = dashboard.pipeline.decisions().decision.iloc[decided:]
    assert len(later) > 0 and set(later) == {"block"}
    assert set(dashboard.pipeline.decisions().decision.iloc[:decided]) != {"block"}
    with pytest.raises(ValueError, match="review <= block"):
        dashboard.set_threshold(0.9, 0.5)


def test_choosing_a_model_rebuilds_the_pipeline_and_clears_the_charts(dashboard):
    dashboard.advance(2000)
    first = dashboard.pipeline
    dashboard.model.value = "hst"
    assert dashboard.pipeline is not first and dashboard.pipeline.model_name == "hst"
    assert dashboard.events == 0 and _points(dashboard.figure.data[0]) == 0
    assert dashboard.threshold.value == (0.5, 0.9)
    dashboard.advance(2000)
    assert dashboard.events >= 2000 and dashboard.model_name == "hst"
    with pytest.raises(ValueError, match="'rf'"):
        dashboard.restart("rf")


def test_a_play_tick_advances_by_the_speed_and_stops_at_the_end(dashboard, tx):
    dashboard.play.value = 1
    assert dashboard.events == dashboard.speed.value
    dashboard.speed.value = dashboard.speed.max
    dashboard.play.playing = True
    tick = 1
    while not dashboard.finished:
        tick += 1
        dashboard.play.value = tick
    assert dashboard.events == 2 * len(tx) and not dashboard.play.playing


def test_redraws_are_bounded_and_the_last_step_is_drawn(dashboard):
    dashboard.redraw_s = 3600.0
    drawn = dashboard.redraws
    dashboard.run_to_end()
    assert dashboard.redraws == drawn + 1  # only the forced, final one
    assert _points(dashboard.figure.data[0]) == (dashboard.pipeline.metrics().name
                                                 == "roc_auc").sum()


def test_the_dashboard_displays_as_a_widget_with_a_plain_text_summary(dashboard):
    bundle = dashboard._repr_mimebundle_()
    assert bundle["text/plain"] == repr(dashboard) and "uid" not in bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_play_on_a_finished_run_replays_it_from_the_start_on_a_fresh_pipeline(dashboard, tx):
    dashboard.run_to_end()
    finished = dashboard.pipeline
    dashboard.play.playing = True  # the reader presses Play after Run All
    assert dashboard.pipeline is not finished and dashboard.events == 0
    assert dashboard.play.playing  # the browser's timer keeps ticking into the replay
    dashboard.play.value += 1
    assert dashboard.events == dashboard.speed.value and dashboard.state == "running"
    while not dashboard.finished:
        dashboard.play.value += 1
    assert dashboard.events == 2 * len(tx) and not dashboard.play.playing


def test_a_replay_at_the_default_pace_lasts_15_to_30_seconds(dashboard):
    dashboard.run_to_end()
    ticks = -(-dashboard.events // dashboard.speed.value)
    assert 15 <= ticks * dashboard.play.interval / 1000 <= 30


def test_a_speed_the_reader_chose_is_kept_for_the_replay(dashboard):
    dashboard.speed.value = dashboard.speed.max
    dashboard.run_to_end()
    assert dashboard.speed.value == dashboard.speed.max


def test_the_label_panel_shows_payments_awaiting_their_label(dashboard):
    dashboard.advance(1500)
    pending = dashboard.figure.data[-2]
    assert pending.name == "awaiting label"
    assert pending.y[-1] == dashboard.pipeline.classifier.stats.buffered > 0
    dashboard.run_to_end()
    assert max(pending.y) > 0 and pending.y[-1] == 0  # every label has arrived at the end


def test_count_axes_have_whole_number_ticks_and_every_axis_a_title(dashboard):
    dashboard.advance(1000)
    layout = dashboard.figure.layout
    for axis in (layout.yaxis2, layout.yaxis3):  # alerts per day, payments awaiting labels
        assert axis.tickformat == ",d" and axis.dtick >= 1 and float(axis.dtick).is_integer()
    titles = [layout[f"yaxis{i}"].title.text for i in ("", 2, 3, 4)]
    assert all(titles) and "/ s" in titles[3] and layout.xaxis4.title.text


def test_each_subplot_with_several_traces_has_its_own_legend(dashboard):
    legends = {t.name: t.legend or "legend" for t in dashboard.figure.data
               if t.showlegend is not False}
    assert {legends["ROC AUC"], legends["drift detected"]} == {"legend"}
    assert {legends["review"], legends["block"]} == {"legend2"}
    assert dashboard.figure.layout.legend2.y < dashboard.figure.layout.legend.y


def test_an_empty_dashboard_says_it_waits_for_events_instead_of_drawing_axes(dashboard):
    waiting = [a for a in dashboard.figure.layout.annotations if a.name == "waiting"]
    assert waiting and waiting[0].visible is not False and "waiting for events" in waiting[0].text
    assert dashboard.figure.layout.xaxis4.visible is False
    dashboard.advance(1000)
    assert waiting[0].visible is False and dashboard.figure.layout.xaxis4.visible is True


def test_a_shown_figure_is_resized_to_its_area_once_its_view_is_drawn(dashboard):
    fig = dashboard.figure
    assert fig.layout.width is None and fig.layout.autosize
    sent = []
    fig.observe(lambda change: sent.append(change["new"]), "_py2js_relayout")
    dashboard._repr_mimebundle_()  # shown in a notebook: a view draws it and reports
    fig._js2py_traceDeltas = {"trace_deltas": [], "trace_edit_id": 0}
    toggles = [m["relayout_data"] for m in sent if m]
    assert toggles == [{"autosize": False}, {"autosize": True}] and fig.layout.autosize
    fig._js2py_traceDeltas = {"trace_deltas": [], "trace_edit_id": 0}
    assert len([m for m in sent if m]) == 2  # the view's answer is not toggled again
