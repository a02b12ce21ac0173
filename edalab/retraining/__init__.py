"""Case study: an ML retraining workflow (collect, train, evaluate, deploy after a concept
drift) run as choreography and as orchestration, and compared from what the runs recorded.

It uses the generic patterns: `edalab.patterns.participant` (declared participants and their
coupling) and `edalab.patterns.saga` (its transition table is `RetrainingSaga`).

Names load on first use (river and plotly take a while to import).
"""

from __future__ import annotations

_MODULES = {
    "edalab.retraining.models": ["decide", "drifting_stream", "evaluate", "logistic_model",
                                 "train_challenger", "train_champion"],
    "edalab.retraining.services": ["STEPS", "DriftWatch", "FailurePlan", "LabelCollector",
                                   "ModelRegistry", "RetrainingServices", "StepFailed"],
    "edalab.retraining.workflow": ["WorkflowStyle", "workflow_ids"],
    "edalab.retraining.choreography": ["Choreography"],
    "edalab.retraining.orchestration": ["TRANSITIONS", "Orchestration",
                                        "RetrainingCoordinator", "RetrainingSaga"],
    "edalab.retraining.comparison": ["Comparison", "StyleRun", "compare", "run_style"],
    "edalab.retraining.charts": ["sequence_chart"],
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edalab.retraining' has no attribute {name!r}")
