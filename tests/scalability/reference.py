"""pandas computations of the use cases' windows, the references the apps are checked against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from edalab.streams.power_sensors import SensorGroup


def window_stats(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """count, sum, min, max, mean, population variance of valueInW per `keys`."""
    g = frame.groupby(keys)["valueInW"]
    out = g.agg(["count", "sum", "min", "max", "mean"])
    out["variance"] = g.var(ddof=0)
    return out.reset_index()


def tumbling(df: pd.DataFrame, size_ms: int) -> pd.DataFrame:
    """UC2: per sensor, windows [start, start + size)."""
    frame = df.assign(start=df["timestamp"] - df["timestamp"] % size_ms)
    return window_stats(frame, ["identifier", "start"]).rename(columns={"identifier": "key"})


def hopping(df: pd.DataFrame, size_ms: int, hop_ms: int) -> pd.DataFrame:
    """UC3: per (sensor, hour of day), every window [start, start + size) on the hop grid
    that holds the reading."""
    key = df["identifier"] + ";" + (df["timestamp"] // 3_600_000 % 24).astype(str)
    first = df["timestamp"] - df["timestamp"] % hop_ms
    frames = [df.assign(key=key, start=first - k * hop_ms) for k in range(size_ms // hop_ms)]
    frame = pd.concat(frames)
    frame = frame[frame["start"] > frame["timestamp"] - size_ms]
    return window_stats(frame, ["key", "start"])


def hierarchy(df: pd.DataFrame, versions: list[tuple[int, SensorGroup]],
              size_ms: int) -> pd.DataFrame:
    """UC4: per group and window, the sum of each child's last value in the window, a group's
    result fed back at its window's end; the registry in force at each record's time."""
    def parents(child_times: pd.DataFrame) -> pd.Series:
        out = pd.Series([None] * len(child_times), index=child_times.index, dtype=object)
        for since, root in versions:
            edges = root.parent_map().set_index("child")["parent"]
            at = child_times["timestamp"] >= since
            out[at] = child_times.loc[at, "identifier"].map(edges)
        return out

    records = df.assign(count=1)[["identifier", "timestamp", "valueInW", "count"]]
    results = []
    while True:
        records = records.assign(group=parents(records)).dropna(subset=["group"])
        if not len(records):
            break
        records = records.assign(start=records["timestamp"] - records["timestamp"] % size_ms)
        last = records.sort_values("timestamp", kind="stable").groupby(
            ["group", "start", "identifier"]).last().reset_index()
        agg = last.groupby(["group", "start"]).agg(
            sumInW=("valueInW", "sum"), count=("count", "sum")).reset_index()
        results.append(agg)
        records = pd.DataFrame({"identifier": agg["group"], "timestamp": agg["start"] + size_ms,
                                "valueInW": agg["sumInW"], "count": agg["count"]})
    out = pd.concat(results)  # sensors sit at the lowest level: one level per round
    assert not out.duplicated(["group", "start"]).any()
    return out.rename(columns={"group": "identifier"}).astype({"count": np.int64})
