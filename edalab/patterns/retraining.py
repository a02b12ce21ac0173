"""The ML retraining workflow both choreography and orchestration run, and its participants.

A deployed *champion* (``StandardScaler | LogisticRegression``) scores a labelled stream with
concept drift; an ADWIN detector on its errors starts a workflow: **collect** the next labelled
samples, **train** a challenger on the first part, **evaluate** champion and challenger on the
held-out rest, then **deploy**: promote the challenger if it is better, else roll back (discard
it). Models and datasets live in a `ModelRegistry` (the artifact store every ML platform has);
events carry only their ids.

The pieces here are style-free: `choreography` and `saga` wire the same `RetrainingServices`
into `App` handlers through `Participant`, which declares what each participant subscribes to and
emits (so coupling is computed from the declarations) and stamps every event it emits with the
workflow, the event that caused it and the wall time.

>>> events = drifting_stream(3000, drifts=(1500,), seed=1)
>>> services = RetrainingServices(ModelRegistry(train_champion(events[:500])))
>>> [i for i, e in enumerate(events[500:], 500) if services.monitor.update(e)]
[1523]
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from river import drift, linear_model, metrics, optim, preprocessing
from river.datasets import synth

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.runtime.app import App

__all__ = ["STEPS", "DriftMonitor", "FailurePlan", "LabelCollector", "ModelRegistry",
           "Participant", "RetrainingServices", "StepFailed", "decide", "drifting_stream",
           "evaluate", "logistic_model", "train_challenger", "train_champion",
           "WorkflowStyle", "workflow_ids"]

#: The workflow's steps, in order.
STEPS = ("collect", "train", "evaluate", "deploy")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class StepFailed(EdalabError, RuntimeError):
    """A workflow step failed (here: injected by a `FailurePlan`)."""


@dataclass(frozen=True)
class FailurePlan:
    """Which step fails, how, and on which workflow runs.

    Parameters
    ----------
    step
        One of `STEPS`, or None for no failure.
    mode
        ``"error"``: the step raises and its service reports the failure;
        ``"hang"``: the service takes the request and never answers.
    runs
        Workflow runs (1-based, in order of drift detection) on which the step fails.

    >>> plan = FailurePlan("evaluate", "hang", runs=(2,))
    >>> plan.fails("evaluate", 1), plan.fails("evaluate", 2), plan.fails("train", 2)
    (False, True, False)
    """

    step: str | None = None
    mode: str = "error"
    runs: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if self.step is not None and self.step not in STEPS:
            raise ValueError(f"step must be one of {STEPS} or None, got {self.step!r}")
        if self.mode not in ("error", "hang"):
            raise ValueError(f"mode must be 'error' or 'hang', got {self.mode!r}")

    def fails(self, step: str, run: int) -> bool:
        return step == self.step and run in self.runs


# -- data and models -----------------------------------------------------------------------

def drifting_stream(n: int = 6000, *, drifts: tuple[int, ...] = (2000, 4000), width: int = 50,
                    every: float = 1.0, start: datetime = T0, seed: int = 0) -> list[Event]:
    """A labelled stream whose concept flips at each of `drifts` (river's SINE1 and its
    reversal), as ``sample.labelled`` events one every `every` seconds of event time.

    >>> e = drifting_stream(10, drifts=(5,), seed=0)[0]
    >>> e.type, sorted(e.data["x"]), e.data["y"] in (0, 1)
    ('sample.labelled', ['x0', 'x1'], True)
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if list(drifts) != sorted(drifts) or any(not 0 < d < n for d in drifts):
        raise ValueError(f"drifts must be increasing positions in (0, {n}), got {drifts}")
    stream = synth.Sine(classification_function=len(drifts) % 2, seed=seed + len(drifts))
    for k in range(len(drifts) - 1, -1, -1):  # nest: concept k until drifts[k], then the next
        before = synth.Sine(classification_function=k % 2, seed=seed + k)
        stream = synth.ConceptDriftStream(before, stream, position=drifts[k] - (drifts[k - 1]
                                          if k else 0), width=width, seed=seed + k)
    step = timedelta(seconds=every)
    return [Event("sample.labelled", "/stream", {"i": i, "x": {f"x{j}": v for j, v in x.items()},
                                                  "y": int(y)},
                  key="stream", time=start + i * step, id=f"sample-{i}")
            for i, (x, y) in enumerate(stream.take(n))]


