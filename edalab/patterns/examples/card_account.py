"""`CardAccount`: the fraud case study's card as an event-sourced aggregate.

Commands: `open`, `authorise` (approved within the limit while the card is active, otherwise a
*declined* event records why), `flag` (a fraud score from a model; the third flag blocks the
card), `block` and `unblock`. Invalid commands (a negative amount, blocking a blocked card)
raise `CommandError` and emit nothing.

Schema evolution: ``card.flagged`` is at schema 2 (``{"score": 0..1, "reason": ...}``); the
first release wrote schema 1 (``{"risk": percent}``). `card_upcasters` lifts those on read.

>>> from datetime import datetime, timezone
>>> from edalab.patterns.aggregate import Repository
>>> from edalab.patterns.eventstore import MemoryEventStore
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> cards = Repository(MemoryEventStore(), CardAccount)
>>> card = cards.load("card-7")
>>> cards.save(card, card.open(limit=100.0, at=t0))
>>> cards.save(card, card.authorise(60.0, "m1", at=t0))
>>> [e.data["reason"] for e in card.authorise(50.0, "m2", at=t0)]
['over limit']
>>> cards.save(card, card.block("lost", at=t0))
>>> card.state["status"], card.state["spent"], card.version
('blocked', 60.0, 3)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edalab.events import Event
from edalab.patterns.aggregate import Aggregate, CommandError, applies
from edalab.patterns.eventstore.upcasting import Upcasters

__all__ = ["CardAccount", "card_upcasters"]

#: Flags that block a card on their own.
FLAGS_TO_BLOCK = 3


class CardAccount(Aggregate):
    """A payment card: limit, spending, fraud flags and an active/blocked status."""

    source = "/edalab/cards"

    def initial_state(self) -> dict[str, Any]:
        return {"status": "new", "limit": 0.0, "spent": 0.0, "authorised": 0, "declined": 0,
                "flags": 0, "block_reason": None}

    # -- commands: validate, return events ---------------------------------------------------

    def open(self, limit: float, at: datetime | None = None) -> list[Event]:
        if self.state["status"] != "new":
            raise CommandError(f"card {self.id} is already open")
        if not limit > 0:
            raise CommandError(f"a card limit must be positive, got {limit}")
        return [self.event("card.opened", {"limit": float(limit)}, at)]

    def authorise(self, amount: float, merchant: str, at: datetime | None = None
                  ) -> list[Event]:
        self._require_open()
        if not amount > 0:
            raise CommandError(f"an authorisation amount must be positive, got {amount}")
        reason = None
        if self.state["status"] == "blocked":
            reason = "card blocked"
        elif self.state["spent"] + amount > self.state["limit"]:
            reason = "over limit"
        data = {"amount": float(amount), "merchant": merchant}
        if reason:
            return [self.event("card.declined", {**data, "reason": reason}, at)]
        return [self.event("card.authorised", data, at)]

    def flag(self, score: float, reason: str, at: datetime | None = None) -> list[Event]:
        self._require_open()
        if not 0.0 <= score <= 1.0:
            raise CommandError(f"a fraud score must be in [0, 1], got {score}")
        events = [self.event("card.flagged", {"score": float(score), "reason": reason}, at,
                             schema=2)]
        if self.state["status"] == "active" and self.state["flags"] + 1 >= FLAGS_TO_BLOCK:
            events.append(self.event("card.blocked", {"reason": f"{FLAGS_TO_BLOCK} flags"}, at))
        return events

    def block(self, reason: str, at: datetime | None = None) -> list[Event]:
        self._require_open()
        if self.state["status"] == "blocked":
            raise CommandError(f"card {self.id} is already blocked")
        return [self.event("card.blocked", {"reason": reason}, at)]

    def unblock(self, at: datetime | None = None) -> list[Event]:
        if self.state["status"] != "blocked":
            raise CommandError(f"card {self.id} is not blocked")
        return [self.event("card.unblocked", {}, at)]

    def _require_open(self) -> None:
        if self.state["status"] == "new":
            raise CommandError(f"card {self.id} is not open")

    # -- the fold ------------------------------------------------------------------------------

    @applies("card.opened")
    def _opened(self, event: Event) -> None:
        self.state.update(status="active", limit=event.data["limit"])

    @applies("card.authorised")
    def _authorised(self, event: Event) -> None:
        self.state["spent"] = round(self.state["spent"] + event.data["amount"], 2)
        self.state["authorised"] += 1

    @applies("card.declined")
    def _declined(self, event: Event) -> None:
        self.state["declined"] += 1

    @applies("card.flagged")
    def _flagged(self, event: Event) -> None:
        self.state["flags"] += 1

    @applies("card.blocked")
    def _blocked(self, event: Event) -> None:
        self.state.update(status="blocked", block_reason=event.data["reason"])

    @applies("card.unblocked")
    def _unblocked(self, event: Event) -> None:
        self.state.update(status="active", block_reason=None, flags=0)


def _flagged_v1_to_v2(event: Event) -> Event:
    # Schema 1 held a risk in percent and no reason.
    return event.replace(id=event.id, data={"score": event.data["risk"] / 100,
                                            "reason": "legacy rule"})


def card_upcasters() -> Upcasters:
    """The upcasters for `CardAccount` events written by earlier releases.

    >>> from datetime import datetime, timezone
    >>> old = Event("card.flagged", "/edalab/cards", {"risk": 85}, key="c1",
    ...             time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    >>> card_upcasters().upcast(old).data
    {'score': 0.85, 'reason': 'legacy rule'}
    """
    return Upcasters({("card.flagged", 1): _flagged_v1_to_v2})
