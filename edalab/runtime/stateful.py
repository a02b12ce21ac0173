"""The step of a handler with ``state=``: each event runs with its key's state, each
partition's state is checkpointed with its offset, and a partition this member takes over is
restored from its last checkpoint (and the log replayed from there) before any of its events
runs. See `edalab.state`."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edalab.brokers.base import Consumer, Record
from edalab.events import Event, auto_id
from edalab.runtime.handler import Handler, as_events
from edalab.state import FencedError, KeyState, MemoryState, PartitionState, State
from edalab.state.keyed import OPERATOR

__all__ = ["StateStats", "Stateful", "state_options"]

_NO_PART = PartitionState({}, 0, 0)  # before the first record of a batch


@dataclass
class StateStats:
    """What a stateful handler's state cost: checkpoints, restores, replays."""

    checkpoints: int = 0
    checkpoint_s: float = 0.0
    checkpoint_bytes: int = 0
    restores: int = 0
    restore_s: float = 0.0
    restored_keys: int = 0
    replays: int = 0  # partitions taken over and sought back to their checkpoint
    skipped: int = 0  # deliveries already in the restored state
    fenced: int = 0  # checkpoints refused: another member had taken the partition over


def state_options(state: Any) -> State | None:
    """`App.handler`'s ``state=``: False/None (no state), True (the defaults) or a `State`."""
    if state is None or state is False:
        return None
    if state is True:
        return State()
    if isinstance(state, State):
        return state
    raise TypeError(f"state must be True, False or an edalab.state.State, got "
                    f"{type(state).__name__}")