def logistic_model(lr: float = 0.1):
    """The model of both champion and challenger: ``StandardScaler | LogisticRegression``."""
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(
        optimizer=optim.SGD(lr))


def _xy(event_or_row: Any) -> tuple[dict, int]:
    data = event_or_row.data if isinstance(event_or_row, Event) else event_or_row
    return data["x"], data["y"]


def train_champion(events: list[Event]):
    """The first champion: `logistic_model` trained on `events` in one pass."""
    model = logistic_model()
    for e in events:
        model.learn_one(*_xy(e))
    return model


def train_challenger(rows: list[dict], *, epochs: int = 2, seed: int = 0):
    """A fresh `logistic_model` trained on `rows` (``{"x", "y"}`` dicts) for `epochs` seeded
    shuffled passes."""
    if not rows:
        raise ValueError("cannot train a challenger on no rows")
    rng = random.Random(seed)
    model = logistic_model()
    order = list(rows)
    for _ in range(epochs):
        rng.shuffle(order)
        for row in order:
            model.learn_one(*_xy(row))
    return model


def evaluate(champion, challenger, holdout: list[dict]) -> dict[str, float]:
    """Accuracy of both models on `holdout` (river's `metrics.Accuracy`)."""
    if not holdout:
        raise ValueError("cannot evaluate on an empty holdout")
    scores = {"champion": metrics.Accuracy(), "challenger": metrics.Accuracy()}
    for row in holdout:
        x, y = _xy(row)
        scores["champion"].update(y, champion.predict_one(x))
        scores["challenger"].update(y, challenger.predict_one(x))
    return {name: round(m.get(), 4) for name, m in scores.items()}


def decide(scores: dict[str, float], margin: float = 0.01) -> str:
    """``"promote"`` when the challenger beats the champion by more than `margin`, else
    ``"rollback"``.

    >>> decide({"champion": 0.52, "challenger": 0.91}), decide({"champion": 0.9,
    ...                                                          "challenger": 0.9})
    ('promote', 'rollback')
    """
    return "promote" if scores["challenger"] - scores["champion"] > margin else "rollback"


class ModelRegistry:
    """Models and datasets by id, the champion pointer, and a log of what changed.

    Parameters
    ----------
    champion
        The first champion; registered as ``v1``.
    """

    def __init__(self, champion) -> None:
        self.models: dict[str, Any] = {"v1": champion}
        self.champion_version = "v1"
        self.candidates: set[str] = set()
        self.datasets: dict[str, dict[str, list[dict]]] = {}
        self.log: list[tuple[str, str, str]] = []  # (action, id, workflow)

    def __repr__(self) -> str:
        return (f"ModelRegistry(champion={self.champion_version!r}, models={len(self.models)}, "
                f"candidates={sorted(self.candidates)})")

    def champion(self):
        return self.models[self.champion_version]

    def add_dataset(self, workflow: str, train: list[dict], holdout: list[dict]) -> str:
        name = f"data-{workflow}"
        self.datasets[name] = {"train": train, "holdout": holdout}
        self.log.append(("dataset", name, workflow))
        return name

    def register(self, model, workflow: str) -> str:
        """Add `model` as a candidate; returns its version."""
        version = f"v{len(self.models) + 1}"
        self.models[version] = model
        self.candidates.add(version)
        self.log.append(("register", version, workflow))
        return version

    def _candidate(self, version: str) -> None:
        if version not in self.candidates:
            raise ValueError(f"{version!r} is not a candidate (candidates: "
                             f"{sorted(self.candidates)})")

    def promote(self, version: str, workflow: str) -> str:
        """Make candidate `version` the champion; returns the previous champion's version."""
        self._candidate(version)
        previous, self.champion_version = self.champion_version, version
        self.candidates.discard(version)
        self.log.append(("promote", version, workflow))
        return previous

    def discard(self, version: str, workflow: str) -> bool:
        """Drop candidate `version` (a no-op returning False when it is not one: idempotent)."""
        if version not in self.candidates:
            return False
        self.candidates.discard(version)
        self.log.append(("discard", version, workflow))
        return True


