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

__all__ = ["LEVEL_COLORS", "OUTCOMES", "RISK_BANDS", "SCENARIOS", "DeliveryLog",
           "amount_histogram", "episode_detection",
           "assignment_chart", "assignments", "delivery_timeline", "label_delay",
           "lag_over_time", "partition_load", "partition_log", "patient_vitals", "power_load",
           "records_frame", "replay_pacing", "tradeoff", "transactions_per_day",
           "WardDashboard", "ward_levels"]
