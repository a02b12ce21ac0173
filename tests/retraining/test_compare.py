from __future__ import annotations

import pytest

from edalab import MemoryBroker
from edalab.patterns.participant import coupling
from edalab.retraining import FailurePlan, compare, run_style

SMALL = {"n": 3000, "drifts": (1500,), "warmup": 500}


@pytest.fixture(scope="module")
def failed():
    return compare(FailurePlan("evaluate", "error"), **SMALL)


def test_messages_are_counted_from_the_broker(failed):
    table = failed.table()
    for style, run in failed.runs.items():
        topics = [t for t in run.flow.app.broker.topics()
                  if t not in run.flow.source_topics and not t.endswith(".dlq")]
        on_broker = sum(len(run.flow.app.broker.read(t)) for t in topics)
        assert table.loc["messages", style] == on_broker


def test_orchestration_doubles_the_critical_path(failed):
    w = failed.workflows()
    assert w.loc[("choreography", "wf-1"), "critical path (messages)"] == 5
    assert w.loc[("orchestration", "wf-1"), "critical path (messages)"] == 10
    assert set(w.outcome) == {"compensated"}


def test_coupling_comes_from_declared_subscriptions(failed):
    c = failed.coupling()
    assert c.loc[("orchestration", "coordinator"), "partners"] == 5
    assert c.loc[("orchestration", "evaluator"), "talks to"] == "coordinator"
    assert c.loc[("choreography", "trainer"), "talks to"] == "collector, deployer, evaluator"
    participants = failed.runs["choreography"].flow.participants
    participants[0].emits["extra.type"] = participants[0].emits["drift.detected"]
    assert coupling(participants).loc["monitor", "event types known"] == 3


def test_hang_is_stuck_in_choreography_and_timed_out_in_orchestration():
    table = compare(FailurePlan("evaluate", "hang"), **SMALL).table()
    assert table.loc["outcomes", "choreography"].startswith("wf-1: stuck: evaluator")
    assert table.loc["orphaned challengers"].tolist() == [1, 0]
    assert table.loc["failure noticed by", "orchestration"] == "wf-1: timeout: evaluate"


def test_both_styles_share_one_broker():
    broker = MemoryBroker()
    result = compare(broker=broker, **SMALL)
    assert {"choreography.drift", "orchestration.drift"} <= set(broker.topics())
    assert result.table().loc["outcomes"].tolist() == ["wf-1: promoted", "wf-1: promoted"]


def test_sequence_chart_has_a_lane_per_participant(failed):
    fig = failed.sequence_chart("wf-1")
    assert list(fig.layout.xaxis2.ticktext) == ["coordinator", "monitor", "collector",
                                                "trainer", "evaluator", "deployer"]
    with pytest.raises(ValueError, match="wf-9"):
        failed.sequence_chart("wf-9")


def test_run_style_rejects_bad_arguments():
    with pytest.raises(ValueError, match="style"):
        run_style("ballet")
    with pytest.raises(ValueError, match="orchestration only"):
        run_style("choreography", timeouts={"train": 10}, **SMALL)
