"""The look shared by edalab's charts (template, margins, a colour cycle) and the time axis
they all write (ISO strings, the same JSON whatever the pandas version)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

__all__ = ["PALETTE", "TEMPLATE", "color", "count_axis", "iso_times", "layout", "legend_above"]

PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692",
           "#b6e880", "#ff97ff", "#fecb52")
TEMPLATE = "plotly_white"


def layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """Give `fig` edalab's template, margins and a horizontal legend under the plot."""
    fig.update_layout(title=title, template=TEMPLATE, height=height,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def color(i: int) -> str:
    """The `i`-th colour of the cycle.

    >>> color(0) == color(len(PALETTE))
    True
    """
    return PALETTE[i % len(PALETTE)]


def iso_times(times: pd.Series | pd.DatetimeIndex | list) -> list[str]:
    """Times as ISO strings (UTC for aware ones): the same JSON whatever the pandas version.

    >>> iso_times(pd.to_datetime(["2024-01-01 12:00+01:00"]))
    ['2024-01-01T11:00:00']
    """
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return [t.isoformat() for t in index]


def legend_above(fig: go.Figure) -> go.Figure:
    """Move `fig`'s legend from under the plot to above it, left-aligned under the title:
    under the plot it collides with the x axis title at a notebook's width (~850 px).

    >>> fig = legend_above(layout(go.Figure(), "t", 300))
    >>> fig.layout.legend.yanchor, fig.layout.legend.y
    ('bottom', 1.0)
    """
    fig.update_layout(legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0,
                              "yanchor": "bottom"},
                      margin={"t": 80}, title={"y": 1.0, "yanchor": "top", "pad": {"t": 12}})
    return fig


def count_axis(top: float) -> dict:
    """Axis settings for a count: whole-number ticks from zero (never 0.304, 0.608), about
    five of them up to `top`, the largest value drawn.

    >>> count_axis(3)
    {'rangemode': 'tozero', 'tickformat': ',d', 'tick0': 0, 'dtick': 1}
    >>> count_axis(2_400)["dtick"]
    500
    """
    step = 1
    while top / step > 6:
        for factor in (2, 2.5, 2):  # 1, 2, 5, 10, 20, 50, ...
            step = int(step * factor)
            if top / step <= 6:
                break
    return {"rangemode": "tozero", "tickformat": ",d", "tick0": 0, "dtick": step}
