"""Smart-meter power readings: the load of the Theodolite scalability benchmarks.

Theodolite (cau-se/theodolite) benchmarks stream processors with the records of an industrial
power-monitoring system (Titan Control Center): every sensor ``s_0, s_1, ...`` sends an
``ActivePowerRecord(identifier, timestamp, valueInW)`` once per period, and the hierarchical
use cases (UC2, UC4) sum the readings over a registry of nested sensor groups. This module makes
the same records, with a realistic daily load profile instead of Theodolite's constant value, and
the same kind of nested registry.

>>> df = power_sensors(sensors=3, duration="10s", period_ms=5000, seed=1)
>>> list(df.columns), len(df)
(['identifier', 'timestamp', 'valueInW'], 6)
>>> next(sensor_events(df)).type
'power.reading'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.streams.renamed import renamed

__all__ = ["SensorGroup", "power_sensors", "sensor_events", "sensor_registry"]

SOURCE = "/edalab/sensors"
TYPE = "power.reading"
_unchecked = Event._unchecked
_MS_PER_DAY = 86_400_000


def _to_utc(start: str | datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(start)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _duration_ms(duration: float | str | pd.Timedelta) -> int:
    if isinstance(duration, str):  # numeric strings ("3600" from a command line) are seconds
        with contextlib.suppress(ValueError):
            duration = float(duration)
    return round(parse_duration(duration, number_unit="s").value / 1e6)


@renamed(n_sensors="sensors")
def power_sensors(
    sensors: int = 10,
    duration: float | str | pd.Timedelta = "1h",
    period_ms: int = 1000,
    start: str | datetime | pd.Timestamp = "2024-01-01",
    seed: int | None = 0,
) -> pd.DataFrame:
    """Readings of `sensors` smart meters, one per sensor and period, in timestamp order.

    Each sensor ``s_i`` reports every `period_ms` milliseconds, starting at its own phase in
    ``[0, period_ms)`` (sensors are not synchronised), for `duration` after `start`. Its load in
    watts is a base load (log-normal across sensors, median 500 W) shaped by a daily profile
    (low at night, peaks in the morning and the evening, each sensor shifted a little) with
    multiplicative noise and an occasional switched-on appliance; values are rounded to 0.01 W,
    as a meter's resolution would be.

    Parameters
    ----------
    sensors
        Number of sensors, keyed ``s_0 .. s_{sensors-1}`` as in Theodolite's key space (as
        ``edalab simulate sensors --sensors``; the former name ``n_sensors`` still works, with
        a `DeprecationWarning`).
    duration
        Length of the simulated interval: seconds, or a pandas offset string (``"15min"``,
        ``"1D"``).
    period_ms
        Milliseconds between two readings of one sensor (Theodolite's ``PERIOD_MS``).
    start
        Start of the interval; a naive time is taken as UTC.
    seed
        Seed of the random generator: one seed, one data set.

    Returns
    -------
    pandas.DataFrame
        Columns ``identifier`` (str), ``timestamp`` (int64, epoch milliseconds) and
        ``valueInW`` (float64), sorted by ``timestamp`` (ties by sensor number).

    Examples
    --------
    >>> df = power_sensors(sensors=2, duration=3, period_ms=1000, seed=7)
    >>> df["identifier"].tolist()
    ['s_1', 's_0', 's_1', 's_0', 's_1', 's_0']
    >>> bool(df["timestamp"].is_monotonic_increasing), bool((df["valueInW"] >= 0).all())
    (True, True)
    >>> power_sensors(2, 3, seed=7).equals(df)
    True
    """
    if int(sensors) != sensors or sensors < 1:
        raise ValueError(f"sensors must be a positive integer, got {sensors!r}")
    if int(period_ms) != period_ms or period_ms < 1:
        raise ValueError(f"period_ms must be a positive integer, got {period_ms!r}")
    n_sensors, period_ms = int(sensors), int(period_ms)
    total_ms = _duration_ms(duration)
    start_ms = _to_utc(start).value // 1_000_000  # .value is in ns whatever the unit
    rng = np.random.default_rng(seed)

    # Per-sensor parameters.
    phase = rng.integers(0, period_ms, size=n_sensors)
    base = rng.lognormal(np.log(500.0), 0.6, size=n_sensors)
    shift_ms = rng.normal(0.0, 45 * 60_000, size=n_sensors)
    noise = rng.uniform(0.02, 0.08, size=n_sensors)

    # One row per (sensor, tick) that falls inside the interval.
    n_ticks = (total_ms - 1) // period_ms + 1
    offset = phase[:, None] + period_ms * np.arange(n_ticks)[None, :]
    inside = offset < total_ms
    sensor = np.broadcast_to(np.arange(n_sensors)[:, None], offset.shape)[inside]
    offset = offset[inside]
    order = np.lexsort((sensor, offset))
    sensor, offset = sensor[order], offset[order]
    timestamp = start_ms + offset

    hour = ((timestamp + shift_ms[sensor]) % _MS_PER_DAY) / 3_600_000.0
    profile = (
        0.35
        + 0.45 * np.exp(-0.5 * ((hour - 8.0) / 1.5) ** 2)
        + 0.75 * np.exp(-0.5 * ((hour - 19.0) / 2.0) ** 2)
        + 0.25 * np.exp(-0.5 * ((hour - 13.0) / 2.5) ** 2)
    )
    value = base[sensor] * profile * rng.lognormal(0.0, noise[sensor])
    # An appliance (kettle, heater, machine) running adds a burst of load.
    bursts = rng.random(len(value)) < 0.02
    value = value + bursts * rng.uniform(800.0, 2500.0, size=len(value))

    ids = np.array([f"s_{i}" for i in range(n_sensors)], dtype=object)
    return pd.DataFrame({
        "identifier": pd.Series(ids[sensor], dtype="str"),
        "timestamp": timestamp.astype(np.int64),
        "valueInW": np.round(value, 2),
    })


def sensor_events(df: pd.DataFrame) -> Iterator[Event]:
    """The readings of `power_sensors` as `Event`\\ s, in the frame's row order.

    Each event has type ``"power.reading"``, source ``"/edalab/sensors"``, the sensor identifier
    as key, the reading's timestamp as time (UTC) and the record as data (plain Python types);
    its id, ``"<identifier>@<timestamp>"``, is deterministic and unique per sensor and time.

    Examples
    --------
    >>> df = power_sensors(sensors=2, duration=2, seed=3)
    >>> e = next(sensor_events(df))
    >>> e.key, e.id, e.time.isoformat()
    ('s_1', 's_1@1704067200085', '2024-01-01T00:00:00.085000+00:00')
    >>> sorted(e.data)
    ['identifier', 'timestamp', 'valueInW']
    """
    missing = [c for c in ("identifier", "timestamp", "valueInW") if c not in df.columns]
    if missing:
        raise ValueError(f"sensor_events needs column(s) {missing}; got {list(df.columns)}")
    ids = [str(v) for v in df["identifier"].tolist()]
    stamps = [int(v) for v in df["timestamp"].tolist()]
    values = [float(v) for v in df["valueInW"].tolist()]
    times = pd.to_datetime(np.asarray(stamps, dtype=np.int64), unit="ms", utc=True)
    times = times.to_pydatetime().tolist()
    for ident, stamp, value, time in zip(ids, stamps, values, times, strict=True):
        # valid by construction (str ids and keys, UTC datetimes): built without the checks
        yield _unchecked(TYPE, SOURCE,
                         {"identifier": ident, "timestamp": stamp, "valueInW": value},
                         ident, time, f"{ident}@{stamp}")


@dataclass
class SensorGroup:
    """A node of a sensor registry: a group whose children are groups or sensor ids.

    Parameters
    ----------
    identifier
        Unique id of the group (``"root"``, ``"g_1_0"``, ...).
    name
        Human-readable name.
    children
        Child groups (`SensorGroup`) and sensors (their identifiers, `str`).

    Examples
    --------
    >>> g = SensorGroup("hall", "Hall", [SensorGroup("line_1", "Line 1", ["s_0", "s_1"]), "s_2"])
    >>> g.sensors()
    ['s_0', 's_1', 's_2']
    >>> g.find("line_1").name
    'Line 1'
    """

    identifier: str
    name: str
    children: list[SensorGroup | str] = field(default_factory=list)

    def sensors(self) -> list[str]:
        """All sensors below this group (at any depth), in tree order."""
        out: list[str] = []
        stack: list[SensorGroup | str] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, SensorGroup):
                stack.extend(reversed(node.children))
            else:
                out.append(node)
        return out

    def groups(self) -> list[SensorGroup]:
        """This group and all groups below it, in tree order."""
        out: list[SensorGroup] = []
        stack: list[SensorGroup] = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(c for c in reversed(node.children) if isinstance(c, SensorGroup))
        return out

    def find(self, identifier: str) -> SensorGroup:
        """The group with this identifier; `KeyError` if there is none."""
        for group in self.groups():
            if group.identifier == identifier:
                return group
        raise KeyError(identifier)

    def parent_map(self) -> pd.DataFrame:
        """The tree flattened to one row per edge: ``child``, ``parent``, ``level``, ``is_sensor``.

        ``level`` is the child's depth (this group's children have level 1). Theodolite's
        hierarchical aggregation (UC4) joins each reading with this map to find the groups a
        sensor's value counts towards.
        """
        rows: list[tuple[str, str, int, bool]] = []
        stack: list[tuple[SensorGroup, int]] = [(self, 0)]
        while stack:
            group, level = stack.pop()
            for child in group.children:
                if isinstance(child, SensorGroup):
                    rows.append((child.identifier, group.identifier, level + 1, False))
                else:
                    rows.append((child, group.identifier, level + 1, True))
            stack.extend((c, level + 1) for c in reversed(group.children)
                         if isinstance(c, SensorGroup))
        return pd.DataFrame(rows, columns=["child", "parent", "level", "is_sensor"])


@renamed(n_sensors="sensors")
def sensor_registry(
    sensors: int = 10, fanout: int = 2, depth: int = 2, seed: int | None = None
) -> SensorGroup:
    """A nested registry of sensor groups over the sensors ``s_0 .. s_{sensors-1}``.

    The root (``"root"``) has `fanout` child groups, each of those `fanout` more, for `depth`
    levels of groups in all (``depth=1``: the root holds every sensor). Group ``g_<level>_<i>``
    is the i-th group of its level. The sensors are split as evenly as possible over the groups
    of the lowest level: in order with ``seed=None``, shuffled with a seed.

    Parameters
    ----------
    sensors
        Number of sensors (the keys of `power_sensors` with the same `sensors`; the former
        name ``n_sensors`` still works, with a `DeprecationWarning`).
    fanout
        Child groups per group.
    depth
        Levels of groups, the root included.
    seed
        Seed for the assignment of sensors to groups; `None` assigns them in order.

    Examples
    --------
    >>> root = sensor_registry(sensors=8, fanout=2, depth=3)
    >>> [g.identifier for g in root.children]
    ['g_1_0', 'g_1_1']
    >>> root.find("g_1_1").sensors()
    ['s_4', 's_5', 's_6', 's_7']
    >>> root.parent_map().query("child == 's_5'")[["child", "parent", "level"]].to_numpy().tolist()
    [['s_5', 'g_2_2', 3]]
    """
    for name, value in (("sensors", sensors), ("fanout", fanout), ("depth", depth)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    leaves_count = fanout ** (depth - 1)
    n_sensors = int(sensors)
    names = [f"s_{i}" for i in range(n_sensors)]
    if seed is not None:
        order = np.random.default_rng(seed).permutation(n_sensors)
        names = [names[i] for i in order]

    root = SensorGroup("root", "All sensors")
    level_groups = [root]
    for level in range(1, depth):
        next_groups: list[SensorGroup] = []
        for parent in level_groups:
            for _ in range(fanout):
                i = len(next_groups)
                child = SensorGroup(f"g_{level}_{i}", f"Group {level}.{i}")
                parent.children.append(child)
                next_groups.append(child)
        level_groups = next_groups
    bounds = np.linspace(0, n_sensors, leaves_count + 1).round().astype(int)
    for group, lo, hi in zip(level_groups, bounds[:-1], bounds[1:], strict=True):
        group.children.extend(names[lo:hi])
    return root
