"""Events as SQLite rows: each CloudEvents attribute in its own column, only `data` as JSON.

A row is ``(stream_id, version, recorded_at, id, type, source, subject, time, key,
datacontenttype, extensions, data)`` (`EVENT_COLUMNS`); SQLite assigns the ``position``.
``time`` is integer microseconds since the Unix epoch (UTC), exact for every `datetime`;
``extensions`` is a JSON object, or NULL when the event has none; ``data`` is JSON text, a BLOB
for `bytes` data, or NULL for no data. Turning events into rows is most of the cost of a
batched append, so the rows are built in one comprehension with a cached C JSON encoder, and
reading builds each `Event` directly from its trusted columns (no re-validation).

>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> e = Event("card.tx", "/pos", {"amount": 12.5}, key="c1", id="tx-1",
...           time=datetime(2024, 1, 1, tzinfo=timezone.utc))
>>> row = event_rows("c1", 1, 0.0, [e])[0]
>>> dict(zip(EVENT_COLUMNS, row))["time"], row[-1]   # the data column is JSON text
(1704067200000000, '{"amount":12.5}')
>>> stored = stored_events([(row[0], row[1], 7, *row[2:])])[0]
>>> (stored.position, stored.event == e)
(7, True)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from json.encoder import (  # type: ignore[attr-defined]  # the C encoder has no stub
    c_make_encoder,
    encode_basestring_ascii,
)
from json.scanner import make_scanner
from typing import NoReturn

from edalab.events import Event, EventError
from edalab.patterns.eventstore.base import StoredEvent

__all__ = ["EVENT_COLUMNS", "check_data", "event_rows", "raise_unstorable", "stored_events"]

EVENT_COLUMNS = ("stream_id", "version", "recorded_at", "id", "type", "source", "subject",
                 "time", "key", "datacontenttype", "extensions", "data")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_unchecked = Event._unchecked
_MICROSECOND = timedelta(microseconds=1)
_fromtimestamp = datetime.fromtimestamp
_tuple = tuple.__new__
_join = "".join
_std = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# The C encoder json.dumps builds on every call, built once. No circular-reference markers: a
# cyclic value ends in RecursionError, which `raise_unstorable` turns into the EventError.
_chunks: Callable[..., Iterable[str]]
_chunks = c_make_encoder(None, _std.default, encode_basestring_ascii, None, ":", ",",
                         False, False, False) if c_make_encoder is not None else _std.iterencode
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # the stub misnames it
_TEXT_FIELDS = ("id", "type", "source", "subject", "key", "datacontenttype")


def _json(value: object) -> str:
    return _join(_chunks(value, 0))


def _data(data: object) -> str | bytes | None:
    """The `data` column for anything but a plain dict (the common case, inlined)."""
    if data is None or data.__class__ is bytes:
        return data
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return _json(data)


def raise_unstorable(events: Iterable[Event], error: Exception) -> NoReturn:
    """Raise the `EventError` that names the event field behind `error` (data that JSON
    cannot hold, text SQLite cannot store), or `error` itself."""
    for e in events:
        e.to_json()
        for name in _TEXT_FIELDS:
            value = getattr(e, name)
            if value is not None and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise EventError(name, f"{value!r} is not valid Unicode text (a lone "
                                           "surrogate); it cannot be stored") from None
    raise error


def event_rows(stream_id: str, first_version: int, recorded_at: float,
               events: list[Event]) -> list[tuple]:
    """The rows of `events` appended to `stream_id` from version `first_version` on.

    Raises `EventError` naming the field when an event's data cannot be stored as JSON.
    """
    try:
        return [(stream_id, v, recorded_at, e.id, e.type, e.source, e.subject,
                 (e.time - _EPOCH) // _MICROSECOND, e.key, e.datacontenttype,
                 (x := e.extensions) and _join(_chunks(x, 0)),
                 _join(_chunks(d, 0)) if (d := e.data).__class__ is dict else _data(d))
                for v, e in enumerate(events, first_version)]
    except (TypeError, ValueError, RecursionError) as exc:
        raise_unstorable(events, exc)


def check_data(events: list[Event]) -> None:
    """Raise `EventError` if an event's data cannot be stored (the memory store's check, so
    that both backends accept the same events)."""
    try:
        for e in events:
            d = e.data
            if d.__class__ is dict:
                _json(d)
            else:
                _data(d)
    except (TypeError, ValueError, RecursionError) as exc:
        raise_unstorable(events, exc)


def stored_events(rows: Iterable[tuple]) -> list[StoredEvent]:
    """`StoredEvent`s from rows ``(stream_id, version, position, recorded_at, id, ...)``.

    The rows come from our own store, so each `Event` is built from its columns directly,
    without the constructor's checks (`Event._unchecked`).
    """
    out: list[StoredEvent] = []
    append = out.append
    last_ts = last_at = None
    for (stream_id, version, position, ts, id_, type_, source, subject, micros, key,
         contenttype, extensions, data) in rows:
        if ts != last_ts:  # a batch shares one timestamp: convert it once
            last_ts, last_at = ts, _fromtimestamp(ts, UTC)
        e = _unchecked(type_, source, _scan(data, 0)[0] if data.__class__ is str else data, key,
                       _EPOCH + _MICROSECOND * micros, id_, subject, contenttype,
                       _scan(extensions, 0)[0] if extensions else None)
        append(_tuple(StoredEvent, (stream_id, version, position, e, last_at)))
    return out
