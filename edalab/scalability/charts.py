"""Charts of scalability runs: the lag of one run over time, and demand over load."""

from __future__ import annotations

from typing import Any

import numpy as np

from edalab.scalability.experiment import ScalabilityRun

__all__ = ["demand_chart", "lag_chart"]


def lag_chart(run: ScalabilityRun) -> Any:
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


def demand_chart(demand: list[dict[str, Any]], max_instances: int | None = None) -> Any:
    """A plotly figure: demand (instances) over load, one line per use case and broker; a
    load that none of the instance counts tried meets is drawn on the top row, "none met"
    (above `max_instances`, the most tried)."""
    import plotly.graph_objects as go

    found = [d["instances"] for d in demand if d["instances"] is not None]
    top = (max_instances or max(found, default=1)) + 1
    fig = go.Figure()
    series = sorted({(d["uc"], d["broker"]) for d in demand})
    symbols = ["circle", "square", "diamond", "triangle-up", "x", "star"]
    dashes = ["solid", "dash", "dot", "dashdot"]
    for i, (uc, broker) in enumerate(series):
        rows = sorted((d["load"], top if d["instances"] is None else d["instances"])
                      for d in demand if (d["uc"], d["broker"]) == (uc, broker))
        fig.add_trace(go.Scatter(
            x=[r[0] for r in rows], y=[r[1] + 0.04 * (i - (len(series) - 1) / 2) for r in rows],
            mode="lines+markers", name=f"{uc.upper()} {broker}", line_shape="hv",
            line={"dash": dashes[i % len(dashes)], "width": 2},
            marker={"symbol": symbols[i % len(symbols)], "size": 9},
            hovertemplate="%{x:,} records/s: %{text}<extra></extra>",
            text=["none met" if r[1] == top else f"{r[1]} instance(s)" for r in rows]))
    fig.update_layout(title="Demand: the fewest instances that meet the lag-trend SLO "
                            "(lines offset slightly so equal ones stay visible)",
                      xaxis_title="load (records/s)", yaxis_title="instances",
                      template="plotly_white", height=420, title_font_size=13)
    fig.update_yaxes(range=[0.5, top + 0.5], tickvals=list(range(1, top + 1)),
                     ticktext=[*map(str, range(1, top)), "none met"])
    return fig
