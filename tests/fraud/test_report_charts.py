"""The fraud report's charts explain themselves: fraud visible beside genuine, one y axis per
row, gaps shown as gaps, no empty panel, each number rounded once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from edalab.fraud.charts import (
    decisions_over_time,
    model_comparison,
    score_distribution,
    throughput_over_time,
)

T = pd.date_range("2018-04-01", periods=6, freq="12h", tz="UTC")


def test_score_histograms_stand_side_by_side_so_fraud_is_not_hidden_behind_genuine():
    tx = pd.DataFrame({"TX_ID": np.arange(4), "TX_FRAUD": [0, 0, 0, 1]})
    fig = score_distribution(pd.DataFrame({"tx_id": tx.TX_ID, "score": [0.1] * 4}), tx, bins=4)
    assert fig.layout.barmode == "group"
    assert all(t.opacity is None and t.width is None for t in fig.data)  # no overlay


def test_decisions_chart_has_one_y_axis_per_row_not_two_on_one_chart():
    fig = decisions_over_time(pd.DataFrame({"time": T, "decision": ["approve", "review"] * 3}))
    axes = [fig.layout[name] for name in fig.layout if name.startswith("yaxis")]
    assert len(axes) == 2 and all(axis.overlaying is None for axis in axes)
    assert {t.yaxis for t in fig.data if t.name in ("review", "block")} == {"y"}
    assert {t.yaxis for t in fig.data if t.name.startswith(("approve", "abstain"))} == {"y2"}


def _timeline(lags: list[int]) -> pd.DataFrame:
    steps = range(1, len(lags) + 1)
    return pd.DataFrame({"step": steps, "wall_seconds": [float(s) for s in steps],
                         "clock": pd.date_range("2018-04-01", periods=len(lags), freq="1D"),
                         "published": [100, 200, 200, 200, 500][:len(lags)],
                         "stream": "a", "lag": lags})


def test_throughput_shows_a_drain_as_a_gap_and_no_lag_panel_when_lag_was_always_zero():
    fig = throughput_over_time(_timeline([0, 0, 0, 0, 0]))
    assert [t.name for t in fig.data] == ["events/s"]  # no empty lag panel
    assert list(fig.data[0].y) == [100.0, 100.0, None, None, 300.0]  # the drain: a gap
    assert fig.data[0].line.shape == "vh" and fig.data[0].connectgaps is False
    fig = throughput_over_time(_timeline([0, 3, 0, 0, 0]))
    assert [t.name for t in fig.data] == ["events/s", "lag"]


def test_test_week_numbers_are_rounded_once_alike_in_the_table_and_the_chart():
    rows = [{"model": "m", "auc_roc": 0.74349, "average_precision": 0.60049,
             "card_precision_at_100": 0.29051}]
    fig = model_comparison(rows)
    assert list(fig.data[0].text) == ["0.743", "0.600", "0.291"]
    assert list(fig.data[0].y) == [0.743, 0.6, 0.291]
