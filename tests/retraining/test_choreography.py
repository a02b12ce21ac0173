from __future__ import annotations

import pytest

from edalab import App, MemoryBroker
from edalab.retraining import (
    Choreography,
    FailurePlan,
    ModelRegistry,
    RetrainingServices,
    drifting_stream,
    train_champion,
)

SAMPLES = drifting_stream(3000, drifts=(1500,), seed=1)


def run(failures=None, broker=None):
    services = RetrainingServices(ModelRegistry(train_champion(SAMPLES[:500])),
                                  failures=failures)
    flow = Choreography(services, App(broker) if broker else None)
    stats = flow.run(SAMPLES[500:])
    types = {t: [r.event.type for r in flow.app.broker.read(t)] for t in flow.topics.values()}
    return flow, stats, types


def test_drift_retrains_and_promotes_a_better_challenger():
    flow, stats, types = run()
    assert types["choreography.drift"] == ["drift.detected"]
    assert types["choreography.deployments"] == ["model.promoted"]
    assert flow.services.registry.champion_version == "v2"
    assert stats.dead_letters == 0 and stats.final_lag == 0


def test_failed_evaluation_makes_the_trainer_discard_its_challenger():
    flow, _, types = run(FailurePlan("evaluate", "error"))
    assert types["choreography.evaluations"] == ["evaluation.failed"]
    assert types["choreography.models"] == ["challenger.trained", "challenger.discarded"]
    registry = flow.services.registry
    assert registry.champion_version == "v1" and registry.candidates == set()


def test_failed_deployment_is_compensated_too():
    flow, _, types = run(FailurePlan("deploy", "error"))
    assert types["choreography.deployments"] == ["deployment.failed"]
    assert types["choreography.models"][-1] == "challenger.discarded"


def test_a_hanging_service_leaves_the_workflow_stuck_with_an_orphan():
    flow, _, types = run(FailurePlan("evaluate", "hang"))
    assert types["choreography.evaluations"] == []
    assert flow.services.registry.candidates == {"v2"}  # nobody owns a deadline


def test_events_carry_workflow_causation_and_sender():
    _, _, _ = flow, _, _ = run()
    trained = flow.app.broker.read("choreography.models")[0].event
    collected = flow.app.broker.read("choreography.data")[0].event
    assert trained.source == "/trainer" and trained.key == "wf-1"
    assert trained.extensions["causation"] == collected.id


def test_runs_on_a_shared_broker_with_prefixed_topics():
    broker = MemoryBroker()
    run(broker=broker)
    assert "choreography.samples" in broker.topics()


def test_failure_plan_rejects_unknown_step_and_mode():
    with pytest.raises(ValueError, match="step"):
        FailurePlan("predict")
    with pytest.raises(ValueError, match="mode"):
        FailurePlan("train", "slow")