class Stateful:
    """A stateful handler's step (in `App`'s loop, in place of the plain one)."""

    def __init__(self, h: Handler, spec: State):
        self.h = h
        self.spec = spec
        self.parts: dict[int, PartitionState] = {}
        self.owned: set[int] = set()
        self.stats = StateStats()
        self.backend: Any = spec.backend
        self.store = spec.name or f"{h.topic}.{h.group}"
        self._app: Any = None
        # An operator (snapshot/restore) keeps one state per partition, swapped in before
        # an event of another partition runs; a function gets its event's key's state.
        self.operator: Any = h.fn if hasattr(h.fn, "process") else None
        if self.operator is not None and not (callable(getattr(h.fn, "snapshot", None))
                                              and callable(getattr(h.fn, "restore", None))):
            raise TypeError(f"state=: operator {h.name!r} has no snapshot() and restore(), "
                            "so its state cannot be checkpointed")
        self.bound: int | None = None  # the partition whose state the operator holds now
        if self.operator is None:
            _check_takes_state(h)

    def __repr__(self) -> str:
        return f"Stateful({self.store!r}, partitions={sorted(self.parts)})"

    def start(self, app: Any) -> None:
        self._app = app
        if self.spec.backend is None:
            self.backend = MemoryState.of(app.broker)
        self.parts.clear()
        self.owned = set()

    def lag(self) -> int:
        return 0

    def next_due(self) -> None:
        return None

    def close(self) -> None:
        """The end of a run: checkpoint every partition held, then let them go."""
        for p in list(self.parts):
            self._checkpoint(p)
        self.parts.clear()
        self.bound = None

    def flush(self, now: Any) -> list[Event]:
        """The end of the stream: an operator's ``flush(now)`` on each partition's state."""
        flush = getattr(self.h.fn, "flush", None)
        if flush is None:
            return []
        if self.operator is None:
            return as_events(flush(now), self.h.name)
        out: list[Event] = []
        for p in sorted(self.parts):
            self._bind(p)
            out += as_events(flush(now), self.h.name)
            self.parts[p].dirty.add(OPERATOR)
        return out

    def _bind(self, p: int) -> None:
        """Give the operator partition p's state (keeping the one it held)."""
        op, bound = self.operator, self.bound
        if bound == p:
            return
        if bound is not None and bound in self.parts:
            self.parts[bound].values[OPERATOR] = op.snapshot()
        op.restore(self.parts[p].values.get(OPERATOR))
        self.bound = p

    # -- the step --------------------------------------------------------------------------

    def step(self, batch_size: int, virtual: bool, wait: float = 0.0) -> int:
        h, app = self.h, self._app
        consumer: Consumer = h.consumer  # type: ignore[assignment]  # the app has started
        batch = consumer.poll(batch_size, wait)
        sought = self._follow(consumer)
        if not batch.events:
            self._checkpoint_due()
            return 0
        stats = h.stats
        fn: Callable[..., Any] = h.fn  # (event, state)
        unchecked = Event._unchecked
        operator = self.operator
        default, name = self.spec.default, h.name
        ok: list[Record] = []
        results: list[list[Event]] = []
        skipped: list[Record] = []
        failed: list[tuple[Record, BaseException]] = []
        parts = self.parts
        last_p, part = -1, _NO_PART
        t0 = time.perf_counter()
        for record in batch.records():
            event, _, p, offset, attempt, _ = record
            if p != last_p:
                held = parts.get(p)
                if held is None or p in sought:
                    continue  # not ours (any more), or delivered again from a checkpoint
                if held.offset < 0:  # its first owner: the state starts here, at the
                    held.offset = offset  # group's position, which the next owner
                    self._checkpoint(p, force=True)  # seeks back to if need be
                part = held
                if operator is not None and p != self.bound:
                    self._bind(p)
                last_p = p
            if offset < part.offset and offset not in part.pending:
                skipped.append(record)  # already in the restored state
                continue
            try:
                if operator is not None:  # (an operator leaves its state as it was on error)
                    part.dirty.add(OPERATOR)
                    out = fn(event)
                else:
                    out = fn(event, KeyState(part, event.key or "", default))
                out = as_events(out, name)
            except Exception as exc:  # a failing handler must not stop the app
                part.rollback()
                failed.append((record, exc))
                if attempt < h.max_attempts:
                    part.pending.add(offset)
                else:
                    part.pending.discard(offset)
                if offset >= part.offset:
                    part.offset = offset + 1
                continue
            if part.undo:
                part.undo.clear()
            if part.pending:
                part.pending.discard(offset)
            if offset >= part.offset:
                part.offset = offset + 1
            part.since += 1
            for i, e in enumerate(out):  # a replay emits the same ids again
                if auto_id(e.id):  # (the attributes are an event's: no checks needed)
                    out[i] = unchecked(e.type, e.source, e.data, e.key, e.time,
                                       f"{event.id}.{name}.{i}", e.subject,
                                       e.datacontenttype, e.extensions)
            ok.append(record)
            results.append(out)
        done = time.perf_counter()
        stats.busy_seconds += done - t0
        emitted = [e for r in results for e in r]
        if emitted:
            errors: list[tuple[int, BaseException]] = []
            stats.events_out += app._emit(h, emitted, list(results), errors) or 0
            for i, error in sorted(errors, key=lambda item: item[0], reverse=True):
                failed.append((ok.pop(i), error))  # its state changes stay: see State
        if failed or skipped or sought or len(ok) < len(batch):
            consumer.ack(ok + skipped)
        else:
            consumer.ack(batch)  # all of it: by runs, no record each
        for record, error in failed:
            consumer.nack(record, error=error)
            stats.errors += 1
            if record.attempt >= h.max_attempts:
                stats.dead_letters += 1
        self.stats.skipped += len(skipped)
        ran = len(ok) + len(failed) + len(skipped)
        stats.events_in += ran
        if ok:
            sample = ok[:: max(1, len(ok) // app.latency_samples)]
            if virtual:
                stats.sample(app.clock.now(), [r.event.time for r in sample])
            else:
                stats.sample(done, [r.timestamp for r in sample])
        self._checkpoint_due()
        return ran

    # -- ownership, restore, checkpoints ---------------------------------------------------

    def _follow(self, consumer: Consumer) -> set[int]:
        """Follow the partitions this member owns: one it let go is checkpointed (refused
        if its new owner has claimed it already) and forgotten; one it took over is
        restored from its last checkpoint at once, and the partition sought back to it (the
        events since are delivered again), whether or not events of it are waiting. The
        partitions sought back: what was polled of them before is not handled."""
        owned = set(consumer.assignment(refresh=False))  # what the last round decided
        sought: set[int] = set()
        if owned == self.owned:
            return sought
        for p in set(self.parts) - owned:
            self._checkpoint(p)
            self.parts.pop(p, None)
            if p == self.bound:
                self.bound = None
        for p in sorted(owned - self.owned):
            part = self._restore(p)
            if part.epoch > 1:  # another member may have gone on past its checkpoint
                consumer.seek(part.offset if part.offset > 0 else "beginning", p)
                self.stats.replays += 1
                sought.add(p)
            else:  # the first owner ever (or no durable state): from the first event it gets
                part.offset = -1
        self.owned = owned
        return sought

    def _restore(self, p: int) -> PartitionState:
        if not self.spec.durable:  # kept in this process only
            self.parts[p] = part = PartitionState({}, 0, 0)
            return part
        t0 = time.perf_counter()
        snap = self.backend.claim(self.store, p)
        part = PartitionState.restore(snap.values, snap.offset, snap.epoch, time.monotonic())
        self.parts[p] = part
        self.stats.restores += 1
        self.stats.restored_keys += len(part.values)
        self.stats.restore_s += time.perf_counter() - t0
        return part

    def _checkpoint_due(self) -> None:
        every, seconds = self.spec.every, self.spec.seconds
        now = time.monotonic()
        for p, part in list(self.parts.items()):
            if part.since >= every or (seconds is not None and part.since
                                       and now - part.saved_at >= seconds):
                self._checkpoint(p)

    def _checkpoint(self, p: int, force: bool = False) -> None:
        part = self.parts[p]
        if not self.spec.durable or not (force or part.since or part.dirty or part.pending):
            return
        if p == self.bound:  # the operator's live state, as of now
            part.values[OPERATOR] = self.operator.snapshot()
        t0 = time.perf_counter()
        try:
            written = self.backend.save(self.store, p, part.epoch, part.offset,
                                        part.changes())
        except FencedError:  # another member took p over: its state is the one that counts
            self.stats.fenced += 1
            self.parts.pop(p, None)
            if p == self.bound:
                self.bound = None
            return
        part.saved_at = time.monotonic()
        self.stats.checkpoints += 1
        self.stats.checkpoint_bytes += written
        self.stats.checkpoint_s += time.perf_counter() - t0


def _check_takes_state(h: Handler) -> None:
    """A stateful function is called ``fn(event, state)``: say so at registration, not as
    a dead letter per event."""
    try:
        inspect.signature(h.fn).bind(None, None)
    except TypeError:
        raise TypeError(f"state=: handler {h.name!r} must take (event, state), the state of "
                        "the event's key as its second argument") from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass
