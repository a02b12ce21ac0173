"""`events_frame`: events as a pandas DataFrame, one row per event (the one place edalab
builds a frame from events)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from edalab.events import Event

__all__ = ["events_frame"]


def events_frame(events: Iterable[Event], fields: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per event: ``time`` (UTC), ``type``, ``id``, ``key`` and fields of its data.

    Parameters
    ----------
    events
        The events, in the row order wanted.
    fields
        The data fields to make columns of (NaN where an event's data lacks one); by default
        every field of any event's data, in order of first appearance. Data that is not a
        mapping adds no field. A field named like an envelope column replaces it.

    Examples
    --------
    >>> from edalab import Event
    >>> e = Event("fraud.decision", "/fraud", {"tx_id": 7, "decision": "block"}, key="3",
    ...           id="decision-7")
    >>> events_frame([e])[["type", "id", "key", "tx_id", "decision"]]
                 type          id key  tx_id decision
    0  fraud.decision  decision-7   3      7    block
    >>> list(events_frame([e], ["decision"]).columns)
    ['time', 'type', 'id', 'key', 'decision']
    """
    events = list(events)
    datas = [e.data if isinstance(e.data, Mapping) else {} for e in events]
    if fields is None:
        fields = list(dict.fromkeys(name for data in datas for name in data))
    nan = float("nan")
    columns: dict[str, object] = {
        "time": pd.DatetimeIndex([e.time for e in events], tz="UTC"),
        "type": [e.type for e in events], "id": [e.id for e in events],
        "key": [e.key for e in events]}
    for name in fields:
        columns[name] = [data.get(name, nan) for data in datas]
    return pd.DataFrame(columns)
