"""`Guard`: the step of a handler registered with resilience options (``retry=``,
``breaker=``, ``idempotent=``), which `App` runs instead of its plain step.

A guarded handler runs one event at a time, in order:

- a duplicate (its key already handled, by an idempotency store) is acked and skipped;
- the call goes through the breaker (if any) and is timed against ``Retry.timeout``;
- a failure is given to the `Retry` policy: dead-lettered now (a `PermanentError`, a
  `give_up_on` type, the last attempt), or tried again after its backoff: in ``"blocking"``
  mode nacked, with its partition paused until it is due, so nothing behind it overtakes it;
  in ``"topics"`` mode published to ``<topic>.retry.<n>`` and acked, while the partition
  flows on;
- a call refused by an open breaker (`BreakerOpen`) is no attempt: the event goes back to
  the broker, and all the handler's partitions pause until the breaker lets a probe through.

Due times are read on the app's clock: virtual time (reproducible) or wall time. On a
networked broker under wall time a blocking retry leaves the event unsettled and, when it is
due, reads its partition again from it (a seek): JetStream's per-message NAK delays would let
an event behind it, redelivered sooner, overtake it. A handler call longer than
``Retry.timeout`` (wall seconds, on either clock) counts as a failed attempt: the call runs
in a worker thread and is given up on at its deadline (`edalab.runtime.deadline`: abandoned,
not killed, so a hung dependency fails the attempt instead of stopping the pipeline).

>>> from datetime import datetime, timedelta, timezone
>>> from edalab import App, Event
>>> from edalab.resilience import Backoff, PermanentError, Retry, TransientError
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> app, tries = App(), []
>>> @app.handler("payments", idempotent=True,
...              retry=Retry(max_attempts=3, backoff=Backoff.fixed(5.0), mode="topics"))
... def score(event):
...     tries.append(event.id)
...     if event.id == "p1" and tries.count("p1") == 1:
...         raise TransientError("model server busy")  # works on its second attempt
...     if event.id == "p2":
...         raise PermanentError("amount is not a number")
>>> app.source("payments", [Event("payment", "/doc", i, id=f"p{i}", time=t0 + timedelta(
...     seconds=i)) for i in [0, 1, 2, 3, 0]])
>>> stats = app.run()
>>> tries  # p1 ran again 5 s later, from payments.retry.1; the second p0 was a duplicate
['p0', 'p1', 'p2', 'p3', 'p1']
>>> stats.to_frame().loc["score", ["retries", "duplicates", "dead_letters"]].tolist()
[1, 1, 1]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from edalab.brokers.base import Batch, Consumer, Record, dead_letter_topic
from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.resilience import (
    Backoff,
    BreakerOpen,
    CircuitBreaker,
    MemoryIdempotencyStore,
    Retry,
)
from edalab.runtime.deadline import Deadline
from edalab.runtime.handler import Handler, as_events
from edalab.runtime.retrying import due_of, since_of, to_dead_letter, to_tier

if TYPE_CHECKING:
    from edalab.runtime.app import App

__all__ = ["AppSeconds", "BREAKER_TOPIC", "BROKER_ATTEMPTS", "Guard", "guard_options"]

#: The topic an App publishes its breakers' state changes on.
BREAKER_TOPIC = "breaker"
#: Deliveries the broker allows a guarded handler's records: the guard dead-letters by its
#: own count (an event held back behind a failing one, or by an open breaker, is delivered
#: again without an attempt); the broker's limit only catches events that crash workers.
BROKER_ATTEMPTS = 1000


class AppSeconds:
    """An app's clock in seconds (what a breaker on the default clock reads in an App)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self) -> float:
        return self.app.clock.now().timestamp()


