"""The ward simulator: reproducible, realistic, honestly messy, and scorable."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from edalab.events import Event
from edalab.health.news2 import VALID_RANGES, news2_frame
from edalab.streams.vitals import ARTEFACTS, vitals, vitals_episodes, vitals_events

OBSERVED = ["respiration_rate", "spo2", "on_oxygen", "systolic_bp", "pulse", "consciousness",
            "temperature"]


@pytest.fixture(scope="module")
def ward() -> pd.DataFrame:
    return vitals(patients=200, hours=72, seed=11)


@pytest.fixture(scope="module")
def scored(ward) -> pd.DataFrame:
    return news2_frame(ward).join(ward[["time", "patient_id", "artefact", "deteriorating"]])


def test_same_seed_gives_the_same_ward():
    a, b = vitals(patients=10, hours=12, seed=4), vitals(patients=10, hours=12, seed=4)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(vitals_episodes(a), vitals_episodes(b))


def test_different_seeds_give_different_wards():
    a, b = vitals(patients=10, hours=12, seed=4), vitals(patients=10, hours=12, seed=5)
    assert not a["pulse"].equals(b["pulse"])


def test_artefact_rates_do_not_change_the_patients():
    a = vitals(patients=30, hours=24, seed=2)
    b = vitals(patients=30, hours=24, seed=2, missing_rate=0.2, artefact_rate=0.1)
    pd.testing.assert_frame_equal(vitals_episodes(a), vitals_episodes(b))
    clean = (a["artefact"] == "") & (b["artefact"] == "")
    assert a.loc[clean, "systolic_bp"].equals(b.loc[clean, "systolic_bp"])


def test_one_row_per_patient_and_round_sorted_by_utc_time(ward):
    assert len(ward) == 200 * 72 * 4
    assert ward.groupby("patient_id").size().eq(288).all()
    assert str(ward["time"].dt.tz) == "UTC" and ward["time"].is_monotonic_increasing
    assert ward["patient_id"].iloc[0].startswith("p") and len(ward["patient_id"].iloc[0]) == 4
    assert ward["time"].min() >= pd.Timestamp("2024-01-01", tz="UTC")
    assert ward["time"].max() < pd.Timestamp("2024-01-04", tz="UTC")


def test_start_is_converted_to_utc():
    df = vitals(patients=1, hours=1, start="2024-06-01T09:00:00+02:00", seed=0)
    assert df["time"].min().floor("h") == pd.Timestamp("2024-06-01T07:00", tz="UTC")
    naive = vitals(patients=1, hours=1, start=datetime(2024, 6, 1, 7), seed=0)
    assert naive["time"].equals(df["time"])


def test_baseline_vitals_are_in_realistic_adult_ranges(ward):
    stable = ward[~ward["deteriorating"] & (ward["artefact"] == "")]
    medians = stable.groupby("patient_id")[
        ["respiration_rate", "spo2", "systolic_bp", "pulse", "temperature"]].median()
    low = pd.Series({"respiration_rate": 11, "spo2": 95, "systolic_bp": 105, "pulse": 55,
                     "temperature": 36.0})
    high = pd.Series({"respiration_rate": 21, "spo2": 100, "systolic_bp": 145, "pulse": 95,
                      "temperature": 37.7})
    assert medians.ge(low).all().all() and medians.le(high).all().all()
    assert stable["consciousness"].eq("A").all()
    assert stable["temperature"].mul(10).round().eq(stable["temperature"] * 10).all()
    # A stable ward mostly scores 0-2: alarms (NEWS2 >= 5) on clean stable rows are rare.
    stable_scores = news2_frame(stable)["total"]
    assert stable_scores.le(2).mean() > 0.9 and stable_scores.ge(5).mean() < 0.002


def test_circadian_rhythm_warms_evenings(ward):
    stable = ward[~ward["deteriorating"] & (ward["artefact"] == "")]
    by_hour = stable.groupby(stable["time"].dt.hour)["temperature"].mean()
    assert by_hour.loc[16:20].mean() > by_hour.loc[3:7].mean() + 0.2


def test_deteriorating_flag_starts_at_each_episode_onset(ward):
    episodes = vitals_episodes(ward)
    assert 0 < len(episodes) < 200 and episodes["onset"].is_unique
    onset = ward["patient_id"].map(episodes.set_index("patient_id")["onset"])
    assert ward["deteriorating"].equals(ward["time"] >= onset)
    assert ward["episode_id"].notna().equals(ward["deteriorating"])
    assert (episodes["peak"] > episodes["onset"]).all()


def test_news2_rises_after_onset_so_lead_time_can_be_scored(scored, ward):
    episodes = vitals_episodes(ward)
    # Episodes with a full day of follow-up.
    followed = episodes[episodes["onset"] < ward["time"].max() - pd.Timedelta(hours=24)]
    assert len(followed) >= 20
    rises, delays = 0, []
    for ep in followed.itertuples():
        rows = scored[scored["patient_id"] == ep.patient_id]
        since = (rows["time"] - ep.onset) / pd.Timedelta(hours=1)
        before = rows.loc[(since > -4) & (since < 0), "partial_total"].mean()
        after = rows.loc[(since > 8) & (since < 12), "partial_total"].mean()
        rises += after >= (0 if np.isnan(before) else before) + 3
        clean = rows["artefact"] == ""
        alarms = rows.loc[clean & (since >= 0) & (rows["total"] >= 5), "time"]
        if len(alarms):
            delays.append((alarms.min() - ep.onset) / pd.Timedelta(hours=1))
    assert rises >= 0.95 * len(followed)
    assert len(delays) >= 0.95 * len(followed)
    assert 1 < np.median(delays) < 12  # detection lags onset, as in a real ward


def test_data_problems_occur_at_the_documented_rates(ward):
    share = ward["artefact"].value_counts(normalize=True)
    assert set(share.index) == set(ARTEFACTS)
    assert share["missing"] == pytest.approx(0.03, abs=0.004)
    for kind in ("motion", "dropout", "out_of_range"):
        assert share[kind] == pytest.approx(0.02 / 3, abs=0.002)
    missing_count = ward[OBSERVED].isna().sum(axis=1)
    assert missing_count[ward["artefact"] == "missing"].between(1, 3).all()
    assert missing_count[ward["artefact"].isin(["", "motion", "out_of_range"])].eq(0).all()
    dropout = ward[ward["artefact"] == "dropout"]
    assert dropout["spo2"].isna().all() and dropout["pulse"].isna().all()


def test_out_of_range_values_are_physically_impossible(ward, scored):
    bad = ward["artefact"] == "out_of_range"
    impossible = pd.concat(
        [~ward[name].between(*VALID_RANGES[name]) for name in VALID_RANGES], axis=1).any(axis=1)
    assert impossible[bad].all() and not impossible[ward["artefact"] == ""].any()
    assert scored.loc[bad, "incomplete"].all()


def test_motion_artefacts_cause_false_alarms(scored):
    stable = ~scored["deteriorating"]
    motion = scored["artefact"] == "motion"
    assert scored.loc[stable & motion, "pulse_points"].mean() > scored.loc[
        stable & ~motion, "pulse_points"].mean() + 0.5


def test_some_patients_start_on_oxygen_and_others_are_put_on_it(ward):
    first = ward.groupby("patient_id")["on_oxygen"].first()
    ever = ward.groupby("patient_id")["on_oxygen"].any()
    assert 0 < first.mean() < 0.2 and ever.sum() > first.sum()


def test_clean_ward_without_deterioration():
    df = vitals(patients=20, hours=24, deterioration_rate=0, missing_rate=0, artefact_rate=0,
                seed=1)
    assert df["artefact"].eq("").all() and not df["deteriorating"].any()
    assert vitals_episodes(df).empty and df[OBSERVED].notna().all().all()


@pytest.mark.parametrize("kwargs", [{"patients": 0}, {"hours": 0}, {"cadence": -5},
                                    {"deterioration_rate": -1}, {"missing_rate": 0.9,
                                                                 "artefact_rate": 0.2}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        vitals(**kwargs)


def test_episodes_need_the_frame_from_vitals():
    with pytest.raises(ValueError, match="episodes"):
        vitals_episodes(pd.DataFrame({"time": []}))


def test_events_are_in_time_order_with_utc_times_and_plain_data(ward):
    events = list(vitals_events(ward))
    assert len(events) == len(ward)
    times = [e.time for e in events]
    assert times == sorted(times) and all(t.tzinfo is UTC for t in times)
    assert len({e.id for e in events}) == len(events)
    first = events[0]
    assert first.type == "vitals.observation" and first.source == "/edalab/ward"
    assert first.key == first.data["patient_id"]
    allowed = (float, str, bool, type(None))
    assert all(type(v) in allowed for e in events[:5000] for v in e.data.values())
    assert any(v is None for e in events for v in e.data.values())
    assert "deteriorating" not in first.data
    events[0].to_json()  # JSON-ready: no NaN, no numpy scalars


def test_events_are_what_the_checked_constructor_builds(ward):
    # vitals_events builds its events without Event's checks: they must pass them unchanged
    for e in list(vitals_events(ward))[:500]:
        assert Event(e.type, e.source, e.data, key=e.key, time=e.time, id=e.id) == e
        assert e.time.tzinfo is UTC  # the checks would have converted any other


def test_events_name_a_missing_time():
    df = vitals(patients=3, hours=1, seed=8)
    df.loc[df.index[4], "time"] = pd.NaT
    with pytest.raises(ValueError, match=r"time is missing \(NaT\) in 1 row\(s\)"):
        next(vitals_events(df))


def test_events_are_deterministic_and_sort_a_shuffled_frame():
    df = vitals(patients=5, hours=4, seed=8)
    ids = [e.id for e in vitals_events(df)]
    shuffled = df.sample(frac=1, random_state=0)
    assert [e.id for e in vitals_events(shuffled)] == ids


def test_events_can_carry_the_ground_truth():
    df = vitals(patients=5, hours=24, deterioration_rate=5, seed=8)
    data = [e.data for e in vitals_events(df, truth=True)]
    assert any(d["deteriorating"] and d["episode_id"] for d in data)
    assert {d["artefact"] for d in data} <= set(ARTEFACTS)


# -- the adverse event, and a response that averts it ------------------------------------------


def test_adverse_events_follow_onset_and_show_in_the_observed_vitals(ward):
    episodes = vitals_episodes(ward).dropna(subset=["adverse_event"])
    assert len(episodes) >= 20
    assert (episodes["adverse_event"] > episodes["onset"]).all()
    # An hour past the adverse event the recorded vitals meet a criterion in most rounds
    # (they are noisy and carry the ward's oxygen, so not in every one).
    clean = ward[ward["artefact"] == ""]
    hits = []
    for e in episodes.itertuples():
        rows = clean[(clean["patient_id"] == e.patient_id)
                     & clean["time"].between(e.adverse_event + pd.Timedelta("1h"),
                                             e.adverse_event + pd.Timedelta("2h"))]
        hits += ((rows["systolic_bp"] < 95) | (rows["spo2"] < 91)
                 | rows["consciousness"].isin(["V", "P", "U"])).tolist()
    assert np.mean(hits) > 0.8


def test_a_timely_response_averts_the_adverse_event_and_the_patient_recovers():
    plain = vitals(patients=40, hours=48, cadence=15, seed=1)
    due = vitals_episodes(plain).dropna(subset=["adverse_event"])
    responses = {e.patient_id: e.onset + (e.adverse_event - e.onset) / 2
                 for e in due.itertuples()}
    treated = vitals(patients=40, hours=48, cadence=15, seed=1, responses=responses)
    after = vitals_episodes(treated).set_index("patient_id").loc[list(responses)]
    assert after["averted"].all() and after["adverse_event"].isna().all()
    assert (after["response"] == pd.Series(responses).dt.tz_convert("UTC")).all()
    for patient, when in responses.items():
        mine = plain["patient_id"] == patient
        before = mine & (plain["time"] < when)
        pd.testing.assert_frame_equal(plain[before], treated[before])
        late = mine & (plain["time"] > when + pd.Timedelta("3h"))
        if late.any():  # recovered: blood pressure back above the adverse course
            assert treated.loc[late, "systolic_bp"].mean() > plain.loc[late, "systolic_bp"].mean()


def test_a_response_after_the_adverse_event_changes_nothing():
    plain = vitals(patients=40, hours=48, cadence=15, seed=1)
    e = vitals_episodes(plain).dropna(subset=["adverse_event"]).iloc[0]
    late = vitals(patients=40, hours=48, cadence=15, seed=1,
                  responses={e.patient_id: e.adverse_event + pd.Timedelta("10min")})
    pd.testing.assert_frame_equal(plain, late)
    assert not vitals_episodes(late)["averted"].any()


def test_responses_naming_an_unknown_patient_are_refused():
    with pytest.raises(ValueError, match="'p999', not a patient"):
        vitals(patients=4, hours=6, seed=1, responses={"p999": "2024-01-01T03:00Z"})
