"""`PatientEpisode`: the health case study's hospital episode as an event-sourced aggregate.

Commands: `admit` (to a ward, with the admission NEWS2 score), `escalate` (to a higher level of
care: ``ward`` < ``urgent`` < ``emergency``, with the NEWS2 score that triggered it) and
`resolve` (discharge with an outcome). A resolved episode accepts no more commands.

>>> from datetime import datetime, timezone
>>> from edalab.patterns.aggregate import Repository
>>> from edalab.patterns.eventstore import MemoryEventStore
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> episodes = Repository(MemoryEventStore(), PatientEpisode)
>>> ep = episodes.load("ep-1")
>>> episodes.save(ep, ep.admit("p-9", ward="respiratory", news2=3, at=t0))
>>> episodes.save(ep, ep.escalate("urgent", news2=6, reason="NEWS2 >= 5", at=t0))
>>> episodes.save(ep, ep.resolve("discharged", at=t0))
>>> ep.state["level"], ep.state["max_news2"], ep.state["status"]
('urgent', 6, 'resolved')
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edalab.events import Event
from edalab.patterns.aggregate import Aggregate, CommandError, applies

__all__ = ["LEVELS", "PatientEpisode"]

#: Levels of care, lowest first.
LEVELS = ("ward", "urgent", "emergency")


class PatientEpisode(Aggregate):
    """One hospital episode: admitted, escalated through levels of care, resolved."""

    source = "/edalab/wards"

    def initial_state(self) -> dict[str, Any]:
        return {"status": "new", "patient": None, "ward": None, "level": None,
                "escalations": 0, "max_news2": None, "outcome": None}

    def admit(self, patient: str, ward: str, news2: int, at: datetime | None = None
              ) -> list[Event]:
        if self.state["status"] != "new":
            raise CommandError(f"episode {self.id} is already {self.state['status']}")
        _check_news2(news2)
        return [self.event("episode.admitted", {"patient": patient, "ward": ward,
                                                "news2": news2}, at)]

    def escalate(self, level: str, news2: int, reason: str, at: datetime | None = None
                 ) -> list[Event]:
        self._require_active()
        if level not in LEVELS:
            raise CommandError(f"level must be one of {LEVELS}, got {level!r}")
        if LEVELS.index(level) <= LEVELS.index(self.state["level"]):
            raise CommandError(f"episode {self.id} is at {self.state['level']!r}; escalation "
                               f"must go higher than that, not to {level!r}")
        _check_news2(news2)
        return [self.event("episode.escalated", {"level": level, "news2": news2,
                                                 "reason": reason}, at)]

    def resolve(self, outcome: str, at: datetime | None = None) -> list[Event]:
        self._require_active()
        return [self.event("episode.resolved", {"outcome": outcome}, at)]

    def _require_active(self) -> None:
        if self.state["status"] != "active":
            raise CommandError(f"episode {self.id} is {self.state['status']}, not active")

    @applies("episode.admitted")
    def _admitted(self, event: Event) -> None:
        d = event.data
        self.state.update(status="active", patient=d["patient"], ward=d["ward"], level="ward",
                          max_news2=d["news2"])

    @applies("episode.escalated")
    def _escalated(self, event: Event) -> None:
        d = event.data
        self.state.update(level=d["level"], escalations=self.state["escalations"] + 1,
                          max_news2=max(self.state["max_news2"], d["news2"]))

    @applies("episode.resolved")
    def _resolved(self, event: Event) -> None:
        self.state.update(status="resolved", outcome=event.data["outcome"])


def _check_news2(score: Any) -> None:
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 20:
        raise CommandError(f"a NEWS2 total is an int in [0, 20], got {score!r}")
