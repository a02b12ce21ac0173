"""Orchestration: a saga coordinator drives the retraining workflow with an explicit state
machine, timeouts and compensation, and keeps its state in an event store.

The services only answer commands (``collect.requested`` -> ``data.collected``, ...) on one
replies topic; they know nothing of each other. The `SagaCoordinator` knows the whole workflow:

====================  =========================  ================
state                 reply                      next state
====================  =========================  ================
collecting            data.collected             training
training              challenger.trained         evaluating
evaluating            challenger.evaluated       deploying
deploying             model.promoted/rolled_back completed
evaluating/deploying  evaluation/deployment      compensating
                      .failed, or a timeout      (discard the challenger)
compensating          challenger.discarded       compensated
collecting/training   a failure or a timeout     failed (nothing to undo)
====================  =========================  ================

Each saga is a stream ``saga-<workflow>`` in the event store: what it did (``saga.started``,
``saga.step_started`` with its deadline, ``saga.reply_received``, ``saga.step_timed_out``,
``saga.completed``/``compensated``/``failed``). Its state is a fold over that stream, so a
coordinator that crashed rebuilds every saga by replay and re-sends the command each active saga
is waiting for (services answer a repeated command id with their first answer). Deadlines are in
the app's clock, checked on ``timer.tick`` events, so timeouts are reproducible in virtual time.

>>> from edalab.patterns.eventstore import MemoryEventStore
>>> from edalab.patterns.retraining import (FailurePlan, ModelRegistry, RetrainingServices,
...                                         drifting_stream, train_champion)
>>> samples = drifting_stream(3000, drifts=(1500,), seed=1)
>>> services = RetrainingServices(ModelRegistry(train_champion(samples[:500])),
...                               failures=FailurePlan("evaluate", "hang"))
>>> store = MemoryEventStore()
>>> flow = Orchestration(services, store)
>>> stats = flow.run(samples[500:])
>>> [s.event.data.get("step") or s.event.type for s in store.read("saga-wf-1")]
['saga.started', 'collect', 'saga.reply_received', 'train', 'saga.reply_received', 'evaluate', \
'evaluate', 'discard', 'saga.reply_received', 'saga.compensated']
>>> Saga.replay(store.read("saga-wf-1")).state, services.registry.candidates
('compensated', set())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.patterns.eventstore.base import ConcurrencyError, EventStore, StoredEvent
from edalab.patterns.retraining import (
    Participant,
    RetrainingServices,
    StepFailed,
    WorkflowStyle,
    decide,
    workflow_ids,
)
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats

__all__ = ["TRANSITIONS", "CoordinatorCrashed", "Orchestration", "Saga", "SagaCoordinator",
           "timer_ticks"]

#: (state, reply type) -> next state: the coordinator's whole knowledge of the workflow.
TRANSITIONS = {
    ("collecting", "data.collected"): "training",
    ("collecting", "collection.failed"): "failed",
    ("training", "challenger.trained"): "evaluating",
    ("training", "training.failed"): "failed",
    ("evaluating", "challenger.evaluated"): "deploying",
    ("evaluating", "evaluation.failed"): "compensating",
    ("deploying", "model.promoted"): "completed",
    ("deploying", "model.rolled_back"): "completed",
    ("deploying", "deployment.failed"): "compensating",
    ("compensating", "challenger.discarded"): "compensated",
}
#: The step each active state waits for, and the command that starts it (type, service).
STEPS = {"collecting": "collect", "training": "train", "evaluating": "evaluate",
         "deploying": "deploy", "compensating": "discard"}
COMMANDS = {"collect": ("collect.requested", "collector"), "train": ("train.requested", "trainer"),
            "evaluate": ("evaluate.requested", "evaluator"),
            "deploy": ("deploy.requested", "deployer"), "discard": ("discard.requested", "trainer")}
FINAL = {"completed": "saga.completed", "compensated": "saga.compensated", "failed": "saga.failed"}
DEFAULT_TIMEOUTS = {"collect": 900.0, "train": 300.0, "evaluate": 300.0, "deploy": 300.0,
                    "discard": 300.0}


class CoordinatorCrashed(EdalabError, RuntimeError):
    """The coordinator lost its memory (an injected crash); the store still has every saga."""


@dataclass
class Saga:
    """One workflow's state: a fold over its stream (`apply` per event type)."""

    workflow: str = ""
    run: int = 0
    state: str = "new"
    step: str | None = None
    deadline: datetime | None = None
    command: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    version: int = 0

    @property
    def active(self) -> bool:
        return self.state in STEPS

    @classmethod
    def replay(cls, stored: list[StoredEvent]) -> Saga:
        saga = cls()
        for s in stored:
            saga.apply(s.event)
            saga.version = s.version
        return saga

    def apply(self, event: Event) -> None:
        d = event.data
        if event.type == "saga.started":
            self.workflow, self.run = d["workflow"], d["run"]
        elif event.type == "saga.step_started":
            self.step, self.command = d["step"], d["command"]
            self.state = next(s for s, step in STEPS.items() if step == d["step"])
            self.deadline = datetime.fromisoformat(d["deadline"])
        elif event.type == "saga.reply_received":
            self.results.update({k: v for k, v in d["data"].items()
                                 if k in ("dataset", "version", "scores", "error")})
            self.state = TRANSITIONS[(self.state, d["type"])]
        elif event.type == "saga.step_timed_out":
            self.state = "compensating" if "version" in self.results else "failed"
            self.results["error"] = f"{d['step']} timed out"
        elif event.type in FINAL.values():
            self.state = event.type.removeprefix("saga.")
        else:
            raise ValueError(f"unknown saga event type {event.type!r}")


