"""Charts: static plotly figures of brokers and runs (deterministic, for reports and tests)."""

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

__all__ = ["OUTCOMES", "DeliveryLog", "assignment_chart", "assignments", "delivery_timeline",
           "lag_over_time", "partition_load", "partition_log", "records_frame"]
