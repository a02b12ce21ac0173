"""Choreography: the retraining workflow as services that only react to events.

No participant knows the whole workflow. Each subscribes to the events it needs and emits its
own; the order of the steps exists only in who listens to what:

- ``monitor``: ``sample.labelled`` -> ``drift.detected``
- ``collector``: ``drift.detected`` (+ samples) -> ``data.collected`` | ``collection.failed``
- ``trainer``: ``data.collected`` -> ``challenger.trained`` | ``training.failed``; and, as the
  owner of the challenger, compensates on ``evaluation.failed`` / ``deployment.failed`` ->
  ``challenger.discarded``
- ``evaluator``: ``challenger.trained`` -> ``challenger.evaluated`` | ``evaluation.failed``
- ``deployer``: ``challenger.evaluated`` -> ``model.promoted`` | ``model.rolled_back`` |
  ``deployment.failed``

A service that hangs stops the workflow where it is: nobody owns a deadline, so nothing times
out and nothing is compensated (the challenger stays a candidate in the registry).

>>> from edalab.retraining import (ModelRegistry, RetrainingServices, drifting_stream,
...                                train_champion)
>>> samples = drifting_stream(3000, drifts=(1500,), seed=1)
>>> services = RetrainingServices(ModelRegistry(train_champion(samples[:500])))
>>> flow = Choreography(services)
>>> stats = flow.run(samples[500:])
>>> [r.event.type for r in flow.app.broker.read("choreography.deployments")]
['model.promoted']
>>> services.registry.champion_version
'v2'
"""

from __future__ import annotations

from edalab.events import Event
from edalab.retraining.models import decide
from edalab.retraining.services import RetrainingServices, StepFailed
from edalab.retraining.workflow import WorkflowStyle, workflow_ids
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats

__all__ = ["Choreography"]


class Choreography(WorkflowStyle):
    """The retraining workflow as reacting services, registered in an `App`.

    Parameters
    ----------
    services
        The workflow's steps and state (shared with the orchestrated version).
    app
        The app (and so the broker) to run on; a new `App` on a `MemoryBroker` by default.
    prefix
        Prefix of every topic, so both styles can share one broker.
    """

    style = "choreography"

    def __init__(self, services: RetrainingServices, app: App | None = None, *,
                 prefix: str = "choreography"):
        self._setup(services, app, prefix,
                    ("samples", "drift", "data", "models", "evaluations", "deployments"))
        self._monitor()
        self._collector()
        self._trainer()
        self._evaluator()
        self._deployer()

    @property
    def source_topics(self) -> list[str]:
        """Topics fed from outside the workflow (not counted as its messages)."""
        return [self.topics["samples"]]

    def run(self, samples: list[Event], *, batch_size: int = 25) -> RunStats:
        """Feed `samples` and run until every handler is drained (virtual time)."""
        self.app.source(self.topics["samples"], samples)
        return self.app.run(batch_size=batch_size)

    # -- the services ----------------------------------------------------------------------

    def _collector(self) -> None:
        s, t = self.services, self.topics
        p = self._participant("collector", {"data.collected": "data",
                                            "collection.failed": "data"})
        waiting: dict[str, Event] = {}

        def collected(done: list[tuple[str, list[dict]]]) -> list[Event]:
            out = []
            for workflow, rows in done:
                cause = waiting.pop(workflow)
                dataset = s.store_dataset(workflow, rows)
                out.append(p.emit("data.collected", {**workflow_ids(cause), "dataset": dataset},
                                  cause=cause))
            return out

        @p.on(t["samples"], "sample.labelled")
        def collect_samples(event: Event):
            return collected(s.collector.add(event))

        @p.on(t["drift"], "drift.detected")
        def collect(event: Event):
            try:
                if s.check("collect", event.data["run"]):
                    return None
            except StepFailed as exc:
                return p.emit("collection.failed", {**workflow_ids(event), "error": str(exc)},
                              cause=event)
            waiting[event.data["workflow"]] = event
            return collected(s.collector.request(event.data["workflow"], event.time))

    def _trainer(self) -> None:
        s, t = self.services, self.topics
        p = self._participant("trainer", {"challenger.trained": "models",
                                          "training.failed": "models",
                                          "challenger.discarded": "models"})

        @p.on(t["data"], "data.collected")
        def train(event: Event):
            ids = workflow_ids(event)
            try:
                if s.check("train", ids["run"]):
                    return None
                version = s.train(ids["workflow"], event.data["dataset"], ids["run"])
            except StepFailed as exc:
                return p.emit("training.failed", {**ids, "error": str(exc)}, cause=event)
            return p.emit("challenger.trained", {**ids, "dataset": event.data["dataset"],
                                                 "version": version}, cause=event)

        def discard(event: Event):  # compensation: the trainer undoes its own work
            s.registry.discard(event.data["version"], event.data["workflow"])
            return p.emit("challenger.discarded", {**workflow_ids(event),
                                                   "version": event.data["version"]},
                          cause=event)

        p.on(t["evaluations"], "evaluation.failed")(discard)
        p.on(t["deployments"], "deployment.failed")(discard)

    def _evaluator(self) -> None:
        s, t = self.services, self.topics
        p = self._participant("evaluator", {"challenger.evaluated": "evaluations",
                                            "evaluation.failed": "evaluations"})

        @p.on(t["models"], "challenger.trained")
        def evaluate(event: Event):
            ids, data = workflow_ids(event), event.data
            keep = {"dataset": data["dataset"], "version": data["version"]}
            try:
                if s.check("evaluate", ids["run"]):
                    return None
                scores = s.evaluate(data["dataset"], data["version"])
            except StepFailed as exc:
                return p.emit("evaluation.failed", {**ids, **keep, "error": str(exc)},
                              cause=event)
            return p.emit("challenger.evaluated", {**ids, **keep, "scores": scores},
                          cause=event)

    def _deployer(self) -> None:
        s, t = self.services, self.topics
        p = self._participant("deployer", {"model.promoted": "deployments",
                                           "model.rolled_back": "deployments",
                                           "deployment.failed": "deployments"})

        @p.on(t["evaluations"], "challenger.evaluated")
        def deploy(event: Event):
            ids, version = workflow_ids(event), event.data["version"]
            action = decide(event.data["scores"], s.margin)
            try:
                if s.check("deploy", ids["run"]):
                    return None
                kind = s.deploy(ids["workflow"], version, action)
            except StepFailed as exc:
                return p.emit("deployment.failed", {**ids, "version": version,
                                                    "error": str(exc)}, cause=event)
            return p.emit(kind, {**ids, "version": version,
                                 "scores": event.data["scores"]}, cause=event)
