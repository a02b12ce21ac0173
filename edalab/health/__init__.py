"""Health monitoring: NEWS2 scoring, and the ward monitoring pipeline (validation → streaming
NEWS2 → per-patient anomaly detection → escalating alerts), scored against ground truth; its
charts, live dashboard and report.

The charts and the dashboard load on first use (plotly is not needed to score a ward).
"""

from edalab.health.alerts import LEVELS, METHODS, PAGES, AlertPolicy, level_of
from edalab.health.closed_loop import closed_loop, compare_closed_loop
from edalab.health.monitor import News2Operator, PatientBaseline, WardMonitor
from edalab.health.news2 import TABLES, News2, news2, news2_frame
from edalab.health.report import (
    closed_loop_table,
    closed_loop_verdict,
    report_table,
    verdict,
    write_report,
)
from edalab.health.scoring import compare_methods, detection, summary
from edalab.health.validation import Validator

_MODULES = {
    "edalab.health.charts": ["LEVEL_COLORS", "RISK_BANDS", "episode_detection",
                             "patient_vitals", "pipeline_diagram", "tradeoff", "ward_levels"],
    "edalab.health.dashboard": ["WardDashboard"],
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = ["LEVELS", "LEVEL_COLORS", "METHODS", "PAGES", "RISK_BANDS", "TABLES", "AlertPolicy",
           "News2", "News2Operator", "PatientBaseline", "Validator", "WardDashboard",
           "WardMonitor", "closed_loop", "closed_loop_table", "closed_loop_verdict",
           "compare_closed_loop", "compare_methods", "detection", "episode_detection", "level_of",
           "news2", "news2_frame", "patient_vitals", "pipeline_diagram", "report_table", "summary",
           "tradeoff", "verdict", "ward_levels", "write_report"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edalab.health' has no attribute {name!r}")
