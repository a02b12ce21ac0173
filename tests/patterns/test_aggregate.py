"""Aggregates: commands validate and return events without changing state; a repository
loads by snapshot + replay, saves with optimistic concurrency, and travels back in time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edalab.patterns.aggregate import Aggregate, CommandError, Repository, applies
from edalab.patterns.eventstore import ConcurrencyError, MemoryEventStore
from edalab.patterns.examples import CardAccount, PatientEpisode

from .test_eventstore import BACKENDS

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=sorted(BACKENDS))
def store(request, tmp_path):
    s = BACKENDS[request.param](tmp_path)
    yield s
    s.close()


def opened_card(repo: Repository, id: str = "card-1", limit: float = 100.0) -> CardAccount:
    card = repo.load(id)
    repo.save(card, card.open(limit, at=T0))
    return card


def test_commands_return_events_and_do_not_mutate_state():
    card = CardAccount("c")
    events = card.open(50.0, at=T0)
    assert [e.type for e in events] == ["card.opened"] and card.state["status"] == "new"
    assert events[0].key == "c" and events[0].subject == "c"


def test_invalid_commands_raise_command_error():
    card = CardAccount("c")
    with pytest.raises(CommandError, match="not open"):
        card.authorise(5.0, "m")
    card.apply(card.open(50.0)[0])
    with pytest.raises(CommandError, match="positive"):
        card.authorise(-1.0, "m")
    with pytest.raises(CommandError, match="not blocked"):
        card.unblock()


def test_card_declines_over_limit_and_when_blocked(store):
    repo = Repository(store, CardAccount)
    card = opened_card(repo)
    repo.save(card, card.authorise(80.0, "m1", at=T0))
    assert card.authorise(30.0, "m2", at=T0)[0].data["reason"] == "over limit"
    repo.save(card, card.block("stolen", at=T0))
    assert card.authorise(1.0, "m3", at=T0)[0].data["reason"] == "card blocked"
    repo.save(card, card.unblock(at=T0))
    assert repo.load("card-1").state["status"] == "active"


def test_third_flag_blocks_the_card():
    card = CardAccount("c")
    card.apply(card.open(50.0, at=T0)[0])
    for _ in range(2):
        (flagged,) = card.flag(0.9, "model", at=T0)
        card.apply(flagged)
    assert [e.type for e in card.flag(0.95, "model", at=T0)] == ["card.flagged", "card.blocked"]


def test_patient_episode_escalates_only_upwards_and_closes_on_resolve(store):
    repo = Repository(store, PatientEpisode)
    ep = repo.load("ep")
    repo.save(ep, ep.admit("p1", "ward-3", news2=2, at=T0))
    repo.save(ep, ep.escalate("emergency", news2=9, reason="NEWS2 >= 7", at=T0))
    with pytest.raises(CommandError, match="higher"):
        ep.escalate("urgent", news2=5, reason="x")
    repo.save(ep, ep.resolve("icu transfer", at=T0))
    with pytest.raises(CommandError, match="resolved"):
        ep.escalate("emergency", news2=9, reason="x")
    assert repo.load("ep").state == ep.state


def test_stale_aggregate_save_raises_concurrency_error(store):
    repo = Repository(store, CardAccount)
    opened_card(repo)
    first, second = repo.load("card-1"), repo.load("card-1")
    repo.save(first, first.authorise(10.0, "m1", at=T0))
    with pytest.raises(ConcurrencyError):
        repo.save(second, second.authorise(10.0, "m2", at=T0))
    assert store.version("card-1") == 2 and second.version == 1


def test_execute_retries_a_conflicting_command_on_fresh_state(store):
    repo = Repository(store, CardAccount)
    opened_card(repo)
    stale = repo.load("card-1")
    calls = []

    def authorise(card):
        calls.append(card.version)
        if len(calls) == 1:  # another writer gets in between load and save
            repo.save(stale, stale.authorise(95.0, "other", at=T0))
        return card.authorise(10.0, "me", at=T0)
    card = repo.execute("card-1", authorise)
    assert calls == [1, 2] and card.state["declined"] == 1  # validated again: over limit now


def test_load_uses_the_snapshot_and_equals_full_replay(store):
    repo = Repository(store, CardAccount, snapshot_every=3)
    card = opened_card(repo)
    for i in range(7):
        repo.save(card, card.authorise(1.0, f"m{i}", at=T0))
    assert store.load_snapshot("card-1").version == 6
    replayed = CardAccount.replay("card-1", [s.event for s in store.read("card-1")])
    loaded = repo.load("card-1")
    assert loaded.state == replayed.state == card.state and loaded.version == 8


def test_time_travel_loads_any_past_version(store):
    repo = Repository(store, CardAccount, snapshot_every=2)
    card = opened_card(repo)
    for amount in (10.0, 20.0, 30.0):
        repo.save(card, card.authorise(amount, "m", at=T0))
    assert [repo.load("card-1", version=v).state["spent"] for v in range(1, 5)] == [
        0.0, 10.0, 30.0, 60.0]


def test_unknown_event_type_names_the_missing_applier():
    class Empty(Aggregate):
        @applies("a.happened")
        def _a(self, event):
            pass
    with pytest.raises(ValueError, match=r"no @applies\('b.happened'\)"):
        Empty("x").apply(CardAccount("x").event("b.happened", {}))


def test_repository_refuses_a_non_aggregate_class():
    with pytest.raises(TypeError, match="Aggregate subclass"):
        Repository(MemoryEventStore(), dict)
