"""Sagas: a long-running workflow driven by a coordinator, as a state machine whose state is a
fold over the saga's own events.

A `Saga` subclass is the workflow's transition table: the state it starts in, the step each
active state waits for and the command that starts it, the reply that moves each transition,
and where a timed-out step goes (a compensating state, or a final one). Every other state a
transition reaches is final. `Saga` is an `Aggregate`: its state is the fold of its events
(``saga.started``, ``saga.step_started`` with its deadline, ``saga.reply_received``,
``saga.step_timed_out``, ``saga.<final state>``), one stream ``saga-<workflow>`` per saga.

A `SagaCoordinator` runs sagas of one kind: it records each decision in the event store before
it sends the command, advances a saga on replies, times steps out on ``timer.tick`` events (in
the app's clock, so timeouts are reproducible in virtual time), and, after a crash, rebuilds
every saga by replay and re-sends the command each active saga waits for.

>>> class Order(Saga):
...     initial = "paying"
...     steps = {"paying": "pay", "shipping": "ship", "refunding": "refund"}
...     commands = {"pay": "pay.requested", "ship": "ship.requested",
...                 "refund": "refund.requested"}
...     transitions = {("paying", "paid"): "shipping", ("paying", "declined"): "failed",
...                    ("shipping", "shipped"): "done", ("shipping", "lost"): "refunding",
...                    ("refunding", "refunded"): "refunded"}
...     on_timeout = {"paying": "failed", "shipping": "refunding", "refunding": "refunding"}
...     timeouts = {"pay": 60.0, "ship": 3600.0, "refund": 600.0}
>>> Order.finals
('failed', 'done', 'refunded')
>>> saga = Order("saga-o1")
>>> for e in [Event("saga.started", "/shop", {"workflow": "o1", "trigger": "t1", "at": "x"}),
...           Event("saga.step_started", "/shop", {"step": "pay", "command": {},
...                                                "deadline": "2024-01-01T00:01:00+00:00"}),
...           Event("saga.reply_received", "/shop", {"type": "paid", "data": {}}),
...           Event("saga.step_timed_out", "/shop", {"step": "ship"})]:
...     saga.apply(e)
>>> saga.status, saga.version, saga.results
('refunding', 4, {'error': 'ship timed out'})
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.patterns.aggregate import Aggregate, Repository, applies
from edalab.patterns.eventstore.base import ConcurrencyError, EventStore
from edalab.patterns.participant import Participant

__all__ = ["CoordinatorCrashed", "Saga", "SagaCoordinator", "timer_ticks"]

#: Fields of ``saga.started`` that are not the saga's context.
_STARTED = ("workflow", "trigger", "at")


class CoordinatorCrashed(EdalabError, RuntimeError):
    """The coordinator lost its memory (an injected crash); the store still has every saga."""


class Saga(Aggregate):
    """One workflow run: its state machine given by the subclass's table, its state the fold of
    its events. The aggregate id is the saga's stream, ``saga-<workflow>``.

    Subclasses set these class attributes (checked when the class is defined):

    initial
        The state a saga starts in (one of `steps`).
    steps
        Active state -> the step it waits for (one state per step).
    commands
        Step -> the type of the command event that starts it.
    transitions
        ``(active state, reply type)`` -> next state (active or final).
    on_timeout
        Active state -> the state its step's timeout leads to.
    timeouts
        Step -> default seconds it may take.
    keep
        Fields of the replies' data kept in `results` (and given to the final event).

    `finals` (the states no step waits in) is derived from the table.
    """

    source: ClassVar[str] = "/coordinator"
    initial: ClassVar[str] = ""
    steps: ClassVar[dict[str, str]] = {}
    commands: ClassVar[dict[str, str]] = {}
    transitions: ClassVar[dict[tuple[str, str], str]] = {}
    on_timeout: ClassVar[dict[str, str]] = {}
    timeouts: ClassVar[dict[str, float]] = {}
    keep: ClassVar[tuple[str, ...]] = ()
    finals: ClassVar[tuple[str, ...]] = ()
    _state_of: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.steps:
            cls._check_table()
        targets = [*cls.transitions.values(), *cls.on_timeout.values()]
        cls.finals = tuple(dict.fromkeys(s for s in targets if s not in cls.steps))
        cls._state_of = {step: state for state, step in cls.steps.items()}
        for final in cls.finals:
            cls._appliers[f"saga.{final}"] = Saga._finished

    @classmethod
    def _check_table(cls) -> None:
        name, steps = cls.__name__, cls.steps
        problems = []
        if cls.initial not in steps:
            problems.append(f"initial {cls.initial!r} is not a step state {sorted(steps)}")
        if len(set(steps.values())) != len(steps):
            problems.append(f"two states wait for one step: {steps}")
        problems += [f"step {s!r} has no command" for s in steps.values()
                     if s not in cls.commands]
        problems += [f"transition {key} leaves {key[0]!r}, which waits for no step"
                     for key in cls.transitions if key[0] not in steps]
        problems += [f"state {s!r} has no on_timeout" for s in steps if s not in cls.on_timeout]
        problems += [f"step {s!r} has no timeout" for s in steps.values()
                     if s not in cls.timeouts]
        if problems:
            raise TypeError(f"saga {name}: " + "; ".join(problems))

    def initial_state(self) -> dict[str, Any]:
        return {"workflow": "", "context": {}, "status": "new", "step": None,
                "deadline": None, "command": {}, "results": {}}

    # -- what the saga is now ------------------------------------------------------------------

    @property
    def workflow(self) -> str:
        return self.state["workflow"]

    @property
    def context(self) -> dict[str, Any]:
        """Fields given when the saga started, carried by every command and the outcome."""
        return self.state["context"]

    @property
    def status(self) -> str:
        """The state machine's state: ``new``, an active state, or a final one."""
        return self.state["status"]

    @property
    def step(self) -> str | None:
        return self.state["step"]

    @property
    def deadline(self) -> datetime | None:
        d = self.state["deadline"]
        return None if d is None else datetime.fromisoformat(d)

    @property
    def command(self) -> dict[str, Any]:
        """The command of the step the saga waits for (what a recovery sends again)."""
        return self.state["command"]

    @property
    def results(self) -> dict[str, Any]:
        return self.state["results"]

    @property
    def active(self) -> bool:
        return self.status in self.steps

    # -- the fold ------------------------------------------------------------------------------

    @applies("saga.started")
    def _started(self, event: Event) -> None:
        d = event.data
        self.state["workflow"] = d["workflow"]
        self.state["context"] = {k: v for k, v in d.items() if k not in _STARTED}

    @applies("saga.step_started")
    def _step_started(self, event: Event) -> None:
        d = event.data
        self.state.update(step=d["step"], command=d["command"], deadline=d["deadline"],
                          status=self._state_of[d["step"]])

    @applies("saga.reply_received")
    def _reply_received(self, event: Event) -> None:
        d = event.data
        self.results.update({k: v for k, v in d["data"].items() if k in self.keep})
        self.state["status"] = self.transitions[(self.status, d["type"])]

    @applies("saga.step_timed_out")
    def _step_timed_out(self, event: Event) -> None:
        self.state["status"] = self.on_timeout[self.status]
        self.results["error"] = f"{event.data['step']} timed out"

    def _finished(self, event: Event) -> None:
        self.state["status"] = event.type.removeprefix("saga.")


