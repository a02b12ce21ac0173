"""The stream charts: their data add up to the frames they draw, and they are deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from edalab.streams import power_sensors, sensor_registry, transactions
from edalab.viz.stream_charts import (
    amount_histogram,
    label_delay,
    power_load,
    replay_pacing,
    transactions_per_day,
)


@pytest.fixture(scope="module")
def tx():
    return transactions(customers=100, terminals=200, days=20, seed=3)


def test_stacked_bars_sum_to_transactions_and_frauds(tx):
    fig = transactions_per_day(tx)
    bars = {t.name: np.array(t.y) for t in fig.data}
    assert sum(b.sum() for b in bars.values()) == len(tx)
    assert sum(b.sum() for name, b in bars.items() if name != "genuine") == tx.TX_FRAUD.sum()
    assert len(fig.data[0].x) == tx.TX_TIME_DAYS.nunique()
    assert fig.layout.barmode == "stack"


def test_amount_histogram_counts_every_transaction_once(tx):
    counts = amount_histogram(tx, bins=30, max_amount=300, normalize=False)
    genuine, fraud = (sum(t.y) for t in counts.data)
    assert (genuine, fraud) == ((tx.TX_FRAUD == 0).sum(), tx.TX_FRAUD.sum())
    shares = amount_histogram(tx)
    assert [round(sum(t.y)) for t in shares.data] == [100, 100]


def test_label_delay_known_lags_committed_by_the_delay(tx):
    fig = label_delay(tx, delay="7D")
    committed, known = (np.array(t.y) for t in fig.data)
    assert committed[-1] == known[-1] == tx.TX_FRAUD.sum()
    assert (known <= committed).all()
    assert (known[7:] == committed[:-7]).all()  # daily counts: known on day d+7 = committed on d


def test_power_load_groups_sum_to_the_sensors():
    df = power_sensors(sensors=6, duration="10min", period_ms=5_000, seed=2)
    per_sensor = power_load(df, freq="1min")
    registry = sensor_registry(sensors=6, fanout=3, depth=2, seed=1)
    grouped = power_load(df, registry, freq="1min")
    assert len(per_sensor.data) == 6 and len(grouped.data) == 3
    total = lambda fig: np.sum([t.y for t in fig.data], axis=0)
    assert np.allclose(total(grouped), total(per_sensor), atol=0.05)
    minute = df[df.timestamp < df.timestamp.min() // 60_000 * 60_000 + 60_000]
    expected = minute.groupby("identifier").valueInW.mean().sum()
    assert total(per_sensor)[0] == pytest.approx(expected, abs=0.05)  # rounded to 0.01 W each


def test_replay_pacing_draws_the_ideal_line():
    fig = replay_pacing([0, 30, 60], [0.0, 0.5, 1.0], speed=60)
    assert list(fig.data[0].y) == [0.0, 1.0] and list(fig.data[1].x) == [0.0, 30.0, 60.0]


def test_power_load_refuses_a_zero_bin_naming_freq():
    df = power_sensors(sensors=2, duration="2min", period_ms=10_000, seed=1)
    with pytest.raises(ValueError, match=r"^freq must be a duration > 0, got '0min'$"):
        power_load(df, freq="0min")


# -- readable at a notebook's width -----------------------------------------------------------


def test_amount_histogram_gives_fraud_its_own_panel(tx):
    fig = amount_histogram(tx)
    genuine, fraud = fig.data
    assert (genuine.xaxis, genuine.yaxis) == ("x", "y")
    assert (fraud.xaxis, fraud.yaxis) == ("x2", "y2")
    assert fig.layout.barmode != "overlay"  # nothing drawn over the rare frauds
    assert fig.layout.yaxis2.title.text == "% of fraud"


def test_stream_charts_title_every_axis_with_its_unit(tx):
    df = power_sensors(sensors=2, duration="2min", period_ms=10_000, seed=1)
    titles = {
        "per day": transactions_per_day(tx).layout,
        "amounts": amount_histogram(tx).layout,
        "labels": label_delay(tx).layout,
        "load": power_load(df, freq="1min").layout,
    }
    assert titles["per day"].xaxis.title.text == "day (UTC)"
    assert titles["amounts"].xaxis2.title.text == "amount (currency units)"
    assert titles["labels"].yaxis.title.text == "frauds, cumulative count"
    assert titles["load"].yaxis.title.text == "load (W)"


def test_stream_chart_legends_sit_above_the_plot_clear_of_the_x_title(tx):
    for fig in (transactions_per_day(tx), amount_histogram(tx), label_delay(tx)):
        assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y >= 1
