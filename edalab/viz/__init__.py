"""Charts: static plotly figures of brokers, runs and streams (deterministic, for reports and
tests)."""

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

__all__ = ["OUTCOMES", "RISK_BANDS", "SCENARIOS", "DeliveryLog", "amount_histogram",
           "assignment_chart", "assignments", "delivery_timeline", "label_delay",
           "lag_over_time", "partition_load", "partition_log", "patient_vitals", "power_load",
           "records_frame", "replay_pacing", "transactions_per_day"]
