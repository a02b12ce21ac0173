"""One step of a handler in `App`'s run loop: poll a batch, run the handler on it (a batch
call, or one event at a time to find the failing ones), publish what it emitted, ack the
rest and nack the failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edalab.brokers.base import Batch, Consumer, Record
from edalab.errors import BatchFailure
from edalab.events import Event
from edalab.runtime.clock import Clock
from edalab.runtime.handler import Handler, as_events

__all__ = ["StepMixin"]


class StepMixin:
    """`App`'s handler step (used by `App.stream` and `App.serve`); the publishing of the
    outputs (`_emit`) comes from `OutputsMixin`."""

    clock: Clock
    latency_samples: int
    _emit: Callable[..., int | None]

    def _step(self, h: Handler, batch_size: int, virtual: bool, wait: float = 0.0) -> int:
        """Poll one batch for `h`, run it, publish what it emitted, ack; returns the count."""
        if h.guard is not None:  # resilience options: one event at a time (runtime.guard)
            return h.guard.step(batch_size, virtual, wait)
        consumer: Consumer = h.consumer  # type: ignore[assignment]  # the app has started
        batch: Batch = consumer.poll(batch_size, wait)
        events = batch.events
        if not events:
            return 0
        failed: list[tuple[int, BaseException]] = []
        t0 = time.perf_counter()
        out, results, unowned = self._handle(h, events, failed)
        done = time.perf_counter()
        stats = h.stats
        stats.busy_seconds += done - t0
        if out:
            sent = self._emit(h, out, results, failed, unowned)
            if sent is None:  # a batch call emitted what cannot be published: one at a time
                failed.clear()
                out, results = self._run_each(h, h.__call__, events, failed)
                sent = self._emit(h, out, results, failed) if out else 0
            stats.events_out += sent  # type: ignore[operator]  # None only with unowned
            failed.sort(key=_first)
        if failed:
            records = batch.records()
            bad = {i for i, _ in failed}
            consumer.ack([r for i, r in enumerate(records) if i not in bad])
            for i, exc in failed:
                record: Record = records[i]
                consumer.nack(record, error=exc)
                stats.errors += 1
                if record.attempt >= h.max_attempts:
                    stats.dead_letters += 1
        else:
            consumer.ack(batch)
        stats.events_in += len(events)
        sample = slice(None, None, max(1, len(events) // self.latency_samples))
        if virtual:  # how far the stream's clock had moved past each event's own time
            stats.sample(self.clock.now(), [e.time for e in events[sample]])
        else:  # broker append to handler done, in seconds
            stats.sample(done, batch.timestamps[sample])
        return len(events)

    def _handle(self, h: Handler, events: list[Event], failed: list[tuple[int, BaseException]]
                ) -> tuple[list[Event], list[Any], int]:
        """Run `h` on the batch: its output events, per input event what it emitted (None
        where it failed or emitted nothing), and how many leading outputs came from a batch
        call (so belong to no one input)."""
        fn = h.fn
        if h.batch:
            try:
                out = as_events(fn(events), h.name)
            except BatchFailure as exc:  # handled up to exc.done: the rest one at a time
                done = exc.done
                head = as_events(exc.results, h.name)
                rest: list[tuple[int, BaseException]] = []
                tail, results = self._run_each(h, h.__call__, events[done:], rest)
                failed += [(i + done, error) for i, error in rest]
                return head + tail, [None] * done + results, len(head)
            except Exception:  # find the failing events: one at a time
                fn = h.__call__
            else:
                return out, [], len(out)
        return (*self._run_each(h, fn, events, failed), 0)

    @staticmethod
    def _run_each(h: Handler, fn: Callable[[Any], Any], events: list[Event],
                  failed: list[tuple[int, BaseException]]) -> tuple[list[Event], list[Any]]:
        """`fn` on each event; failures are appended to `failed` as (index, error). Returns
        the output events and each input's result (an Event, a list of them, or None)."""
        results: list[Any] = []
        # map() runs the handler in a C loop; extend() keeps the results made before a
        # failure, so len(results) is the failing event's index.
        rest = events
        while rest:
            try:
                results.extend(map(fn, rest))
                break
            except Exception as exc:  # a failing handler must not stop the app
                i = len(results)
                failed.append((i, exc))
                results.append(None)
                rest = events[i + 1:]
        # Not results.count(None): that calls Event.__eq__ (Python) on every event.
        out = [r for r in results if r is not None]
        if out and not _all_events(out):
            out = []
            for i, r in enumerate(results):
                try:  # a generator runs here: if it raises, what it yielded goes with it
                    results[i] = events_i = as_events(r, h.name)
                except Exception as exc:  # a bad return value fails that event only
                    results[i] = None
                    failed.append((i, exc))
                else:
                    out += events_i
            failed.sort(key=_first)
        return out, results


def _first(item: tuple) -> Any:
    return item[0]


def _all_events(items: list) -> bool:
    return set(map(type, items)) == {Event}
