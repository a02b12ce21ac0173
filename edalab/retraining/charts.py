"""Charts of the retraining workflow: the sequence of a workflow's messages in each style."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["sequence_chart"]

_COLORS = {"event": "#4C78A8", "command": "#72B7B2", "reply": "#54A24B", "failure": "#E45756",
           "compensation": "#F58518", "timeout": "#B279A2", "outcome": "#222222"}


def sequence_chart(messages: dict[str, pd.DataFrame], lanes: dict[str, list[str]],
                   workflow: str = "wf-1") -> go.Figure:
    """A sequence chart per style, one above the other (each as wide as the page, so its
    labels stay readable at a notebook's width): one lane per participant, one row per message
    of `workflow` in time order, an arrow from its sender to each subscriber (a dot when
    nobody subscribes), coloured by kind (event, command, reply, failure, compensation,
    timeout, outcome; the same colours in every style, so one legend)."""
    shown_messages = {}
    for style, frame in messages.items():
        m = frame[frame.workflow == workflow].reset_index(drop=True)
        if m.empty:
            raise ValueError(f"no messages of workflow {workflow!r} in {style}")
        shown_messages[style] = m
    counts = [len(m) + 1 for m in shown_messages.values()]  # + the lane labels' row
    height = 190 + 34 * sum(counts) + 90 * (len(counts) - 1)
    fig = make_subplots(rows=len(messages), cols=1, row_heights=counts,
                        subplot_titles=list(messages), vertical_spacing=90 / height)
    shown = set()
    for col, (style, m) in enumerate(shown_messages.items(), 1):
        x = {name: i for i, name in enumerate(lanes[style])}
        start = m.time.iloc[0]
        for kind, part in m.groupby("kind", sort=False):
            xs, ys, sizes, text = [], [], [], []
            for i, row in part.iterrows():
                label = (f"{row.type}<br>{row.sender} → {', '.join(row.receivers) or '-'}"
                         f"<br>t+{(row.time - start).total_seconds():.0f} s")
                targets = row.receivers or [row.sender]
                for target in targets:
                    xs += [x[row.sender], x[target], None]
                    ys += [i, i, None]
                    sizes += [0, 11 if row.receivers else 0, 0]
                    text += [label, label, None]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines+markers", name=kind, legendgroup=kind,
                showlegend=kind not in shown, hovertext=text, hoverinfo="text",
                line={"color": _COLORS[kind], "width": 2},
                marker={"symbol": "arrow", "angleref": "previous", "size": sizes,
                        "color": _COLORS[kind]}), row=col, col=1)
            ends = part[[not r for r in part.receivers]]
            if len(ends):
                fig.add_trace(go.Scatter(
                    x=[x[s] for s in ends.sender], y=list(ends.index), mode="markers",
                    name=kind, legendgroup=kind, showlegend=False,
                    hovertext=list(ends.type), hoverinfo="text",
                    marker={"symbol": "diamond" if kind != "timeout" else "x", "size": 11,
                            "color": _COLORS[kind]}), row=col, col=1)
            shown.add(kind)
        for _, row in m.iterrows():
            if row.receivers:
                fig.add_annotation(x=(x[row.sender] + x[row.receivers[0]]) / 2, y=row.name,
                                   text=row.type, showarrow=False, yshift=10,
                                   font={"size": 12}, row=col, col=1)
            else:
                fig.add_annotation(x=x[row.sender], y=row.name, text=row.type,
                                   showarrow=False, xanchor="left", xshift=8,
                                   font={"size": 12}, row=col, col=1)
        fig.update_xaxes(tickvals=list(x.values()), ticktext=list(x), range=[-0.5, len(x) - 0.1],
                         showgrid=True, gridcolor="#ddd", tickfont={"size": 13},
                         title_text="participant (lane)" if col == len(counts) else None,
                         row=col, col=1)
        fig.update_yaxes(autorange="reversed", dtick=1, showgrid=False, zeroline=False,
                         title_text="message no. (time order)", row=col, col=1)
    fig.update_layout(title=f"Sequence of workflow {workflow}, one lane per participant",
                      height=height, template="plotly_white", font={"size": 13},
                      margin={"l": 70, "r": 20, "t": 60, "b": 110},
                      legend={"orientation": "h", "y": -70 / (height - 170), "yanchor": "top",
                              "x": 0, "title": {"text": "message kind"}})
    return fig

