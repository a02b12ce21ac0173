"""What handlers emit, routed and published by `App`: all of a batch's outputs or, when one
cannot be routed or written, all but those of the input that emitted it (`OutputError`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edalab.brokers.base import Broker
from edalab.errors import EdalabError
from edalab.events import Event, EventError, check_serialisable
from edalab.runtime.handler import Handler, HandlerError

__all__ = ["OutputsMixin"]


class OutputsMixin:
    """`App`'s output routing and publishing; `topic` (create a topic) comes from `App`."""

    broker: Broker
    _output_topics: set[str]
    topic: Callable[..., str]

    def _emit(self, h: Handler, out: list[Event], results: list[Any], failed: list[tuple[int,
              BaseException]], unowned: int = 0) -> int | None:
        """Publish `out`, all of it or none: an output that cannot be routed or written
        fails the input event that emitted it (`results[i]` holds its outputs), with all its
        outputs, and the rest is published. Returns how many were published; None, having
        published nothing, when the failing output is one of the first `unowned` (a batch
        call's: no one input emitted it)."""
        while True:
            try:
                self._publish_out(h, out)
                return len(out)
            except OutputError as exc:
                if exc.index < unowned:
                    return None
                i = _owners(results)[exc.index - unowned]
                failed.append((i, exc.error))
                results[i] = None
                out = out[:unowned] + [e for r in results if r is not None
                                       for e in ((r,) if r.__class__ is Event else r)]
                if not out:
                    return 0

    def _publish_out(self, h: Handler, out: list[Event]) -> None:
        """Route and publish `out`; raises `OutputError` for the first output that cannot be
        routed or written, before anything is published."""
        if h.output is None:
            raise HandlerError(f"handler {h.name!r} returned events but has no output topic; "
                               f"register it with @app.handler(..., output='topic')")
        routed = {h.output: out} if isinstance(h.output, str) else self._route(h, out)
        try:
            if len(routed) > 1:  # several publishes: check them all before the first
                check_serialisable(out)
            for topic, events in routed.items():
                self.broker.publish_many(topic, events)
        except EventError as exc:
            if exc.index is None:
                raise
            # The one check these events get: the broker's (or, for several topics, ours),
            # on all of `out` in order either way, so the index is the output's.
            raise OutputError(exc.index, HandlerError(
                f"handler {h.name!r} emitted an event that cannot be published: "
                f"{write_error(out[exc.index], exc)}")) from None

    def _route(self, h: Handler, out: list[Event]) -> dict[str, list[Event]]:
        """Each output's topic by `h.output`, one batch per topic (in order within each);
        `OutputError` for the first the function fails on or sends to an unusable topic."""
        route: Callable[[Event], str] = h.output  # type: ignore[assignment]  # not a str here
        try:
            topics = list(map(route, out))
        except Exception:
            topics = []
            for k, event in enumerate(out):
                try:
                    topics.append(route(event))
                except Exception as exc:
                    raise OutputError(k, HandlerError(
                        f"handler {h.name!r}: its output function failed on an emitted "
                        f"{event.type!r} event: {type(exc).__name__}: {exc}")) from None
        routed: dict[str, list[Event]] = {}
        for k, (topic, event) in enumerate(zip(topics, out, strict=True)):
            events = routed.get(topic)
            if events is None:
                self._check_output_topic(h, topic, k, event)
                events = routed[topic] = []
            events.append(event)
        return routed

    def _check_output_topic(self, h: Handler, topic: Any, k: int, event: Event) -> None:
        if topic in self._output_topics:
            return
        problem = None
        if not isinstance(topic, str) or not topic:
            problem = "it must return a topic name (a non-empty str)"
        else:
            try:
                self.topic(topic)
            except Exception as exc:
                problem = f"that topic cannot be used: {type(exc).__name__}: {exc}"
        if problem is not None:
            raise OutputError(k, HandlerError(
                f"handler {h.name!r}: its output function returned {topic!r} for an emitted "
                f"{event.type!r} event; {problem}"))
        self._output_topics.add(topic)


class OutputError(EdalabError):
    """Output `index` of a batch cannot be routed or written; `error` says why."""

    def __init__(self, index: int, error: BaseException):
        super().__init__(index, error)
        self.index = index
        self.error = error


def _owners(results: list[Any]) -> list[int]:
    """For each output event, the index of the input whose result holds it."""
    owners: list[int] = []
    for i, r in enumerate(results):
        if r is not None:
            owners += [i] * (1 if r.__class__ is Event else len(r))
    return owners


def write_error(event: Event, error: EventError) -> EventError:
    """Why `event` cannot be written, as `to_json` says it of that event alone (a batch check
    names its position in the batch)."""
    try:
        event.to_json()
    except EventError as exc:
        return exc
    return error
