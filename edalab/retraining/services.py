"""The retraining workflow's steps and their state, shared by choreography and orchestration:
the `ModelRegistry`, the `DriftWatch` that starts each workflow, the `LabelCollector`, and the
`FailurePlan` that makes a step fail or hang.

A deployed *champion* (``StandardScaler | LogisticRegression``) scores a labelled stream with
concept drift; an ADWIN detector on its errors starts a workflow: **collect** the next labelled
samples, **train** a challenger on the first part, **evaluate** champion and challenger on the
held-out rest, then **deploy**: promote the challenger if it is better, else roll back (discard
it). Models and datasets live in a `ModelRegistry` (the artifact store every ML platform has);
events carry only their ids.

>>> from edalab.retraining.models import drifting_stream, train_champion
>>> events = drifting_stream(3000, drifts=(1500,), seed=1)
>>> services = RetrainingServices(ModelRegistry(train_champion(events[:500])))
>>> [i for i, e in enumerate(events[500:], 500) if services.monitor.update(e)]
[1523]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from river import drift, metrics

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.retraining.models import evaluate, sample_xy, train_challenger

__all__ = ["STEPS", "DriftWatch", "FailurePlan", "LabelCollector", "ModelRegistry",
           "RetrainingServices", "StepFailed"]

#: The workflow's steps, in order.
STEPS = ("collect", "train", "evaluate", "deploy")


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


class DriftWatch:
    """Scores each labelled sample with the registry's champion and feeds its error to ADWIN;
    `update` is True when a drift is detected (then quiet for `cooldown` samples). Not an
    operator like `edalab.ml.DriftMonitor`: it watches whichever model the registry serves."""

    def __init__(self, registry: ModelRegistry, *, delta: float = 0.002, cooldown: int = 600):
        self.registry = registry
        self.delta = delta
        self.cooldown = cooldown
        self.detector = drift.ADWIN(delta=delta)
        self.quiet = 0
        self.detections = 0
        self.accuracy = metrics.Accuracy()  # of the serving champion, over the whole stream

    def update(self, sample: Event) -> bool:
        x, y = sample_xy(sample)
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
        self.monitor = DriftWatch(registry, cooldown=cooldown)
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
