"""`incident_reports` and its events: seeded, labelled later, with a new kind mid-stream."""

from __future__ import annotations

import pandas as pd
import pytest

from edalab.streams import merge, replay
from edalab.streams.text import (
    _COMMON,
    _FILLER,
    CATEGORIES,
    SEVERITIES,
    incident_reports,
    text_events,
    text_label_events,
)


def test_same_seed_same_reports_and_another_seed_others():
    a, b = incident_reports(300, seed=4), incident_reports(300, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["text"].equals(incident_reports(300, seed=5)["text"])


def test_the_new_kind_appears_only_from_novel_at():
    df = incident_reports(1000, seed=0, novel_at=0.5, novel_share=0.3)
    novel = df[df["novel"]]
    assert (novel["category"] == "ransomware").all() and novel.index.min() >= 500
    assert 0.2 < len(novel) / 500 < 0.4
    assert set(df.loc[:499, "category"]) == set(CATEGORIES)
    assert not incident_reports(500, novel_at=None)["novel"].any()


def test_typos_change_words_and_no_typos_keeps_them():
    lists = [*CATEGORIES.values(), *SEVERITIES.values(), _COMMON, _FILLER]
    vocabulary = {w for words in lists for phrase in words for w in phrase.split()}
    clean = incident_reports(300, seed=1, typo_rate=0.0, novel_at=None)
    noisy = incident_reports(300, seed=1, typo_rate=0.5, novel_at=None)
    def strange(df):
        return sum(w not in vocabulary and len(w) >= 4 for t in df["text"] for w in t.split())
    assert strange(clean) == 0 and strange(noisy) > 300


def test_labels_come_delay_later_and_merge_after_their_report():
    df = incident_reports(50, seed=2)
    reports, labels = list(text_events(df)), list(text_label_events(df, delay="5min"))
    assert reports[0].data == {"id": 0, "text": df.text[0], "severity": df.severity[0]}
    assert "category" not in reports[0].data
    assert labels[0].data["category"] == df.category[0]
    assert labels[0].time - reports[0].time == pd.Timedelta("5min")
    order = [e.id for e in merge(reports, labels)]
    assert order.index("label-0") > order.index("report-5")


def test_a_text_column_replays_as_event_data():
    df = incident_reports(20, seed=3)[["time", "text"]]
    events = list(replay(df, time="time", type="note"))
    assert [e.data["text"] for e in events] == df["text"].tolist()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 0}, "n must be an int >= 1, got 0"),
    ({"typo_rate": 1.5}, r"typo_rate must be in \[0, 1\], got 1.5"),
    ({"novel_at": -0.1}, r"novel_at must be None or in \[0, 1\], got -0.1"),
])
def test_bad_arguments_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        incident_reports(**kwargs)
