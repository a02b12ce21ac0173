"""The workflow sequence chart reads at a notebook's width: styles stacked, labels legible."""

from __future__ import annotations

import pytest

from edalab.retraining import FailurePlan, compare

SMALL = {"n": 3000, "drifts": (1500,), "warmup": 500}


@pytest.fixture(scope="module")
def chart():
    return compare(FailurePlan("evaluate", "hang"), **SMALL).sequence_chart("wf-1")


def test_sequence_chart_gives_each_style_the_full_width(chart):
    for axis in (chart.layout.xaxis, chart.layout.xaxis2):
        assert tuple(axis.domain) == (0.0, 1.0)
    top, bottom = chart.layout.yaxis.domain, chart.layout.yaxis2.domain
    assert bottom[1] < top[0]  # one above the other, not side by side


def test_sequence_chart_labels_are_readable(chart):
    sizes = [a.font.size for a in chart.layout.annotations if a.text not in
             ("choreography", "orchestration")]
    assert sizes and min(sizes) >= 12
    assert chart.layout.yaxis.title.text and chart.layout.xaxis2.title.text
    # Enough height per message row for 12 px labels above the arrows.
    rows = sum(len(set(y for y in t.y if y is not None)) for t in chart.data[:1])
    assert chart.layout.height >= 30 * rows