class SagaCoordinator:
    """Runs sagas: starts one per ``drift.detected``, advances it on replies, times out steps
    on ticks, and records everything in `store` before it sends a command.

    Parameters
    ----------
    store
        The event store holding each saga's stream.
    participant
        How the coordinator emits (its declared commands and outcomes).
    margin
        Promote when the challenger beats the champion by more than this.
    timeouts
        Seconds (of the app's clock) each step may take; defaults to `DEFAULT_TIMEOUTS`.
    crash_after
        ``(reply type, run)``: crash once, right after recording that reply (tests, notebook).
    """

    def __init__(self, store: EventStore, participant: Participant, *, margin: float = 0.01,
                 timeouts: dict[str, float] | None = None,
                 crash_after: tuple[str, int] | None = None):
        self.store = store
        self.participant = participant
        self.margin = margin
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        bad = {k: v for k, v in self.timeouts.items() if k not in DEFAULT_TIMEOUTS or v <= 0}
        if bad:
            raise ValueError(f"timeouts must be positive seconds for {sorted(DEFAULT_TIMEOUTS)},"
                             f" got {bad}")
        self.crash_after = crash_after
        self.sagas: dict[str, Saga] | None = {}  # None: memory lost, rebuild from the store
        self.replayed = 0
        self.recoveries = 0

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.participant.app.now

    # -- handlers ---------------------------------------------------------------------------

    def on_drift(self, event: Event) -> list[Event]:
        out = self._recover(event)
        workflow = event.data["workflow"]
        if workflow in self.sagas:  # type: ignore[operator]  # _recover made it a dict
            return out  # a redelivered trigger
        saga = Saga()
        started = self._event("saga.started", {"workflow": workflow, "run": event.data["run"],
                                               "trigger": event.id,
                                               "at": event.time.isoformat()}, saga)
        saga.apply(started)
        collect = self._start_step(saga, "collect", {"after": event.time.isoformat()})
        return out + self._record(saga, [started] + collect, event)

    def on_reply(self, event: Event) -> list[Event]:
        out = self._recover(event)
        saga = self.sagas.get(event.data["workflow"])  # type: ignore[union-attr]  # recovered
        if saga is None or (saga.state, event.type) not in TRANSITIONS:
            return out  # late (after a timeout) or repeated: the saga has moved on
        if event.data.get("command") != saga.command.get("command"):
            return out
        received = self._event("saga.reply_received", {"type": event.type,
                                                       "data": event.data}, saga)
        saga.apply(received)
        out += self._record(saga, [received] + self._next(saga), event)
        if self.crash_after == (event.type, saga.run):
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
                    "step": saga.step, "deadline": saga.deadline.isoformat()}, saga)
                saga.apply(timed_out)
                out += self._record(saga, [timed_out] + self._next(saga), event)
        return out

    # -- the state machine --------------------------------------------------------------------

    def _next(self, saga: Saga) -> list[Event]:
        """What the coordinator does on entering `saga.state` (already applied)."""
        r = saga.results
        if saga.state == "training":
            return self._start_step(saga, "train", {"dataset": r["dataset"]})
        if saga.state == "evaluating":
            return self._start_step(saga, "evaluate", {"dataset": r["dataset"],
                                                       "version": r["version"]})
        if saga.state == "deploying":
            return self._start_step(saga, "deploy", {
                "version": r["version"], "action": decide(r["scores"], self.margin)})
        if saga.state == "compensating":
            return self._start_step(saga, "discard", {"version": r["version"]})
        final = self._event(FINAL[saga.state], {"workflow": saga.workflow, "run": saga.run,
                                                **r}, saga)
        saga.apply(final)
        return [final]

    def _start_step(self, saga: Saga, step: str, args: dict) -> list[Event]:
        deadline = self.clock() + timedelta(seconds=self.timeouts[step])
        command = {"workflow": saga.workflow, "run": saga.run,
                   "command": f"{saga.workflow}:{step}", **args}
        started = self._event("saga.step_started", {"step": step, "command": command,
                                                    "deadline": deadline.isoformat()}, saga)
        saga.apply(started)
        return [started]

    # -- the event-sourced memory --------------------------------------------------------------

    def _event(self, type: str, data: dict, saga: Saga) -> Event:
        return Event(type, "/coordinator", data, key=saga.workflow or data.get("workflow"),
                     time=self.clock())

    def _record(self, saga: Saga, events: list[Event], cause: Event) -> list[Event]:
        """Append `events` to the saga's stream, then the messages they imply: the command of
        a started step, or the saga's outcome."""
        stream = f"saga-{saga.workflow}"
        try:
            stored = self.store.append(stream, events, expected_version=saga.version)
        except ConcurrencyError:
            self.sagas = None  # another writer moved on: forget and rebuild on the next event
            raise
        saga.version = stored[-1].version
        self.sagas[saga.workflow] = saga  # type: ignore[index]  # recovered before the handler ran
        return [m for e in events if (m := self._message(e, cause)) is not None]

    def _message(self, event: Event, cause: Event) -> Event | None:
        if event.type == "saga.step_started":
            kind, _ = COMMANDS[event.data["step"]]
            return self.participant.emit(kind, event.data["command"], cause=cause)
        if event.type in FINAL.values():
            return self.participant.emit(event.type, event.data, cause=cause)
        return None

    def _recover(self, cause: Event) -> list[Event]:
        """After a crash: rebuild every saga from its stream, and re-send the command each
        active saga waits for (it may have been recorded but never sent)."""
        if self.sagas is not None:
            return []
        self.recoveries += 1
        self.sagas = {}
        resend = []
        for stream in self.store.streams():
            if stream.startswith("saga-"):
                stored = self.store.read(stream)
                self.replayed += len(stored)
                saga = Saga.replay(stored)
                self.sagas[saga.workflow] = saga
                if saga.active:
                    kind, _ = COMMANDS[saga.step]  # type: ignore[index]  # active: it has a step
                    resend.append(self.participant.emit(kind, saga.command, cause=cause))
        return resend