class Guard:
    """The resilience options of one handler and the state they keep during a run."""

    def __init__(self, handler: Handler, retry: Retry, breaker: CircuitBreaker | None,
                 store: Any, key: Callable[[Event], str] | None) -> None:
        self.h = handler
        self.retry = retry
        self.breaker = breaker
        self.store = store
        self.key = key
        self.tiers: list[Consumer] = []
        self._holds: dict[tuple[int, int], datetime] = {}  # (consumer, partition) -> due
        self._paused: list[set[int]] = []  # per consumer: the partitions it has paused
        self._attempts: dict[tuple[int, int], tuple[int, datetime]] = {}  # blocking mode
        self._rewinds: dict[int, int] = {}  # partition -> offset to read again from, when due
        self._tripped_at: datetime | None = None  # when the breaker paused the handler
        self._app: App | None = None
        self.deadline = None if retry.timeout is None else Deadline(retry.timeout, handler.name)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, app: App) -> None:
        """Join the retry tiers' groups (``"topics"`` mode) and take the app's clock."""
        self._app = app
        h = self.h
        self.tiers = []
        if self.retry.mode == "topics":
            for name in self.retry.retry_topics(h.topic):
                self.tiers.append(app.broker.subscribe(app.topic(name), h.group,
                                                       max_attempts=BROKER_ATTEMPTS))
        self._holds, self._attempts, self._rewinds, self._tripped_at = {}, {}, {}, None
        self._paused = [set() for _ in range(1 + len(self.tiers))]
        if self.breaker is not None:
            app.topic(BREAKER_TOPIC)
            clock = self.breaker.clock
            if clock is time.time or isinstance(clock, AppSeconds):  # follow this app's
                self.breaker.clock = AppSeconds(app)

    def close(self) -> None:
        for consumer in self.tiers:
            if not consumer.closed:
                consumer.close()
        if self.deadline is not None:
            self.deadline.close()

    def lag(self) -> int:
        """Events waiting in the retry tiers."""
        return sum(sum(c.lag().values()) for c in self.tiers)

    def next_due(self) -> datetime | None:
        """The next moment a held event may run (None: nothing is held)."""
        dues = list(self._holds.values())
        if self._tripped_at is not None:
            dues.append(self._now() + timedelta(seconds=self.breaker.retry_after()))  # type: ignore[union-attr]
        return min(dues, default=None)

    # -- the step -------------------------------------------------------------------------

    def step(self, batch_size: int, virtual: bool, wait: float = 0.0) -> int:
        """Release what is due, then run a batch of the topic and of each retry tier; the
        events run (held ones not counted)."""
        self._release()
        consumers = [self.h.consumer, *self.tiers]
        done = 0
        for i, consumer in enumerate(consumers):
            batch = consumer.poll(batch_size, wait if i == 0 else 0.0)  # type: ignore[union-attr]
            if batch.events:
                done += self._run(i, consumer, batch, virtual)  # type: ignore[arg-type]
        self._sync_pauses()
        if self.breaker is not None:
            events = self.breaker.events()
            if events:
                self._app.broker.publish_many(BREAKER_TOPIC, events)  # type: ignore[union-attr]
        return done

    def _run(self, tier: int, consumer: Consumer, batch: Batch, virtual: bool) -> int:
        app, h, stats = self._app, self.h, self.h.stats
        now = self._now()
        blocked: dict[int, datetime] = {}  # partition -> until when the rest of it waits
        ok: list[Record] = []
        results: list[list[Event]] = []
        skipped: list[Record] = []
        held: list[tuple[Record, datetime]] = []
        failed: list[tuple[Record, BaseException]] = []
        keys: set[str] = set()
        t0 = time.perf_counter()
        for record in batch.records():
            p = record.partition
            if self._tripped_at is not None:
                held.append((record, self.next_due()))  # type: ignore[arg-type]
                continue
            if p in blocked:
                held.append((record, blocked[p]))
                continue
            if tier and due_of(record.event) > now:
                blocked[p] = due_of(record.event)
                held.append((record, blocked[p]))
                continue
            if self.store is not None:
                key = self.key(record.event) if self.key else record.event.id
                if key in keys or self.store.seen(key):
                    skipped.append(record)
                    continue
                keys.add(key)
            try:
                result = self._call(record.event)
            except BreakerOpen:
                self._tripped_at = now
                held.append((record, self.next_due()))  # type: ignore[arg-type]
                continue
            except Exception as exc:  # a failing handler must not stop the app
                failed.append((record, exc))
                due = self._fail(tier, consumer, record, exc, now)
                if self.breaker is not None and self.breaker.state == "open":
                    self._tripped_at = now  # this failure opened it: hold the rest now
                if due is not None and not tier and self.retry.mode == "blocking":
                    blocked[p] = due
                continue
            ok.append(record)
            results.append(result)
        done = time.perf_counter()
        stats.busy_seconds += done - t0
        ran = len(ok) + len(failed)
        out = [e for r in results for e in r]
        if out:
            errors: list[tuple[int, BaseException]] = []
            # Each output has its input (no batch call): _emit never answers None here.
            stats.events_out += app._emit(h, out, list(results), errors) or 0  # type: ignore[union-attr]
            for i, error in sorted(errors, key=lambda item: item[0], reverse=True):
                self._fail(tier, consumer, ok.pop(i), error, now)
        if self._attempts and not tier:  # retried in place, and done now
            for record in ok:
                self._attempts.pop((record.partition, record.offset), None)
        if self.store is not None:
            for record in ok:
                self.store.mark(self.key(record.event) if self.key else record.event.id)
        consumer.ack(ok + skipped)
        self._hold(tier, consumer, held, now)
        stats.duplicates += len(skipped)
        stats.events_in += ran + len(skipped)
        if ok:
            sample = ok[:: max(1, len(ok) // app.latency_samples)]  # type: ignore[union-attr]
            if virtual:
                stats.sample(now, [r.event.time for r in sample])
            else:
                stats.sample(done, [r.timestamp for r in sample])
        return ran + len(skipped)

    def _call(self, event: Event) -> list[Event]:
        """The handler on `event` (through the breaker, within its deadline), its outputs
        as a list."""
        call = self.h.__call__
        if self.deadline is not None:
            call = self._within_deadline(call, self.deadline)
        if self.breaker is not None:
            return as_events(self.breaker.call(call, event), self.h.name)
        return as_events(call(event), self.h.name)

    def _within_deadline(self, call: Callable[[Event], Any], deadline: Deadline
                         ) -> Callable[[Event], Any]:
        name = self.h.name

        def outputs(event: Event) -> list[Event]:  # a generator runs inside the deadline
            return as_events(call(event), name)
        return lambda event: deadline.call(outputs, event)

    # -- failures -------------------------------------------------------------------------

    def _fail(self, tier: int, consumer: Consumer, record: Record, exc: BaseException,
              now: datetime) -> datetime | None:
        """Settle a failed attempt: another one later (returns when it is due), or the
        dead-letter topic (returns None)."""
        h, stats, retry = self.h, self.h.stats, self.retry
        stats.errors += 1
        position = (record.partition, record.offset)
        if tier:
            attempt, since = tier + 1, since_of(record.event)
        else:
            attempt, since = self._attempts.get(position, (0, now))
            attempt += 1
        delay = retry.decide(exc, attempt)
        if delay is None:
            self._attempts.pop(position, None)
            dead = to_dead_letter(record.event, h.topic, h.group, exc, attempts=attempt,
                                  since=since, now=now, partition=record.partition,
                                  offset=record.offset)
            app = self._app
            app.broker.publish(app.topic(dead_letter_topic(h.topic)), dead)  # type: ignore[union-attr]
            consumer.ack([record])
            stats.dead_letters += 1
            return None
        stats.retries += 1
        due = now + timedelta(seconds=delay)
        if retry.mode == "topics":
            ext = record.event.extensions or {}
            waiting = to_tier(record.event, due=due, since=since,
                              partition=ext.get("retrypartition", record.partition),
                              offset=ext.get("retryoffset", record.offset))
            self._app.broker.publish(retry.retry_topic(h.topic, attempt), waiting)  # type: ignore[union-attr]
            consumer.ack([record])
            return due
        self._attempts[position] = (attempt, since)
        wire = self._wire_delay(delay)
        if not tier and wire:  # read again from it when due: in order
            p = record.partition
            self._rewinds[p] = min(record.offset, self._rewinds.get(p, record.offset))
        else:
            consumer.nack(record, error=exc, delay=wire)
        self._holds[(tier, record.partition)] = due
        return due

    def _hold(self, tier: int, consumer: Consumer, held: list[tuple[Record, datetime]],
              now: datetime) -> None:
        """Give held records back to the broker (no attempt spent) and pause their
        partitions until they are due."""
        for record, due in held:
            if not tier and record.offset > self._rewinds.get(record.partition, record.offset):
                continue  # behind an event its partition is read again from: it comes again
            consumer.nack(record, delay=self._wire_delay((due - now).total_seconds()))
            if self._tripped_at is None:
                key = (tier, record.partition)
                self._holds[key] = max(due, self._holds.get(key, due))

    def _wire_delay(self, seconds: float) -> float:
        """The delay to ask of the broker: only a networked one under wall time holds
        events itself; otherwise the paused partition holds them, by the app's clock."""
        app = self._app
        if app.clock.name != "wall" or isinstance(app.broker, MemoryBroker):  # type: ignore[union-attr]
            return 0.0
        return max(0.0, seconds)

    # -- pauses ---------------------------------------------------------------------------

    def _release(self) -> None:
        """Resume what is due: held partitions, and all of them when the breaker lets a probe
        through (the time it was open is counted)."""
        now = self._now()
        self._holds = {k: due for k, due in self._holds.items() if due > now}
        if self._rewinds:
            self._rewind({p: o for p, o in self._rewinds.items() if (0, p) not in self._holds})
        if self._tripped_at is not None and self.breaker.state != "open":  # type: ignore[union-attr]
            self.h.stats.breaker_open_s += (now - self._tripped_at).total_seconds()
            self._tripped_at = None
        self._sync_pauses()

    def _rewind(self, due: dict[int, int]) -> None:
        """Read each partition of `due` again from its offset (those this member still owns:
        a partition that moved on was handed back, unsettled events first)."""
        consumer = self.h.consumer
        owned = set(consumer.assignment(refresh=False)) if due else set()  # type: ignore[union-attr]
        for p, offset in due.items():
            if p in owned:
                try:
                    consumer.seek(offset, p)  # type: ignore[union-attr]
                except Exception:  # a broker failing over must not stop the app: soon again,
                    self._holds[(0, p)] = self._now() + timedelta(seconds=1)  # still paused
                    continue
            del self._rewinds[p]

    def _sync_pauses(self) -> None:
        consumers = [self.h.consumer, *self.tiers]
        for i, consumer in enumerate(consumers):
            if self._tripped_at is not None:
                want = set(consumer.assignment())  # type: ignore[union-attr]
            else:
                want = {p for (c, p) in self._holds if c == i}
            have = self._paused[i]
            if want - have:
                consumer.pause(want - have)  # type: ignore[union-attr]
            if have - want:
                consumer.resume(have - want)  # type: ignore[union-attr]
            self._paused[i] = want

    def _now(self) -> datetime:
        return self._app.clock.now()  # type: ignore[union-attr]


def guard_options(*, retry: Retry | None, breaker: CircuitBreaker | None, idempotent: Any,
                  idempotency_key: Callable[[Event], str] | None, max_attempts: int | None
                  ) -> tuple | None:
    """The arguments of a handler's `Guard` after the handler (retry, breaker, store, key),
    or None when no option is set (the plain step runs: no per-event work is added). Bad
    options are a clear error."""
    if retry is not None and not isinstance(retry, Retry):
        raise TypeError(f"retry must be an edalab.resilience.Retry, got "
                        f"{type(retry).__name__} {retry!r}")
    if retry is not None and max_attempts is not None:
        raise ValueError("give max_attempts or retry=Retry(max_attempts=...), not both")
    if breaker is not None and not isinstance(breaker, CircuitBreaker):
        raise TypeError(f"breaker must be an edalab.resilience.CircuitBreaker, got "
                        f"{type(breaker).__name__} {breaker!r}")
    store = _store(idempotent)
    if idempotency_key is not None and not callable(idempotency_key):
        raise TypeError(f"idempotency_key must be a function of the event, got "
                        f"{idempotency_key!r}")
    if idempotency_key is not None and store is None:
        raise ValueError("idempotency_key needs idempotent=True (or an idempotency store)")
    if retry is None and breaker is None and store is None:
        return None
    if retry is None:  # max_attempts as it always was: immediate redelivery
        retry = Retry(max_attempts=max_attempts or 3, backoff=Backoff.fixed(0))
    return retry, breaker, store, idempotency_key


def _store(idempotent: Any) -> Any:
    """The idempotency store `idempotent=` asks for (None for False)."""
    if idempotent is False or idempotent is None:
        return None
    if idempotent is True:
        return MemoryIdempotencyStore()
    if callable(getattr(idempotent, "seen", None)) and callable(getattr(idempotent, "mark",
                                                                        None)):
        return idempotent
    raise TypeError(f"idempotent must be True, False or an idempotency store (with seen and "
                    f"mark, such as MemoryIdempotencyStore), got {idempotent!r}")