class DriftMonitor:
    """Scores each labelled sample with the registry's champion and feeds its error to ADWIN;
    `update` is True when a drift is detected (then quiet for `cooldown` samples)."""

    def __init__(self, registry: ModelRegistry, *, delta: float = 0.002, cooldown: int = 600):
        self.registry = registry
        self.delta = delta
        self.cooldown = cooldown
        self.detector = drift.ADWIN(delta=delta)
        self.quiet = 0
        self.detections = 0
        self.accuracy = metrics.Accuracy()  # of the serving champion, over the whole stream

    def update(self, sample: Event) -> bool:
        x, y = _xy(sample)
        predicted = self.registry.champion().predict_one(x)
        self.accuracy.update(y, predicted)
        self.detector.update(int(predicted != y))
        if self.quiet:
            self.quiet -= 1
            return False
        if self.detector.drift_detected:
            self.detector = drift.ADWIN(delta=self.delta)
            self.quiet = self.cooldown
            self.detections += 1
            return True
        return False


class LabelCollector:
    """Collects, per request, the first `n` labelled samples after a given time.

    Keeps the last `n` samples, so a request handled late still gets the samples it asked for.
    `add` and `request` return the requests they completed as ``(workflow, rows)``.
    """

    def __init__(self, n: int = 400):
        if n < 2:
            raise ValueError(f"n must be >= 2, got {n}")
        self.n = n
        self.recent: deque[Event] = deque(maxlen=n)
        self.pending: dict[str, tuple[datetime, list[dict]]] = {}

    def request(self, workflow: str, after: datetime) -> list[tuple[str, list[dict]]]:
        self.pending[workflow] = (after, [e.data for e in self.recent if e.time > after])
        return self._complete()

    def add(self, sample: Event) -> list[tuple[str, list[dict]]]:
        self.recent.append(sample)
        for after, rows in self.pending.values():
            if sample.time > after:
                rows.append(sample.data)
        return self._complete() if self.pending else []

    def _complete(self) -> list[tuple[str, list[dict]]]:
        done = [(w, rows[:self.n]) for w, (_, rows) in self.pending.items()
                if len(rows) >= self.n]
        for w, _ in done:
            del self.pending[w]
        return done


class RetrainingServices:
    """The workflow's steps with their state (registry, monitor, collector) and the failure
    plan; both styles call these, so they run the same ML.

    Parameters
    ----------
    registry
        Models and datasets.
    n_collect
        Labelled samples collected after a drift; `holdout` of them are held out.
    failures
        Which step fails on which run.
    seed
        Seeds the challengers' training (plus the run number).
    """

    def __init__(self, registry: ModelRegistry, *, n_collect: int = 400,
                 holdout: float = 0.3, epochs: int = 2, margin: float = 0.01,
                 cooldown: int = 600, failures: FailurePlan | None = None, seed: int = 0):
        if not 0 < holdout < 1:
            raise ValueError(f"holdout must be in (0, 1), got {holdout}")
        self.registry = registry
        self.monitor = DriftMonitor(registry, cooldown=cooldown)
        self.collector = LabelCollector(n_collect)
        self.holdout = holdout
        self.epochs = epochs
        self.margin = margin
        self.failures = failures or FailurePlan()
        self.seed = seed

    def check(self, step: str, run: int) -> bool:
        """Raise `StepFailed` if the plan fails `step` on `run` by error; True if it hangs."""
        if self.failures.fails(step, run):
            if self.failures.mode == "hang":
                return True
            raise StepFailed(f"{step} failed on run {run} (injected)")
        return False

    def store_dataset(self, workflow: str, rows: list[dict]) -> str:
        cut = round(len(rows) * (1 - self.holdout))
        return self.registry.add_dataset(workflow, rows[:cut], rows[cut:])

    def train(self, workflow: str, dataset: str, run: int) -> str:
        rows = self.registry.datasets[dataset]["train"]
        model = train_challenger(rows, epochs=self.epochs, seed=self.seed + run)
        return self.registry.register(model, workflow)

    def evaluate(self, dataset: str, version: str) -> dict[str, float]:
        return evaluate(self.registry.champion(), self.registry.models[version],
                        self.registry.datasets[dataset]["holdout"])

    def deploy(self, workflow: str, version: str, action: str) -> str:
        """Promote or roll back (discard) the challenger; returns the emitted event type."""
        if action == "promote":
            self.registry.promote(version, workflow)
            return "model.promoted"
        self.registry.discard(version, workflow)
        return "model.rolled_back"


# -- participants ----------------------------------------------------------------------------

