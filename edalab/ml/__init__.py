"""Online learning on event streams, with river: `edalab.operators.Operator`s that run as `App`
handlers and also alone (``op.test(event)``).

- `OnlineClassifier`: predict on each feature event, learn when its label event arrives.
- `AnomalyDetector`: score then learn, alerts past a threshold or a running quantile.
- `DriftMonitor` with `ResetPolicy` or `ChallengerPolicy`: react to a rising error.
- `TumblingWindow`, `HoppingWindow`, `SessionWindow`: per-key event-time aggregates with a
  watermark; late events are counted and routed.
- `PrequentialMetrics`, `CardPrecisionAtK`: metrics as events while the stream runs.
- `TextClassifier`, `SemanticRouter`, `NoveltyDetector`, `ErrorDrift`: online NLP on text
  events, routing by confidence, and noticing a kind of event never seen before.
"""

from edalab.ml.anomaly import AnomalyDetector
from edalab.ml.champion import ChallengerPolicy
from edalab.ml.classifier import ClassifierStats, OnlineClassifier
from edalab.ml.drift import DriftMonitor, ResetPolicy
from edalab.ml.metrics import (
    AveragePrecision,
    CardPrecisionAtK,
    PrequentialMetrics,
    average_precision,
    card_precision_at_k,
)
from edalab.ml.novelty import ErrorDrift, NoveltyDetector
from edalab.ml.progressive import dataset_events, operator_overhead, progressive_score
from edalab.ml.routing import SemanticRouter, routing_curve
from edalab.ml.text import TextClassifier
from edalab.ml.windows import HoppingWindow, SessionWindow, TumblingWindow

__all__ = ["AnomalyDetector", "AveragePrecision", "CardPrecisionAtK", "ChallengerPolicy",
           "ClassifierStats", "DriftMonitor", "ErrorDrift", "HoppingWindow", "NoveltyDetector",
           "OnlineClassifier", "PrequentialMetrics", "ResetPolicy", "SemanticRouter",
           "SessionWindow", "TextClassifier", "TumblingWindow", "average_precision",
           "card_precision_at_k", "dataset_events", "operator_overhead", "progressive_score",
           "routing_curve"]