class SagaCoordinator:
    """Runs sagas of one `Saga` class: starts one with `start`, advances it on replies, times
    out steps on ticks, and records everything in `store` before it sends a command.

    Subclasses say how a saga starts (a handler calling `start`) and override `arguments`
    (what each later step's command carries, from the saga's results).

    Parameters
    ----------
    saga
        The `Saga` subclass: the workflow's table.
    store
        The event store holding each saga's stream.
    participant
        How the coordinator emits (its declared commands and outcomes).
    timeouts
        Seconds (of the app's clock) each step may take, over the saga's defaults.
    crash_after
        ``(reply type, workflow)``: crash once, right after recording that reply (tests,
        notebooks).
    """

    prefix = "saga-"

    def __init__(self, saga: type[Saga], store: EventStore, participant: Participant, *,
                 timeouts: dict[str, float] | None = None,
                 crash_after: tuple[str, str] | None = None):
        if not (isinstance(saga, type) and issubclass(saga, Saga) and saga.steps):
            raise TypeError(f"saga must be a Saga subclass with a table, got {saga!r}")
        self.saga = saga
        self.store = store
        self.participant = participant
        self.timeouts = {**saga.timeouts, **(timeouts or {})}
        bad = {k: v for k, v in self.timeouts.items() if k not in saga.timeouts or v <= 0}
        if bad:
            raise ValueError(f"timeouts must be positive seconds for {sorted(saga.timeouts)},"
                             f" got {bad}")
        self.crash_after = crash_after
        self.sagas: dict[str, Saga] | None = {}  # None: memory lost, rebuild from the store
        self.replayed = 0
        self.recoveries = 0

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.participant.app.now

    def arguments(self, saga: Saga, step: str) -> dict[str, Any]:
        """What the command of `step` carries besides the workflow and context (override)."""
        return {}

    # -- handlers -------------------------------------------------------------------------------

    def start(self, workflow: str, cause: Event, context: dict[str, Any],
              arguments: dict[str, Any]) -> list[Event]:
        """Start the saga of `workflow` (caused by `cause`; nothing if it exists already: a
        redelivered trigger) at the table's initial step with `arguments`."""
        out = self._recover(cause)
        if workflow in self.sagas:  # type: ignore[operator]  # _recover made it a dict
            return out
        saga = self.saga(f"{self.prefix}{workflow}")
        started = self._event("saga.started", {"workflow": workflow, **context,
                                               "trigger": cause.id,
                                               "at": cause.time.isoformat()}, saga)
        saga.apply(started)
        first = self._start_step(saga, saga.steps[saga.initial], arguments)
        return out + self._record(saga, [started] + first, cause)

    def on_reply(self, event: Event) -> list[Event]:
        out = self._recover(event)
        saga = self.sagas.get(event.data["workflow"])  # type: ignore[union-attr]  # recovered
        if saga is None or (saga.status, event.type) not in saga.transitions:
            return out  # late (after a timeout) or repeated: the saga has moved on
        if event.data.get("command") != saga.command.get("command"):
            return out
        received = self._event("saga.reply_received", {"type": event.type,
                                                       "data": event.data}, saga)
        saga.apply(received)
        out += self._record(saga, [received] + self._next(saga), event)
        if self.crash_after == (event.type, saga.workflow):
            self.crash_after = None
            self.sagas = None
            raise CoordinatorCrashed(f"coordinator crashed after recording {event.type} of "
                                     f"{saga.workflow}")
        return out

    def on_tick(self, event: Event) -> list[Event]:
        out = self._recover(event)
        now = self.clock()
        for saga in list(self.sagas.values()):  # type: ignore[union-attr]  # recovered
            if saga.active and saga.deadline is not None and now >= saga.deadline:
                timed_out = self._event("saga.step_timed_out", {
                    "step": saga.step, "deadline": saga.state["deadline"]}, saga)
                saga.apply(timed_out)
                out += self._record(saga, [timed_out] + self._next(saga), event)
        return out

    # -- the state machine ----------------------------------------------------------------------

    def _next(self, saga: Saga) -> list[Event]:
        """What the coordinator does on entering `saga.status` (already applied): start the
        state's step, or finish."""
        if saga.active:
            step = saga.steps[saga.status]
            return self._start_step(saga, step, self.arguments(saga, step))
        final = self._event(f"saga.{saga.status}", {"workflow": saga.workflow,
                                                    **saga.context, **saga.results}, saga)
        saga.apply(final)
        return [final]

    def _start_step(self, saga: Saga, step: str, args: dict) -> list[Event]:
        deadline = self.clock() + timedelta(seconds=self.timeouts[step])
        command = {"workflow": saga.workflow, **saga.context,
                   "command": f"{saga.workflow}:{step}", **args}
        started = self._event("saga.step_started", {"step": step, "command": command,
                                                    "deadline": deadline.isoformat()}, saga)
        saga.apply(started)
        return [started]

    # -- the event-sourced memory ----------------------------------------------------------------

    def _event(self, type: str, data: dict, saga: Saga) -> Event:
        return Event(type, saga.source, data, key=saga.workflow or data.get("workflow"),
                     time=self.clock())

    def _record(self, saga: Saga, events: list[Event], cause: Event) -> list[Event]:
        """Append `events` (already folded into `saga`) to its stream, then the messages they
        imply: the command of a started step, or the saga's outcome."""
        try:
            self.store.append(saga.id, events, expected_version=saga.version - len(events))
        except ConcurrencyError:
            self.sagas = None  # another writer moved on: forget and rebuild on the next event
            raise
        self.sagas[saga.workflow] = saga  # type: ignore[index]  # recovered before the handler ran
        return [m for e in events if (m := self._message(e, saga, cause)) is not None]

    def _message(self, event: Event, saga: Saga, cause: Event) -> Event | None:
        if event.type == "saga.step_started":
            command = saga.commands[event.data["step"]]
            return self.participant.emit(command, event.data["command"], cause=cause)
        if event.type.removeprefix("saga.") in saga.finals:
            return self.participant.emit(event.type, event.data, cause=cause)
        return None

    def _recover(self, cause: Event) -> list[Event]:
        """After a crash: rebuild every saga from its stream, and re-send the command each
        active saga waits for (it may have been recorded but never sent)."""
        if self.sagas is not None:
            return []
        self.recoveries += 1
        self.sagas = {}
        sagas = Repository(self.store, self.saga)
        resend = []
        for stream in self.store.streams():
            if stream.startswith(self.prefix):
                saga = sagas.load(stream)
                self.replayed += saga.version
                self.sagas[saga.workflow] = saga
                if saga.active:
                    resend.append(self.participant.emit(saga.commands[saga.step], saga.command,  # type: ignore[index]  # active: it has a step
                                                        cause=cause))
        return resend


def timer_ticks(start: datetime, end: datetime, every: float = 30.0) -> list[Event]:
    """``timer.tick`` events every `every` seconds from `start` to `end` (a coordinator's
    clock for timeouts).

    >>> from datetime import datetime, timezone
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> [e.time.second for e in timer_ticks(t0, t0 + timedelta(seconds=50), every=20)]
    [0, 20, 40]
    """
    if every <= 0:
        raise ValueError(f"every must be > 0 seconds, got {every}")
    n = int((end - start).total_seconds() // every) + 1
    return [Event("timer.tick", "/timer", {"tick": i}, key="timer",
                  time=start + timedelta(seconds=i * every), id=f"tick-{i}") for i in range(n)]