class Participant:
    """A named participant whose subscriptions and emitted event types are declared, wired
    into an `App` as handlers.

    ``@p.on(topic, *types)`` registers a handler for those event types on `topic` (consumer
    group = the participant's name; other types on the topic are ignored). Handlers return
    events made with `emit`; an event of a type not in `emits` is refused (the handler's event
    is nacked and in the end dead-lettered), so the declarations are what the code does.

    Parameters
    ----------
    name
        The participant; its events' source is ``/<name>``.
    app
        The app to register in.
    emits
        Event type -> the topic it is published to.

    >>> app = App()
    >>> echo = Participant("echo", app, emits={"pong": "out"})
    >>> @echo.on("in", "ping")
    ... def reply(event):
    ...     return echo.emit("pong", {"workflow": "w1"}, cause=event)
    >>> ping = Event("ping", "/test", {"workflow": "w1"}, time=T0, id="p1")
    >>> [(e.type, e.source, e.key, e.extensions["causation"]) for e in reply.test(ping)]
    [('pong', '/echo', 'w1', 'p1')]
    >>> echo.subscriptions
    {'in': ('ping',)}
    """

    def __init__(self, name: str, app: App, *, emits: dict[str, str]):
        if not name or not isinstance(name, str):
            raise ValueError(f"a participant needs a non-empty name, got {name!r}")
        self.name = name
        self.app = app
        self.emits = dict(emits)
        self.subscriptions: dict[str, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return (f"Participant({self.name!r}, subscribes={self.subscriptions}, "
                f"emits={self.emits})")

    def on(self, topic: str, *types: str) -> Callable[[Callable], Any]:
        if not types:
            raise ValueError(f"{self.name}: declare the event types handled on {topic!r}")
        if topic in self.subscriptions:
            raise ValueError(f"{self.name} already subscribes to {topic!r}")
        self.subscriptions[topic] = types
        accepted = frozenset(types)

        def register(fn: Callable[[Event], Any]):
            def handle(event: Event):
                if event.type not in accepted:
                    return None
                out = fn(event)
                for e in out if isinstance(out, list) else [out] if out is not None else []:
                    if e.type not in self.emits:
                        raise ValueError(f"{self.name} emitted {e.type!r}, which it does not "
                                         f"declare (declared: {sorted(self.emits)})")
                return out
            handle.__name__ = f"{self.name}@{topic}"
            return self.app.handler(topic, group=self.name, output=self._route)(handle)
        return register

    def _route(self, event: Event) -> str:
        return self.emits[event.type]

    def emit(self, type: str, data: dict, *, cause: Event) -> Event:
        """An event of `type` from this participant, caused by `cause`: keyed by the workflow,
        at the app's clock (never before its cause), with `causation` and `wallns`."""
        when = max(self.app.now(), cause.time)
        return Event(type, f"/{self.name}", data, key=data.get("workflow"), time=when,
                     extensions={"causation": cause.id, "wallns": time.time_ns()})


class WorkflowStyle:
    """What choreography and orchestration share: participants on one app, emitting to the
    style's topics, and the drift monitor that starts each workflow."""

    services: RetrainingServices
    app: Any
    topics: dict[str, str]
    participants: list[Participant]

    def _setup(self, services: RetrainingServices, app: App | None, prefix: str,
               topics: tuple[str, ...]) -> None:
        """The attributes both styles start with: services, app, prefix, the topics
        ``<prefix>.<name>`` and no participants yet."""
        self.services = services
        self.app = app if app is not None else App()
        self.prefix = prefix
        self.topics = {name: f"{prefix}.{name}" for name in topics}
        self.participants = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(participants={[p.name for p in self.participants]})"

    def _participant(self, name: str, emits: dict[str, str]) -> Participant:
        p = Participant(name, self.app, emits={t: self.topics[topic] for t, topic in
                                               emits.items()})
        self.participants.append(p)
        return p

    def _monitor(self) -> None:
        """On each labelled sample, update the drift monitor; on a detection, emit
        ``drift.detected`` (a new workflow)."""
        detector = self.services.monitor
        p = self._participant("monitor", {"drift.detected": "drift"})

        @p.on(self.topics["samples"], "sample.labelled")
        def monitor(event: Event):  # the handler's name is its consumer group's
            if detector.update(event):
                run = detector.detections
                return p.emit("drift.detected", {"workflow": f"wf-{run}", "run": run,
                                                 "sample": event.data["i"]}, cause=event)


def workflow_ids(event: Event) -> dict:
    """The workflow and run a retraining event belongs to, to carry into the next event."""
    return {"workflow": event.data["workflow"], "run": event.data["run"]}
