"""The look shared by edalab's charts: template, margins, a colour cycle."""

from __future__ import annotations

import plotly.graph_objects as go

PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692",
           "#b6e880", "#ff97ff", "#fecb52")
TEMPLATE = "plotly_white"


def layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, height=height,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]
