"""The case studies share one pipeline shape: ``feed(source)`` returns the pipeline, ``run()``
and ``stream(every)`` run it, and the results are methods returning frames."""

from __future__ import annotations

import pandas as pd
import pytest

from edalab.fraud import FraudPipeline
from edalab.health import WardMonitor
from edalab.streams import transactions, vitals


def _fraud():
    return (FraudPipeline(model="lr", metrics_every=200),
            transactions(customers=30, terminals=60, days=10, seed=2),
            ("predictions", "decisions", "metrics", "models"))


def _health():
    return (WardMonitor(methods=("news2",)), vitals(patients=3, hours=6, seed=1),
            ("assessed", "alerts", "artefacts"))


@pytest.mark.parametrize("make", [_fraud, _health], ids=["fraud", "health"])
def test_feed_returns_the_pipeline_and_stream_steps_through_it(make):
    pipe, source, results = make()
    assert pipe.feed(source) is pipe
    steps = list(pipe.stream(every=20, batch_size=10))
    assert len(steps) > 2
    for name in results:
        frame = getattr(pipe, name)()
        assert isinstance(frame, pd.DataFrame), name


@pytest.mark.parametrize("make", [_fraud, _health], ids=["fraud", "health"])
def test_run_gives_the_same_results_as_stream(make):
    pipe, source, results = make()
    stepped, _, _ = make()
    stats = pipe.feed(source).run()
    list(stepped.feed(source).stream(every=50, batch_size=10))
    assert stats.source_events > 0
    for name in results:
        a, b = getattr(pipe, name)(), getattr(stepped, name)()
        drop = [c for c in ("latency_us", "latency_ms") if c in a]
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))


def test_a_fraud_pipeline_is_fed_one_frame():
    pipe, source, _ = _fraud()
    pipe.feed(source)
    with pytest.raises(ValueError, match="already fed"):
        pipe.feed(source)


def test_a_fraud_pipeline_not_fed_refuses_to_run():
    with pytest.raises(ValueError, match="feed"):
        FraudPipeline().run()
