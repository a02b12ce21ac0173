"""The `Event` envelope: CloudEvents 1.0 attributes plus a partitioning key.

Everything that crosses a boundary in edalab is an `Event`. It is immutable, cheap to build
(a hot path: handlers emit one per input), and written as CloudEvents structured-mode JSON, so
any CloudEvents tool can read what edalab writes.

>>> from datetime import datetime, timezone
>>> e = Event(type="card.tx", source="/pos/7", key="c42", data={"amount": 12.5},
...           time=datetime(2024, 1, 1, tzinfo=timezone.utc), id="tx-1")
>>> e.key, e.data["amount"]
('c42', 12.5)
>>> Event.from_json(e.to_json()) == e
True
>>> e.replace(type="card.scored").type
'card.scored'
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from operator import attrgetter
from typing import Any

from edalab.errors import EdalabError
from edalab.jsonproof import proven_safe

__all__ = ["Event", "EventError", "auto_id", "check_serialisable"]

SPECVERSION = "1.0"
UTC = UTC
_CONTEXT = frozenset({"specversion", "id", "source", "type", "subject", "time",
                      "datacontenttype", "dataschema", "data", "data_base64"})
#: CloudEvents' Partitioning extension names the key attribute `partitionkey`.
KEY_ATTRIBUTE = "partitionkey"
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}\Z")
_ID_PREFIX = secrets.token_hex(6) + "-"
_next_id = itertools.count(1).__next__
_unsealed = object.__setattr__
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_quote = encode_basestring_ascii
#: What encoding data can raise: a wrong type, NaN or inf, an int past Python's digit limit,
#: nesting deeper than the interpreter's recursion limit.
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


# Strict JSON: NaN and Infinity, which Python's json accepts by default, are refused (another
# tool could not read them, and `to_json` could not write them back).
_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


class EventError(EdalabError, ValueError):
    """An event is malformed; the message names the offending field (and `index`, the
    event's position in a batch, when a batch check found it)."""

    def __init__(self, field: str, problem: str, index: int | None = None):
        super().__init__(f"event field {field!r}: {problem}")
        self.field = field
        self.index = index


def auto_id(id: str) -> bool:
    """Whether `id` is one this process gave an event made without one (unique, but not
    the same in another process or run).

    >>> auto_id(Event("t", "/s").id), auto_id(Event("t", "/s", id="tx-1").id)
    (True, False)
    """
    return id.startswith(_ID_PREFIX)


def check_serialisable(events: list[Event]) -> None:
    """Raise `EventError` for the first event whose data JSON cannot hold (NaN or inf, a
    numpy scalar, an int past Python's digit limit, nesting too deep, a non-JSON type),
    with its position in `events` as ``error.index``: what every broker checks before it
    appends anything of a batch, so both refuse the same events.

    It accepts exactly what `Event.to_json` writes. The common batch (every data a scalar, or
    every data a flat dict of scalars under str keys) is proved safe in a few C-level passes,
    without formatting a float; anything else is encoded, event by event.

    >>> ok = Event("t", "/s", {"x": 1.5})
    >>> try:
    ...     check_serialisable([ok, ok.replace(data={"x": float("nan")})])
    ... except EventError as error:
    ...     print(error.index, error.field)
    1 data
    """
    try:
        datas = list(map(_data_of, events))
    except AttributeError:  # not an Event: the broker's type check names it
        datas = [getattr(e, "data", None) for e in events]
    if proven_safe(datas):
        return
    for i, data in enumerate(datas):
        if data is None or isinstance(data, (bytes, bytearray)) or proven_safe([data]):
            continue
        try:
            _encode(data)
        except _ENCODE_ERRORS as exc:
            raise EventError("data", f"event {i} is not JSON-serialisable: {exc}",
                             index=i) from None


_data_of = attrgetter("data")


def _check_str(field: str, value: Any, required: bool = True) -> None:
    if value.__class__ is str and value:
        return
    if value is None and not required:
        return
    if value is None:
        raise EventError(field, "is required")
    if isinstance(value, str):
        if value:
            return
        raise EventError(field, "must be a non-empty string")
    raise EventError(field, f"must be a string, got {type(value).__name__}")


def _check_time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise EventError("time", f"must be a datetime, got {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise EventError("time", "must be timezone-aware (naive datetimes are ambiguous)")
    if offset or value.tzinfo is not UTC:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise EventError("time", f"{value.isoformat()} is out of range in UTC") from None
    if value.__class__ is not datetime:  # e.g. pandas.Timestamp: keep plain datetimes
        value = datetime(value.year, value.month, value.day, value.hour, value.minute,
                         value.second, value.microsecond, tzinfo=UTC)
    return value


def _check_extensions(extensions: Any) -> dict:
    if not isinstance(extensions, dict):
        raise EventError("extensions", f"must be a dict, got {type(extensions).__name__}")
    for name, value in extensions.items():
        if not isinstance(name, str) or not _EXTENSION_NAME.match(name):
            raise EventError(
                str(name), "extension names must be 1-20 lower-case letters or digits"
            )
        if name in _CONTEXT or name == KEY_ATTRIBUTE:
            raise EventError(name, "is a reserved CloudEvents attribute, not an extension")
        if not isinstance(value, (str, int, bool)) or isinstance(value, float):
            raise EventError(name, f"extension values must be str, int or bool, got "
                                   f"{type(value).__name__}")
    return extensions


class _EventSlots:
    __slots__ = ("id", "source", "type", "subject", "time", "datacontenttype", "data", "key",
                 "extensions")
    id: str
    source: str
    type: str
    subject: str | None
    time: datetime
    datacontenttype: str | None
    data: Any
    key: str | None
    extensions: dict[str, Any] | None


_new_slots = object.__new__


class Event(_EventSlots):
    """An immutable CloudEvents 1.0 event with a partitioning `key`.

    Parameters
    ----------
    type, source
        Required CloudEvents attributes (non-empty strings).
    data
        The payload: anything JSON can hold, or `bytes` (written as `data_base64`).
    key
        Partitioning key: events with one key go to one partition and keep their order.
        An `int` key is stored as its string (CloudEvents attributes are strings).
    time
        Event time, timezone-aware (converted to UTC). Defaults to now.
    id
        Unique per source; generated (process prefix + counter) when absent.
    subject, datacontenttype
        CloudEvents attributes; `datacontenttype` defaults to ``application/json``.
    extensions
        Extra CloudEvents attributes: names of 1-20 lower-case letters or digits, values
        `str`, `int` or `bool`.
    """

    __slots__ = ()
    specversion = SPECVERSION

    def __init__(
        self,
        type: str,
        source: str,
        data: Any = None,
        *,
        key: str | int | None = None,
        time: datetime | None = None,
        id: str | None = None,
        subject: str | None = None,
        datacontenttype: str | None = "application/json",
        extensions: dict[str, Any] | None = None,
    ) -> None:
        if type.__class__ is not str or not type:
            _check_str("type", type)
        if source.__class__ is not str or not source:
            _check_str("source", source)
        if id is None:
            id = _ID_PREFIX + str(_next_id())
        elif id.__class__ is not str or not id:
            _check_str("id", id)
        if subject is not None:
            _check_str("subject", subject)
        if datacontenttype is not None:
            _check_str("datacontenttype", datacontenttype)
        if key is not None and key.__class__ is not str:
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            else:
                _check_str("key", key)
        if time is None:
            time = datetime.now(UTC)
        elif time.__class__ is not datetime or time.tzinfo is not UTC:
            time = _check_time(time)
        extensions = _check_extensions(extensions) if extensions else None
        # Unsealed for the assignments below (cheaper than object.__setattr__ per field).
        _unsealed(self, "__class__", _EventSlots)
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time
        self.datacontenttype = datacontenttype
        self.data = data
        self.key = key  # type: ignore[assignment]  # _check_str raised for any non-str key
        self.extensions = extensions
        self.__class__ = Event  # sealed again: Event.__setattr__ refuses changes

    @staticmethod
    def _unchecked(type: str, source: str, data: Any, key: str | None, time: datetime,
                   id: str, subject: str | None = None,  # noqa: A002
                   datacontenttype: str | None = "application/json",
                   extensions: dict[str, Any] | None = None) -> Event:
        """An event from attributes known to be valid (str type, source and id; a UTC
        datetime; a str or None key; what `__init__` would accept for the rest), without
        `__init__`'s checks (about 1.5 µs): for edalab's per-event hot paths, which build
        events from values they made or stored."""
        event = _new_slots(_EventSlots)
        event.id = id
        event.source = source
        event.type = type
        event.subject = subject
        event.time = time
        event.datacontenttype = datacontenttype
        event.data = data
        event.key = key
        event.extensions = extensions
        event.__class__ = Event
        return event  # type: ignore[return-value]  # its class is Event from the line above

    @staticmethod
    def _derived(type: str, source: str, datas: list, events: list[Event]) -> list[Event]:
        """`_unchecked` for a batch, one loop and no call per event: for each of `events`
        (valid), an event of `type` and `source` keeping its key, time and id, with its data
        from `datas` and `_unchecked`'s defaults for the rest."""
        out: list[Event] = []
        append, new, slots = out.append, _new_slots, _EventSlots
        for data, e in zip(datas, events, strict=True):
            event = new(slots)
            event.id, event.time, event.key = e.id, e.time, e.key
            event.source, event.type, event.data = source, type, data
            event.subject = event.extensions = None
            event.datacontenttype = "application/json"
            event.__class__ = Event
            append(event)  # type: ignore[arg-type]  # its class is Event from the line above
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Event is immutable; use event.replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Event is immutable; cannot delete {name!r}")

    def replace(self, **changes: Any) -> Event:
        """A copy with some attributes changed (a new `id` unless one is given)."""
        fields = {
            "type": self.type, "source": self.source, "data": self.data, "key": self.key,
            "time": self.time, "subject": self.subject,
            "datacontenttype": self.datacontenttype, "extensions": self.extensions,
        }
        fields.update(changes)
        return Event(**fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _EventSlots.__slots__)

    def __hash__(self) -> int:
        return hash((self.source, self.id))

    def __repr__(self) -> str:
        parts = [f"type={self.type!r}", f"source={self.source!r}", f"id={self.id!r}"]
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        parts.append(f"time={_format_time(self.time)!r}")
        if self.data is not None:
            text = repr(self.data)
            parts.append("data=" + (text if len(text) <= 80 else text[:77] + "..."))
        return f"Event({', '.join(parts)})"

    def __reduce__(self):
        return (_rebuild, (self.to_dict(),))

    # -- CloudEvents structured mode -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents structured-mode attributes as a JSON-ready dict."""
        out: dict[str, Any] = {
            "specversion": SPECVERSION, "id": self.id, "source": self.source, "type": self.type,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        out["time"] = _format_time(self.time)
        if self.datacontenttype is not None:
            out["datacontenttype"] = self.datacontenttype
        if self.key is not None:
            out[KEY_ATTRIBUTE] = self.key
        if self.extensions:
            out.update(self.extensions)
        if isinstance(self.data, (bytes, bytearray)):
            out["data_base64"] = base64.b64encode(self.data).decode("ascii")
        elif self.data is not None:
            out["data"] = self.data
        return out

    def to_json(self) -> str:
        """CloudEvents structured-mode JSON (``application/cloudevents+json``)."""
        # The common shape (a key, JSON data, no subject or extensions, UTC time) is written
        # by concatenation, about twice as fast as encoding `to_dict`, and byte for byte the
        # same (a property test pins it).
        if self.key is not None and self.subject is None and not self.extensions \
                and self.datacontenttype == "application/json" and self.data is not None \
                and self.data.__class__ not in (bytes, bytearray):
            time = self.time.isoformat()
            if time.endswith("+00:00"):
                try:
                    data = _encode(self.data)
                except _ENCODE_ERRORS as exc:
                    raise EventError("data", f"is not JSON-serialisable: {exc}") from None
                return ('{"specversion":"1.0","id":' + _quote(self.id) + ',"source":'
                        + _quote(self.source) + ',"type":' + _quote(self.type) + ',"time":"'
                        + time[:-6] + 'Z","datacontenttype":"application/json",'
                        '"partitionkey":' + _quote(self.key) + ',"data":' + data + "}")
        return self._envelope_json()

    def _envelope_json(self) -> str:
        """`to_json` through `to_dict`: every shape of event."""
        try:
            return _encode(self.to_dict())
        except _ENCODE_ERRORS as exc:
            raise EventError("data", f"is not JSON-serialisable: {exc}") from None

    @classmethod
    def from_dict(cls, attributes: dict[str, Any]) -> Event:
        """Build an event from CloudEvents structured-mode attributes."""
        if not isinstance(attributes, dict):
            raise EventError("event", f"must be a JSON object, got {type(attributes).__name__}")
        return cls._from_own(dict(attributes))

    @classmethod
    def _from_own(cls, attrs: dict[str, Any]) -> Event:
        """`from_dict` on a dict this call may consume (no defensive copy)."""
        version = attrs.pop("specversion", None)
        if version != SPECVERSION:
            raise EventError("specversion", f"must be {SPECVERSION!r}, got {version!r}")
        for name in ("type", "source", "id"):
            if attrs.get(name) is None:  # a null id would get a new one at every parse
                raise EventError(name, "is required")
        time = attrs.pop("time", None)
        if time is not None:
            if not isinstance(time, str):
                raise EventError("time", f"must be an RFC 3339 string, got {type(time).__name__}")
            try:
                time = datetime.fromisoformat(time)
            except ValueError:
                raise EventError("time", f"is not an RFC 3339 timestamp: {time!r}") from None
        if "data" in attrs and "data_base64" in attrs:
            raise EventError("data", "data and data_base64 are mutually exclusive")
        data = attrs.pop("data", None)
        if "data_base64" in attrs:
            try:
                data = base64.b64decode(attrs.pop("data_base64"), validate=True)
            except (ValueError, TypeError):
                raise EventError("data_base64", "is not valid base64") from None
        attrs.pop("dataschema", None)
        return cls(
            type=attrs.pop("type"), source=attrs.pop("source"), id=attrs.pop("id"), data=data,
            key=attrs.pop(KEY_ATTRIBUTE, None), time=time, subject=attrs.pop("subject", None),
            datacontenttype=attrs.pop("datacontenttype", None), extensions=attrs or None,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Parse CloudEvents structured-mode JSON (the inverse of `to_json`).

        Every bad document raises `EventError`, whatever the fault: not UTF-8, not JSON (NaN
        and Infinity included), nested too deep, a null or missing required attribute, a time
        out of range.

        >>> Event.from_json('{"specversion": "1.0", "id": null, "source": "/s", "type": "t"}')
        Traceback (most recent call last):
        ...
        edalab.events.EventError: event field 'id': is required
        """
        try:
            if isinstance(text, (bytes, bytearray, memoryview)):
                text = bytes(text).decode("utf-8")
            attributes = _decode(text)
        except (TypeError, ValueError, RecursionError) as exc:  # UnicodeDecodeError included
            raise EventError("event", f"is not valid JSON: {type(exc).__name__}: "
                                      f"{str(exc)[:200]}") from None
        if not isinstance(attributes, dict):
            raise EventError("event", f"must be a JSON object, got {type(attributes).__name__}")
        return cls._from_own(attributes)


def _format_time(time: datetime) -> str:
    text = time.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _rebuild(attributes: dict[str, Any]) -> Event:
    return Event.from_dict(attributes)
