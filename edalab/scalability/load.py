"""An open-workload load generator: power readings published at a fixed rate, whether the
app keeps up or not.

A closed workload (send the next record when the last one is done) slows down with the
system it measures and hides its saturation; Theodolite's generators, like real sensors, send
on their own clock. `LoadGenerator` prepares its readings before the start (`power_sensors`:
`load` sensors, one reading per second each, stamped with the wall time they are due) and, on
a thread, publishes every `tick` seconds all the readings that have fallen due.

>>> from edalab import MemoryBroker
>>> broker = MemoryBroker()
>>> broker.create_topic("input", 2)
>>> gen = LoadGenerator(broker, load=50, duration=1.0)
>>> gen.run()
>>> gen.sent, sum(broker.end_offsets("input"))
(50, 50)
"""

from __future__ import annotations

import threading
import time

from edalab.brokers.base import Broker
from edalab.events import Event
from edalab.streams.power_sensors import power_sensors, sensor_events

__all__ = ["LoadGenerator"]


class LoadGenerator:
    """Publish `load` readings per second to `topic` for `duration` seconds.

    Parameters
    ----------
    broker, topic
        Where the readings go (keyed by sensor).
    load
        Records per second: the number of sensors, each reporting once a second.
    duration
        Seconds of load.
    tick
        Seconds between two publishes (each publishes what fell due since the last).
    seed
        Seed of the readings.

    Attributes
    ----------
    sent
        Readings published so far.
    behind
        The largest delay, seconds, of a publish after its due time (the generator itself
        falling behind: then the offered load is lower than asked, and the run says so).
    """

    def __init__(self, broker: Broker, *, load: int, duration: float, topic: str = "input",
                 tick: float = 0.05, seed: int = 0):
        if int(load) != load or load < 1:
            raise ValueError(f"load must be a positive number of records per second, got {load!r}")
        if not duration > 0 or not tick > 0:
            raise ValueError(f"duration and tick must be > 0 seconds, got {duration!r}, {tick!r}")
        self.broker, self.topic = broker, topic
        self.load, self.duration, self.tick, self.seed = int(load), float(duration), tick, seed
        self.sent = 0
        self.behind = 0.0
        self.started: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._events: list[Event] | None = None

    def __repr__(self) -> str:
        return f"LoadGenerator(load={self.load}/s, duration={self.duration:g} s, sent={self.sent})"

    def prepare(self, start_ms: int | None = None) -> None:
        """Make the readings, stamped from `start_ms` (epoch ms; default: now + 1 s)."""
        start_ms = start_ms if start_ms is not None else int(time.time() * 1000) + 1000
        df = power_sensors(sensors=self.load, duration=self.duration, period_ms=1000,
                           start=start_ms * 1_000_000, seed=self.seed)
        self._start_ms = start_ms
        self._due = ((df["timestamp"].to_numpy() - start_ms) / 1000.0).tolist()
        self._events = list(sensor_events(df))

    def start(self) -> None:
        """Publish on a thread from the first reading's due time."""
        if self._events is None:
            self.prepare()
        self._thread = threading.Thread(target=self._publish, name="load", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def run(self) -> None:
        """Publish in this thread until the load is over."""
        self.start()
        self.join()

    @property
    def offered(self) -> float:
        """Records per second actually offered so far."""
        if self.started is None:
            return 0.0
        return self.sent / max(min(time.time() - self.started, self.duration), 1e-9)

    def _publish(self) -> None:
        events, due = self._events or [], self._due
        start = self._start_ms / 1000.0
        time.sleep(max(0.0, start - time.time()))
        self.started = start
        i = 0
        while i < len(events) and not self._stop.is_set():
            now = time.time() - start
            j = i
            while j < len(due) and due[j] <= now:
                j += 1
            if j > i:
                self.behind = max(self.behind, now - due[i])
                self.broker.publish_many(self.topic, events[i:j])
                self.sent += j - i
                i = j
            time.sleep(self.tick)