def timer_ticks(start: datetime, end: datetime, every: float = 30.0) -> list[Event]:
    """``timer.tick`` events every `every` seconds from `start` to `end` (the coordinator's
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


class Orchestration(WorkflowStyle):
    """The retraining workflow driven by a `SagaCoordinator`, registered in an `App`.

    Parameters
    ----------
    services
        The workflow's steps and state (shared with the choreographed version).
    store
        The event store of the sagas.
    app
        The app (and so the broker) to run on; a new `App` on a `MemoryBroker` by default.
    prefix
        Prefix of every topic, so both styles can share one broker.
    tick
        Seconds between timer ticks.
    timeouts, crash_after
        Passed to the `SagaCoordinator`.
    """

    style = "orchestration"

    def __init__(self, services: RetrainingServices, store: EventStore, app: App | None = None,
                 *, prefix: str = "orchestration", tick: float = 30.0,
                 timeouts: dict[str, float] | None = None,
                 crash_after: tuple[str, int] | None = None):
        self._setup(services, app, prefix,
                    ("samples", "ticks", "drift", "replies", "outcomes", "collector", "trainer",
                     "evaluator", "deployer"))
        self.store = store
        self.tick = tick
        self.answers: dict[str, tuple[str, dict]] = {}  # command id -> first answer
        self.coordinator = self._coordinator(timeouts, crash_after)
        self._monitor()
        self._collector()
        self._trainer()
        self._evaluator()
        self._deployer()

    @property
    def source_topics(self) -> list[str]:
        """Topics fed from outside the workflow (not counted as its messages)."""
        return [self.topics["samples"], self.topics["ticks"]]

    def run(self, samples: list[Event], *, batch_size: int = 25) -> RunStats:
        """Feed `samples` and timer ticks (until the longest timeout after the last sample)
        and run until every handler is drained (virtual time)."""
        end = samples[-1].time + timedelta(seconds=2 * max(self.coordinator.timeouts.values()))
        self.app.source(self.topics["samples"], samples)
        self.app.source(self.topics["ticks"], timer_ticks(samples[0].time, end, self.tick))
        return self.app.run(batch_size=batch_size)

    def _coordinator(self, timeouts, crash_after) -> SagaCoordinator:
        t = self.topics
        emits = {kind: service for kind, service in COMMANDS.values()}
        emits.update({final: "outcomes" for final in FINAL.values()})
        p = self._participant("coordinator", emits)
        c = SagaCoordinator(self.store, p, margin=self.services.margin, timeouts=timeouts,
                            crash_after=crash_after)
        p.on(t["drift"], "drift.detected")(c.on_drift)
        p.on(t["replies"], *sorted({reply for _, reply in TRANSITIONS}))(c.on_reply)
        p.on(t["ticks"], "timer.tick")(c.on_tick)
        return c

    def _service(self, name: str, replies: tuple[str, ...]) -> Participant:
        return self._participant(name, {r: "replies" for r in replies})

    def _answer(self, p: Participant, command: Event,
                work: Callable[[], tuple[str, dict] | None], step: str) -> Event | None:
        """Run `work` once per command id (a repeated command gets the first answer again);
        a `StepFailed` becomes ``<step>.failed``; None (a hang) answers nothing."""
        cid = command.data["command"]
        if cid not in self.answers:
            try:
                answer = work()
            except StepFailed as exc:
                answer = (f"{step}.failed", {"error": str(exc)})
            if answer is None:
                return None
            self.answers[cid] = answer
        kind, data = self.answers[cid]
        return p.emit(kind, {**workflow_ids(command), "command": cid, **data}, cause=command)

    # -- the services (they know their commands and their replies, nothing else) ---------------

    def _collector(self) -> None:
        s, t = self.services, self.topics
        p = self._service("collector", ("data.collected", "collection.failed"))
        waiting: dict[str, Event] = {}

        def collected(done: list[tuple[str, list[dict]]]) -> list[Event]:
            out = []
            for workflow, rows in done:
                command = waiting.pop(workflow)
                dataset = s.store_dataset(workflow, rows)
                out.append(self._answer(p, command, lambda d=dataset: ("data.collected",  # type: ignore[misc]
                                                                       {"dataset": d}),
                                        "collection"))
            return out  # type: ignore[return-value]  # this work never hangs: no None

        @p.on(t["samples"], "sample.labelled")
        def collect_samples(event: Event):
            return collected(s.collector.add(event))

        @p.on(t["collector"], "collect.requested")
        def collect(event: Event):
            d = event.data
            if d["command"] in self.answers:  # a repeated command: the first answer again
                return self._answer(p, event, lambda: None, "collection")
            if d["workflow"] in waiting:
                return None  # already collecting
            try:
                if s.check("collect", d["run"]):
                    return None
            except StepFailed as exc:
                failed = ("collection.failed", {"error": str(exc)})
                return self._answer(p, event, lambda: failed, "collection")
            waiting[d["workflow"]] = event
            return collected(s.collector.request(d["workflow"],
                                                 datetime.fromisoformat(d["after"])))

    def _trainer(self) -> None:
        s, t = self.services, self.topics
        p = self._service("trainer", ("challenger.trained", "training.failed",
                                      "challenger.discarded"))

        @p.on(t["trainer"], "train.requested", "discard.requested")
        def train(event: Event):
            d = event.data
            if event.type == "discard.requested":
                def undo():
                    s.registry.discard(d["version"], d["workflow"])
                    return "challenger.discarded", {"version": d["version"]}
                return self._answer(p, event, undo, "discard")

            def work():
                if s.check("train", d["run"]):
                    return None
                return ("challenger.trained", {"version": s.train(d["workflow"], d["dataset"],
                                                                  d["run"])})
            return self._answer(p, event, work, "training")

    def _evaluator(self) -> None:
        s, t = self.services, self.topics
        p = self._service("evaluator", ("challenger.evaluated", "evaluation.failed"))

        @p.on(t["evaluator"], "evaluate.requested")
        def evaluate(event: Event):
            d = event.data

            def work():
                if s.check("evaluate", d["run"]):
                    return None
                return ("challenger.evaluated", {"scores": s.evaluate(d["dataset"],
                                                                      d["version"])})
            return self._answer(p, event, work, "evaluation")

    def _deployer(self) -> None:
        s, t = self.services, self.topics
        p = self._service("deployer", ("model.promoted", "model.rolled_back",
                                       "deployment.failed"))

        @p.on(t["deployer"], "deploy.requested")
        def deploy(event: Event):
            d = event.data

            def work():
                if s.check("deploy", d["run"]):
                    return None
                return (s.deploy(d["workflow"], d["version"], d["action"]),
                        {"version": d["version"]})
            return self._answer(p, event, work, "deployment")
