"""`edalab bench text` at a small size: the report's keys and what they mean."""

from __future__ import annotations

import json

import pytest

from edalab.bench.text import batch_predictions, main
from edalab.streams.text import incident_reports


def test_bench_text_json_has_the_reports_keys(capsys):
    assert main(["--events", "1500", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"events", "accuracy", "batch_accuracy", "events_per_s",
                        "novelty_delay_events", "review_share"}
    assert out["events"] == 1500 and out["events_per_s"] > 0
    assert 0.75 < out["accuracy"] <= 1 and 0.6 < out["batch_accuracy"] <= 1
    assert 0 <= out["novelty_delay_events"] <= out["label_delay"]
    assert 0 < out["review_share"] < 1 and out["routed_accuracy"] > out["accuracy"]


def test_batch_baseline_uses_only_labels_that_arrived():
    df = incident_reports(300, seed=1)
    preds = batch_predictions(df, label_delay=30, retrain_every=100)
    assert len(preds) == 300
    assert preds[:100] == [None] * 100  # at report 100 only 70 labels exist: first fit then
    assert all(p is not None for p in preds[100:])


def test_bench_text_rejects_a_bad_threshold(capsys):
    with pytest.raises(SystemExit):
        main(["--threshold", "1.5"])
    assert "--threshold must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_routing_timeline_buckets_accuracy_and_review_share_by_report():
    import pandas as pd

    from edalab.bench.text import routing_timeline
    df = pd.DataFrame({"category": ["a", "a", "b", "b"]})
    made = pd.DataFrame({"id": [0, 1, 2, 3], "label": ["a", "b", "b", "b"],
                         "confidence": [0.9, 0.9, 0.2, 0.9], "topic": "t",
                         "routed": [True, True, False, True]})
    out = routing_timeline(made, df, bucket=2)
    assert out.index.tolist() == [2, 4]
    assert out["accuracy"].tolist() == [0.5, 1.0]
    assert out["review_share"].tolist() == [0.0, 0.5]
    assert out["routed_accuracy"].tolist() == [0.5, 1.0]
