"""`edalab bench fraud`'s classifier path against its peers: the same work, measured."""

from __future__ import annotations

import pytest

from edalab.bench import _fraud_peers as bench
from edalab.streams.transactions import transactions

PEERS = {"bytewax_per_s", "streamz_per_s", "edalab_per_s", "raw_river_per_s"}


@pytest.fixture(scope="module")
def events():
    df = transactions(50, 100, 30, start="2018-04-01", seed=1)
    return bench.classifier_events(df, 400)


def test_peers_run_the_same_model_on_the_same_events_and_report_each_rate(events):
    result = bench.peers(events, repeats=1, batch=100)
    assert set(result["peers"]) == PEERS
    assert all(rate > 0 for rate in result["peers"].values())
    assert result["events"] == len(events) == 800 and result["predictions"] == 400
    t = result["targets"]
    assert set(t["faster_than"]) == {"bytewax", "streamz"}
    assert t["overhead_at_most"] == 0.15 and t["overhead_goal"] == 0.10
    assert t["overhead_within_target"] == (result["edalab_overhead_vs_raw_river"] <= 0.15)


def test_every_contender_gives_the_bare_river_loops_scores(events):
    scores = {name: run(events, bench.make_model("lr"))() for name, run in (
        ("raw", bench.raw_river), ("streamz", bench.streamz_classifier),
        ("bytewax", lambda e, m: bench.bytewax_classifier(e, m, 64)()),
        ("edalab", lambda e, m: bench.edalab_classifier(e, m, 64)()))}
    assert len(scores["raw"]) == 400 and len(set(scores["raw"])) > 100  # it learnt
    assert all(s == scores["raw"] for s in scores.values())


def test_a_contender_that_skips_learning_is_caught(events, monkeypatch):
    def predict_only(events, model):
        scores = [model.predict_proba_one(e.data["x"]).get(True, 0.0) for e in events
                  if e.type != bench.LABEL]
        return lambda: scores

    monkeypatch.setattr(bench, "streamz_classifier", predict_only)
    with pytest.raises(AssertionError, match="streamz's scores differ"):
        bench.peers(events, repeats=1, batch=100)
