"""UC2, downsampling: per sensor, tumbling one-minute windows of its readings.

Each window emits one ``window.result`` event to ``output`` with the count, sum, minimum,
maximum, mean and population variance of ``valueInW`` (Theodolite's ``StatsAccumulator``),
computed with river's running statistics as the readings arrive.

>>> from edalab.streams import power_sensors, sensor_events
>>> app = uc2_downsample()
>>> app.source("input", list(sensor_events(power_sensors(sensors=2, duration=120, seed=1))))
>>> _ = app.run()
>>> r = app.broker.read("output")[0].event.data
>>> r["key"], r["start"], r["count"], round(r["mean"], 2) == round(r["sum"] / r["count"], 2)
('s_1', '2024-01-01T00:00:00+00:00', 60, True)
"""

from __future__ import annotations

from typing import Any

from river import stats

from edalab.brokers.base import Broker
from edalab.ml.windows import TumblingWindow
from edalab.runtime.app import App

__all__ = ["STATS", "uc2_downsample", "window_stats"]

#: Result field -> river statistic, as Theodolite's UC2 and UC3 report them.
STATS = ("sum", "min", "max", "mean", "variance")


def window_stats() -> dict[str, Any]:
    """The statistics of a UC2/UC3 window (``count`` comes with every window result)."""
    return {"sum": stats.Sum, "min": stats.Min, "max": stats.Max, "mean": stats.Mean,
            "variance": lambda: stats.Var(ddof=0)}


def _values() -> dict[str, str]:
    return dict.fromkeys(STATS, "valueInW")


def uc2_downsample(broker: Broker | None = None, *, window: str | float = "1min",
                   grace: str | float = "5s", partitions: int = 8, topic: str = "input",
                   output: str = "output") -> App:
    """The UC2 App: handler ``downsample`` (group ``uc2``) windows each sensor's readings
    of `topic` in tumbling windows of `window` (event time) and emits each to `output`.

    One instance reads several partitions, in batches, so its readings come a little out of
    time order: the watermark trails the latest reading by `grace` (a reading older than
    that, for a window already closed, is emitted as ``window.late``)."""
    app = App(broker, partitions=partitions)
    op = TumblingWindow(window, window_stats(), value=_values(), out_of_orderness=grace,
                        result_type="power.window")
    op.__name__ = "downsample"
    app.handler(topic, group="uc2", output=output, batch=True)(op)
    return app
