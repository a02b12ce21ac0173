"""Charts of scalability runs: the lag of one run over time, and demand over load."""

from __future__ import annotations

from typing import Any

import numpy as np

from edalab.scalability.experiment import Run

__all__ = ["demand_chart", "lag_chart"]


def lag_chart(run: Run) -> Any:
    """A plotly figure: the consumer group's total lag over the run, the warm-up shaded, and
    the least-squares trend the SLO judges (its slope and the threshold in the title)."""
    import plotly.graph_objects as go

    t, lag = np.asarray(run.seconds), np.asarray(run.lag)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t.tolist(), y=lag.tolist(), mode="lines+markers", name="lag",
                             line={"color": "#636efa"}, marker={"size": 4}))
    after = t[t >= run.slo.warmup]
    if len(after):
        mean_t, mean_y = after.mean(), lag[t >= run.slo.warmup].mean()
        trend = mean_y + run.slope * (after - mean_t)
        fig.add_trace(go.Scatter(x=after.tolist(), y=trend.tolist(), mode="lines",
                                 name=f"trend {run.slope:,.0f} records/s",
                                 line={"color": "#ef553b" if not run.slo_met else "#00cc96",
                                       "dash": "dash"}))
    fig.add_vrect(x0=0, x1=run.slo.warmup, fillcolor="grey", opacity=0.12, line_width=0,
                  annotation_text="warm-up", annotation_position="top left")
    verdict = "SLO met" if run.slo_met else "SLO missed"
    fig.update_layout(
        title=(f"{run.uc.upper()} on {run.broker}, {run.instances} instance(s), "
               f"{run.load:,} records/s: {verdict} (slope {run.slope:,.0f} vs threshold "
               f"{run.slo.threshold:,.0f} records/s)"),
        xaxis_title="time since the load started (s)",
        yaxis_title="consumer-group lag (records)", template="plotly_white",
        height=420, legend={"orientation": "h", "y": -0.2}, title_font_size=13)
    fig.update_yaxes(rangemode="tozero")
    return fig


def demand_chart(demand: list[dict[str, Any]]) -> Any:
    """A plotly figure: demand (instances) over load, one line per use case and broker;
    a load no instance count met is left out (a gap)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    series = sorted({(d["uc"], d["broker"]) for d in demand})
    for uc, broker in series:
        rows = sorted((d["load"], d["instances"]) for d in demand
                      if (d["uc"], d["broker"]) == (uc, broker))
        fig.add_trace(go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows],
                                 mode="lines+markers", name=f"{uc.upper()} {broker}",
                                 line_shape="hv"))
    fig.update_layout(title="Demand: the fewest instances that meet the lag-trend SLO",
                      xaxis_title="load (records/s)", yaxis_title="instances",
                      template="plotly_white", height=420)
    fig.update_yaxes(rangemode="tozero", dtick=1)
    return fig
