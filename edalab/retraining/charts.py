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
    """A sequence chart per style, side by side: one lane per participant, one row per message
    of `workflow` in time order, an arrow from its sender to each subscriber (a dot when
    nobody subscribes), coloured by kind (event, command, reply, failure, compensation,
    timeout, outcome)."""
    fig = make_subplots(rows=1, cols=len(messages), subplot_titles=list(messages),
                        horizontal_spacing=0.08)
    shown = set()
    for col, (style, frame) in enumerate(messages.items(), 1):
        m = frame[frame.workflow == workflow].reset_index(drop=True)
        if m.empty:
            raise ValueError(f"no messages of workflow {workflow!r} in {style}")
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
                        "color": _COLORS[kind]}), row=1, col=col)
            ends = part[[not r for r in part.receivers]]
            if len(ends):
                fig.add_trace(go.Scatter(
                    x=[x[s] for s in ends.sender], y=list(ends.index), mode="markers",
                    name=kind, legendgroup=kind, showlegend=False,
                    hovertext=list(ends.type), hoverinfo="text",
                    marker={"symbol": "diamond" if kind != "timeout" else "x", "size": 11,
                            "color": _COLORS[kind]}), row=1, col=col)
            shown.add(kind)
        for _, row in m.iterrows():
            if row.receivers:
                fig.add_annotation(x=(x[row.sender] + x[row.receivers[0]]) / 2, y=row.name,
                                   text=row.type, showarrow=False, yshift=8,
                                   font={"size": 9}, row=1, col=col)
            else:
                fig.add_annotation(x=x[row.sender], y=row.name, text=row.type,
                                   showarrow=False, xanchor="left", xshift=8,
                                   font={"size": 9}, row=1, col=col)
        fig.update_xaxes(tickvals=list(x.values()), ticktext=list(x), range=[-0.5, len(x) - 0.5],
                         showgrid=True, gridcolor="#ddd", row=1, col=col)
        fig.update_yaxes(autorange="reversed", dtick=1, showgrid=False, zeroline=False,
                         title_text="message (in time order)" if col == 1 else None,
                         row=1, col=col)
    fig.update_layout(title=f"Sequence of workflow {workflow}", height=520,
                      template="plotly_white", legend={"orientation": "h", "y": -0.12})
    return fig

