"""The closed loop: pages become response events, and a timely response averts the emergency."""

from __future__ import annotations

import pandas as pd
import pytest

from edalab.health.alerts import PAGES
from edalab.health.closed_loop import closed_loop, compare_closed_loop
from edalab.streams.vitals import vitals_episodes

WARD = dict(patients=20, hours=36, cadence=15, seed=7)


@pytest.fixture(scope="module")
def run():
    return closed_loop(WARD, "news2", response_time="30min")


def test_each_page_becomes_a_response_event_on_the_bus_after_the_response_time(run):
    pages = run.monitor.alerts("news2")
    pages = pages[pages["type"].isin(PAGES)]
    responses = [r.event for r in run.monitor.app.broker.read("ward.responses")]
    assert len(pages) > 0 and len(responses) == len(pages) == run.responses
    assert [e.time for e in responses] == [
        t.to_pydatetime() + pd.Timedelta("30min") for t in pages["time"]]


def test_timely_responses_avert_adverse_events_in_the_simulated_ward(run):
    episodes = vitals_episodes(run.ward)
    assert run.open_adverse_events > 0 and run.prevented > 0
    assert run.prevented == int(episodes["averted"].sum())
    assert run.adverse_events == int(episodes["adverse_event"].notna().sum())
    treated = episodes.dropna(subset=["response"])
    assert (treated["response"] >= treated["onset"]).all()


def test_responses_that_come_too_late_prevent_nothing():
    late = closed_loop(WARD, "news2", response_time="48h")
    assert late.prevented == 0 and late.adverse_events == late.open_adverse_events


def test_the_closed_loop_is_reproducible(run):
    table = compare_closed_loop(WARD, ("news2",), response_time="30min")
    again = compare_closed_loop(WARD, ("news2",), response_time="30min")
    pd.testing.assert_frame_equal(table, again)
    assert table.loc["news2", "prevented"] == run.prevented


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="'nurse'"):
        closed_loop(WARD, "nurse")
