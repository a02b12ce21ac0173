from __future__ import annotations

import pytest

from edalab import App, MemoryBroker
from edalab.patterns.aggregate import Repository
from edalab.patterns.eventstore import MemoryEventStore
from edalab.retraining import (
    FailurePlan,
    ModelRegistry,
    Orchestration,
    RetrainingCoordinator,
    RetrainingSaga,
    RetrainingServices,
    drifting_stream,
    train_champion,
)

SAMPLES = drifting_stream(3000, drifts=(1500,), seed=1)


def saga_of(store, workflow="wf-1"):
    return Repository(store, RetrainingSaga).load(f"saga-{workflow}")


def run(failures=None, store=None, **kwargs):
    services = RetrainingServices(ModelRegistry(train_champion(SAMPLES[:500])),
                                  failures=failures)
    store = store if store is not None else MemoryEventStore()
    flow = Orchestration(services, store, **kwargs)
    stats = flow.run(SAMPLES[500:])
    return flow, stats, [s.event for s in store.read("saga-wf-1")]


def replies(flow):
    return [r.event.type for r in flow.app.broker.read("orchestration.replies")]


def test_saga_completes_and_promotes():
    flow, stats, saga = run()
    assert replies(flow) == ["data.collected", "challenger.trained", "challenger.evaluated",
                             "model.promoted"]
    assert saga[-1].type == "saga.completed"
    assert flow.services.registry.champion_version == "v2" and stats.dead_letters == 0


def test_failed_evaluation_is_compensated_by_the_coordinator():
    flow, _, saga = run(FailurePlan("evaluate", "error"))
    assert replies(flow)[-2:] == ["evaluation.failed", "challenger.discarded"]
    assert saga[-1].type == "saga.compensated"
    assert flow.services.registry.candidates == set()


def test_hanging_step_times_out_on_the_virtual_clock_then_compensates():
    flow, _, saga = run(FailurePlan("deploy", "hang"), timeouts={"deploy": 120})
    timed_out = next(e for e in saga if e.type == "saga.step_timed_out")
    started = [e for e in saga if e.type == "saga.step_started"
               and e.data["step"] == "deploy"][0]
    assert (timed_out.time - started.time).total_seconds() >= 120
    assert timed_out.time.isoformat() >= timed_out.data["deadline"]
    assert saga[-1].type == "saga.compensated" and flow.services.registry.candidates == set()


def test_timeout_before_a_challenger_exists_fails_without_compensation():
    _, _, saga = run(FailurePlan("train", "hang"))
    assert [e.type for e in saga][-2:] == ["saga.step_timed_out", "saga.failed"]


def test_crashed_coordinator_rebuilds_from_its_stream_and_resends():
    flow, stats, saga = run(crash_after=("challenger.trained", 1))
    c = flow.coordinator
    # replayed: started, collect, reply, train, and the crashed reply + the evaluate it started
    assert c.recoveries == 1 and c.replayed == 6
    assert saga[-1].type == "saga.completed"
    assert [e.type for e in saga].count("saga.reply_received") == 4  # redelivery not recorded
    assert flow.services.registry.champion_version == "v2"


def test_new_coordinator_process_resumes_a_saga_in_flight():
    broker, store = MemoryBroker(), MemoryEventStore()
    services = RetrainingServices(ModelRegistry(train_champion(SAMPLES[:500])))
    first = Orchestration(services, store, App(broker))
    first.app.source("orchestration.samples", SAMPLES[500:1600])
    first.app.run(batch_size=25)
    first.app.close()  # the process dies: its consumers leave their groups
    assert saga_of(store).status == "collecting"
    recorded = store.version("saga-wf-1")
    second = Orchestration(services, store, App(broker))  # same groups, store and services
    second.coordinator.sagas = None  # a new process: nothing in memory
    second.run(SAMPLES[1600:])
    assert saga_of(store).status == "completed"
    assert second.coordinator.replayed == recorded == 2


def test_saga_fold_rejects_unknown_events():
    from edalab import Event
    with pytest.raises(ValueError, match="saga.exploded"):
        RetrainingSaga("saga-wf-1").apply(Event("saga.exploded", "/x", {}))


def test_timeouts_must_be_known_positive_steps():
    flow, _, _ = run()
    with pytest.raises(ValueError, match="timeouts"):
        RetrainingCoordinator(MemoryEventStore(), flow.coordinator.participant,
                              timeouts={"x": 1})
