"""Orchestration: a saga coordinator drives the retraining workflow with an explicit state
machine, timeouts and compensation, and keeps its state in an event store.

The services only answer commands (``collect.requested`` -> ``data.collected``, ...) on one
replies topic; they know nothing of each other. The coordinator knows the whole workflow, given
to the generic `edalab.patterns.saga.Saga` as `RetrainingSaga`'s table:

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

Each saga is a stream ``saga-<workflow>`` in the event store; its state is a fold over that
stream, so a coordinator that crashed rebuilds every saga by replay and re-sends the command
each active saga is waiting for (services answer a repeated command id with their first
answer). Deadlines are in the app's clock, checked on ``timer.tick`` events, so timeouts are
reproducible in virtual time.

>>> from edalab.patterns.eventstore import MemoryEventStore
>>> from edalab.retraining import (FailurePlan, ModelRegistry, RetrainingServices,
...                                drifting_stream, train_champion)
>>> samples = drifting_stream(3000, drifts=(1500,), seed=1)
>>> services = RetrainingServices(ModelRegistry(train_champion(samples[:500])),
...                               failures=FailurePlan("evaluate", "hang"))
>>> store = MemoryEventStore()
>>> flow = Orchestration(services, store)
>>> stats = flow.run(samples[500:])
>>> [s.event.data.get("step") or s.event.type for s in store.read("saga-wf-1")]
['saga.started', 'collect', 'saga.reply_received', 'train', 'saga.reply_received', 'evaluate', \
'evaluate', 'discard', 'saga.reply_received', 'saga.compensated']
>>> saga = RetrainingSaga.replay("saga-wf-1", [s.event for s in store.read("saga-wf-1")])
>>> saga.status, services.registry.candidates
('compensated', set())
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from edalab.events import Event
from edalab.patterns.eventstore.base import EventStore
from edalab.patterns.participant import Participant
from edalab.patterns.saga import Saga, SagaCoordinator, timer_ticks
from edalab.retraining.models import decide
from edalab.retraining.services import RetrainingServices, StepFailed
from edalab.retraining.workflow import WorkflowStyle, workflow_ids
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats

__all__ = ["SERVICES", "TRANSITIONS", "Orchestration", "RetrainingCoordinator",
           "RetrainingSaga"]

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
#: The service that answers each command.
SERVICES = {"collect.requested": "collector", "train.requested": "trainer",
            "evaluate.requested": "evaluator", "deploy.requested": "deployer",
            "discard.requested": "trainer"}


class RetrainingSaga(Saga):
    """The retraining workflow's table: collect, train, evaluate, deploy; a failure or a
    timeout once a challenger exists compensates by discarding it."""

    source = "/coordinator"
    initial = "collecting"
    steps = {"collecting": "collect", "training": "train", "evaluating": "evaluate",
             "deploying": "deploy", "compensating": "discard"}
    commands = {"collect": "collect.requested", "train": "train.requested",
                "evaluate": "evaluate.requested", "deploy": "deploy.requested",
                "discard": "discard.requested"}
    transitions = TRANSITIONS
    on_timeout = {"collecting": "failed", "training": "failed", "evaluating": "compensating",
                  "deploying": "compensating", "compensating": "compensating"}
    timeouts = {"collect": 900.0, "train": 300.0, "evaluate": 300.0, "deploy": 300.0,
                "discard": 300.0}
    keep = ("dataset", "version", "scores", "error")


class RetrainingCoordinator(SagaCoordinator):
    """Runs `RetrainingSaga`s: starts one per ``drift.detected`` and fills each command from
    the saga's results (the deploy command carries the promotion decision).

    Parameters
    ----------
    store
        The event store holding each saga's stream.
    participant
        How the coordinator emits (its declared commands and outcomes).
    margin
        Promote when the challenger beats the champion by more than this.
    timeouts
        Seconds (of the app's clock) each step may take, over `RetrainingSaga.timeouts`.
    crash_after
        ``(reply type, run)``: crash once, right after recording that reply (tests, notebook).
    """

    def __init__(self, store: EventStore, participant: Participant, *, margin: float = 0.01,
                 timeouts: dict[str, float] | None = None,
                 crash_after: tuple[str, int] | None = None):
        crash = None if crash_after is None else (crash_after[0], f"wf-{crash_after[1]}")
        super().__init__(RetrainingSaga, store, participant, timeouts=timeouts,
                         crash_after=crash)
        self.margin = margin

    def on_drift(self, event: Event) -> list[Event]:
        d = event.data
        return self.start(d["workflow"], event, {"run": d["run"]},
                          {"after": event.time.isoformat()})

    def arguments(self, saga: Saga, step: str) -> dict[str, Any]:
        r = saga.results
        if step == "train":
            return {"dataset": r["dataset"]}
        if step == "evaluate":
            return {"dataset": r["dataset"], "version": r["version"]}
        if step == "deploy":
            return {"version": r["version"], "action": decide(r["scores"], self.margin)}
        return {"version": r["version"]}  # discard


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
        Passed to the `RetrainingCoordinator`.
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

    def _coordinator(self, timeouts, crash_after) -> RetrainingCoordinator:
        t = self.topics
        emits = dict(SERVICES)
        emits.update({f"saga.{final}": "outcomes" for final in RetrainingSaga.finals})
        p = self._participant("coordinator", emits)
        c = RetrainingCoordinator(self.store, p, margin=self.services.margin,
                                  timeouts=timeouts, crash_after=crash_after)
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
