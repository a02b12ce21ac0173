"""UC3, time-attribute aggregation: per sensor and hour of the day, hopping windows.

The key of a reading is its sensor and the hour of the day (UTC) of its timestamp,
``"s_3;18"``: the windows answer "what does sensor 3 draw at 6 pm, over the last 30 days?".
Windows are 30 days long and start every day (Theodolite's defaults); ``window`` and ``hop``
shorten them for short runs. Each window emits the statistics of UC2 to ``output``.

>>> from edalab.streams import power_sensors, sensor_events
>>> app = uc3_aggregate(window="2h", hop="1h")
>>> app.source("input", list(sensor_events(power_sensors(sensors=1, duration="2h",
...                                                      period_ms=60_000, seed=1))))
>>> _ = app.run()
>>> [(r.event.data["key"], r.event.data["start"][11:16], r.event.data["count"])
...  for r in app.broker.read("output")]
[('s_0;0', '23:00', 60), ('s_0;0', '00:00', 60), ('s_0;1', '00:00', 60), ('s_0;1', '01:00', 60)]
"""

from __future__ import annotations

from edalab.brokers.base import Broker
from edalab.events import Event
from edalab.ml.windows import HoppingWindow
from edalab.runtime.app import App
from edalab.scalability.uc2_downsample import STATS, window_stats

__all__ = ["hour_key", "uc3_aggregate"]

_MS_PER_HOUR = 3_600_000


def hour_key(event: Event) -> str:
    """``"<sensor>;<hour of day, UTC>"`` of a reading.

    >>> from edalab import Event
    >>> hour_key(Event("r", "/s", {"identifier": "s_1", "timestamp": 7_200_000}))
    's_1;2'
    """
    data = event.data
    return f"{data['identifier']};{data['timestamp'] // _MS_PER_HOUR % 24}"


def uc3_aggregate(broker: Broker | None = None, *, window: str | float = "30D",
                  hop: str | float = "1D", grace: str | float = "5s", partitions: int = 8,
                  topic: str = "input", output: str = "output") -> App:
    """The UC3 App: handler ``aggregate`` (group ``uc3``) keys the readings of `topic` by
    sensor and hour of day and aggregates them in hopping windows (`window` long, one
    starting every `hop`), emitting each closed window to `output` (`grace` as in UC2)."""
    app = App(broker, partitions=partitions)
    op = HoppingWindow(window, hop, window_stats(), key=hour_key,
                       value=dict.fromkeys(STATS, "valueInW"), out_of_orderness=grace,
                       result_type="power.window")
    op.__name__ = "aggregate"
    app.handler(topic, group="uc3", output=output, batch=True)(op)
    return app
