"""Charts: static plotly figures of brokers, runs, streams and case studies (deterministic, for
reports and tests), and live dashboards (FigureWidgets that follow a running stream)."""

from edalab.viz.broker_charts import (
    OUTCOMES,
    DeliveryLog,
    assignment_chart,
    assignments,
    delivery_timeline,
    lag_over_time,
    partition_load,
    partition_log,
    records_frame,
)
from edalab.viz.fraud_charts import (
    comparison_frame,
    decision_counts,
    decisions_over_time,
    events_frame,
    metrics_over_time,
    model_comparison,
    score_distribution,
    throughput_and_lag,
    throughput_frame,
)
from edalab.viz.fraud_dashboard import FraudDashboard
from edalab.viz.stream_charts import (
    RISK_BANDS,
    SCENARIOS,
    amount_histogram,
    label_delay,
    patient_vitals,
    power_load,
    replay_pacing,
    transactions_per_day,
)
from edalab.viz.ward_charts import LEVEL_COLORS, episode_detection, tradeoff, ward_levels
from edalab.viz.ward_dashboard import WardDashboard

__all__ = ["DeliveryLog", "FraudDashboard", "LEVEL_COLORS", "OUTCOMES", "RISK_BANDS", "SCENARIOS",
           "WardDashboard", "amount_histogram", "assignment_chart", "assignments",
           "comparison_frame", "decision_counts", "decisions_over_time", "delivery_timeline",
           "episode_detection", "events_frame", "label_delay", "lag_over_time",
           "metrics_over_time", "model_comparison", "partition_load", "partition_log",
           "patient_vitals", "power_load", "records_frame", "replay_pacing", "score_distribution",
           "throughput_and_lag", "throughput_frame", "tradeoff", "transactions_per_day",
           "ward_levels"]
