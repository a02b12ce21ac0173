"""Card-fraud detection on the transaction stream: the handbook's features, computed online and
in batch, the handbook's evaluation and batch baseline, the event-driven pipeline, and its
charts, live dashboard, report and demo.

Names load on first use (scikit-learn, for the baselines, takes seconds to import).
"""

from __future__ import annotations

_MODULES = {
    "edalab.fraud.features": ["FEATURES", "WINDOWS", "FraudFeatures", "handbook_features"],
    "edalab.fraud.handbook": ["HANDBOOK_LR", "batch_baseline", "handbook_metrics",
                              "train_test_split"],
    "edalab.fraud.pipeline": ["FraudPipeline", "FraudProgress"],
    "edalab.fraud.models": ["MODELS", "make_model"],
    "edalab.fraud.metrics_stage": ["MetricsStage"],
    "edalab.fraud.retrain": ["CompiledTrees", "PeriodicRetrainer", "gradient_boosting"],
    "edalab.fraud.report": ["fraud_report"],
    "edalab.fraud.charts": ["DECISIONS", "METRIC_LABELS", "comparison_frame", "decision_counts",
                            "decisions_over_time", "metrics_over_time", "model_comparison",
                            "score_distribution"],
    "edalab.fraud.dashboard": ["FraudDashboard"],
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edalab.fraud' has no attribute {name!r}")
