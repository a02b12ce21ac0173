"""What choreography and orchestration of the retraining workflow share: the participants on
one app and the drift watch that starts each workflow."""

from __future__ import annotations

from typing import Any

from edalab.events import Event
from edalab.patterns.participant import Participant
from edalab.retraining.services import RetrainingServices
from edalab.runtime.app import App

__all__ = ["WorkflowStyle", "workflow_ids"]


class WorkflowStyle:
    """What choreography and orchestration share: participants on one app, emitting to the
    style's topics, and the drift watch that starts each workflow."""

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
        """On each labelled sample, update the drift watch; on a detection, emit
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
