"""Charts that know no case study: static plotly figures of brokers, runs and the simulated
streams (deterministic, for reports and tests), the shared look (`edalab.viz.style`), and
`LiveDashboard`, the base of the live dashboards (FigureWidgets that follow a running stream).

The case studies own their charts and dashboards (`edalab.fraud.FraudDashboard`,
`edalab.health.WardDashboard`, ...) and build them on this package; nothing here imports them.
"""

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
from edalab.viz.live import LiveDashboard
from edalab.viz.run_charts import events_frame, throughput_and_lag, throughput_frame
from edalab.viz.stream_charts import (
    SCENARIOS,
    amount_histogram,
    label_delay,
    power_load,
    replay_pacing,
    transactions_per_day,
)

__all__ = ["OUTCOMES", "SCENARIOS", "DeliveryLog", "LiveDashboard", "amount_histogram",
           "assignment_chart", "assignments", "delivery_timeline", "events_frame",
           "label_delay", "lag_over_time", "partition_load", "partition_log", "power_load",
           "records_frame", "replay_pacing", "throughput_and_lag", "throughput_frame",
           "transactions_per_day"]
