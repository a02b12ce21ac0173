"""Health monitoring: NEWS2 scoring, and the ward monitoring pipeline (validation → streaming
NEWS2 → per-patient anomaly detection → escalating alerts), scored against ground truth."""

from edalab.health.alerts import LEVELS, METHODS, PAGES, AlertPolicy, level_of
from edalab.health.monitor import News2Operator, PatientBaseline, WardMonitor
from edalab.health.news2 import TABLES, News2, news2, news2_frame
from edalab.health.report import verdict, write_report
from edalab.health.scoring import compare_methods, detection, summary
from edalab.health.validation import Validator

__all__ = ["LEVELS", "METHODS", "PAGES", "TABLES", "AlertPolicy", "News2", "News2Operator",
           "PatientBaseline", "Validator", "WardMonitor", "compare_methods", "detection",
           "level_of", "news2", "news2_frame", "summary", "verdict", "write_report"]
