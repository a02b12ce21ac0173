"""NEWS2 against the RCP's published chart (2017), boundary by boundary."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edalab import Event
from edalab.health.monitor import News2Operator
from edalab.health.news2 import PARAMETERS, RESPONSES, TABLES, news2, news2_frame

NORMAL = dict(respiration_rate=16, spo2=97, on_oxygen=False, systolic_bp=125, pulse=75,
              consciousness="A", temperature=37.0)


def score(spo2_scale: int = 1, **changes):
    return news2(**{**NORMAL, **changes}, spo2_scale=spo2_scale)


def test_normal_observations_score_zero_with_routine_response():
    s = score()
    assert s.total == 0 and not s.red and s.risk == "low"
    assert s.response == RESPONSES["none"]
    assert set(s.points) == set(PARAMETERS)


# (value, points): both sides of every band edge on chart 1, plus values between integers.
CHART = {
    "respiration_rate": [(0, 3), (8, 3), (8.5, 1), (9, 1), (11, 1), (11.5, 0), (12, 0), (20, 0),
                         (20.5, 2), (21, 2), (24, 2), (24.5, 3), (25, 3), (80, 3)],
    "spo2": [(0, 3), (91, 3), (91.5, 2), (92, 2), (93, 2), (94, 1), (95, 1), (95.5, 0), (96, 0),
             (100, 0)],
    "systolic_bp": [(0, 3), (90, 3), (90.5, 2), (91, 2), (100, 2), (101, 1), (110, 1),
                    (110.5, 0), (111, 0), (219, 0), (219.5, 3), (220, 3), (300, 3)],
    "pulse": [(0, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (90.5, 1), (91, 1), (110, 1),
              (111, 2), (130, 2), (131, 3), (300, 3)],
    "temperature": [(25, 3), (35.0, 3), (35.05, 1), (35.1, 1), (36.0, 1), (36.05, 0), (36.1, 0),
                    (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2), (45, 2)],
}


@pytest.mark.parametrize(
    ("parameter", "value", "points"),
    [(p, v, pts) for p, cases in CHART.items() for v, pts in cases],
)
def test_each_parameter_scores_as_the_published_chart(parameter, value, points):
    s = score(**{parameter: value})
    assert s.points[parameter] == points
    assert s.total == points


@pytest.mark.parametrize(("letter", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness_alert_scores_zero_and_cvpu_three(letter, points):
    assert score(consciousness=letter).points["consciousness"] == points


def test_supplemental_oxygen_scores_two():
    assert score(on_oxygen=True).points["on_oxygen"] == 2
    assert score(on_oxygen=False).points["on_oxygen"] == 0
    assert score(on_oxygen=np.bool_(True)).total == 2


SCALE2 = [(0, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0)]


@pytest.mark.parametrize(("spo2", "points"), SCALE2 + [(93, 0), (95, 0), (97, 0), (100, 0)])
def test_scale2_on_air_scores_zero_from_88_upwards(spo2, points):
    assert score(spo2_scale=2, spo2=spo2).points["spo2"] == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    SCALE2 + [(92.5, 1), (93, 1), (94, 1), (94.5, 2), (95, 2), (96, 2), (96.5, 3), (97, 3),
              (100, 3)],
)
def test_scale2_on_oxygen_penalises_saturations_above_target(spo2, points):
    s = score(spo2_scale=2, spo2=spo2, on_oxygen=True)
    assert s.points["spo2"] == points
    assert s.total == points + 2  # the air-or-oxygen row still counts


def test_scale2_spares_a_hypercapnic_patient_at_target_that_scale1_flags():
    assert score(spo2=89).points["spo2"] == 3
    assert score(spo2=89, spo2_scale=2).points["spo2"] == 0


@pytest.mark.parametrize(
    ("changes", "total", "red", "risk"),
    [
        ({"respiration_rate": 21, "systolic_bp": 95}, 4, False, "low"),
        ({"consciousness": "C"}, 3, True, "low-medium"),
        ({"consciousness": "C", "pulse": 95}, 4, True, "low-medium"),
        ({"respiration_rate": 21, "systolic_bp": 95, "pulse": 95}, 5, False, "medium"),
        ({"respiration_rate": 21, "systolic_bp": 95, "pulse": 95, "temperature": 38.5},
         6, False, "medium"),
        ({"consciousness": "V", "systolic_bp": 95}, 5, True, "medium"),
        ({"respiration_rate": 21, "systolic_bp": 95, "pulse": 115, "temperature": 38.5},
         7, False, "high"),
        ({"respiration_rate": 30, "spo2": 88, "on_oxygen": True, "systolic_bp": 85,
          "pulse": 140, "consciousness": "U", "temperature": 34.0}, 20, True, "high"),
    ],
)
def test_risk_bands_follow_total_and_single_red_score(changes, total, red, risk):
    s = score(**changes)
    assert (s.total, s.red, s.risk) == (total, red, risk)
    assert s.response == RESPONSES[risk]


def test_result_is_immutable():
    s = score()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.total = 5
    with pytest.raises(TypeError):
        s.points["pulse"] = 3
    assert hash(s) == hash(score())


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("respiration_rate", -1), ("respiration_rate", math.nan), ("respiration_rate", "16"),
        ("spo2", 100.5), ("spo2", -3), ("spo2", None), ("systolic_bp", float("nan")),
        ("systolic_bp", True), ("pulse", -10), ("pulse", 301), ("temperature", 24.9),
        ("temperature", 45.1), ("temperature", 3.7), ("on_oxygen", 1), ("on_oxygen", "yes"),
        ("on_oxygen", None), ("consciousness", "X"), ("consciousness", "a"),
        ("consciousness", None), ("consciousness", 0),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(parameter, value):
    with pytest.raises(ValueError, match=parameter):
        score(**{parameter: value})


@pytest.mark.parametrize("scale", [0, 3, True, "1"])
def test_unknown_spo2_scale_raises(scale):
    with pytest.raises(ValueError, match="spo2_scale"):
        score(spo2_scale=scale)


observations = st.fixed_dictionaries({
    "respiration_rate": st.one_of(st.integers(0, 80), st.floats(0, 80)),
    "spo2": st.one_of(st.integers(60, 100), st.floats(0, 100)),
    "on_oxygen": st.booleans(),
    "systolic_bp": st.one_of(st.integers(50, 300), st.floats(0, 300)),
    "pulse": st.one_of(st.integers(20, 200), st.floats(0, 300)),
    "consciousness": st.sampled_from("ACVPU"),
    "temperature": st.one_of(st.floats(25, 45), st.sampled_from([35.0, 36.0, 38.0, 39.0])),
})


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(observations, min_size=1, max_size=30),
       scales=st.lists(st.sampled_from([1, 2]), min_size=30, max_size=30))
def test_frame_scoring_equals_scalar_scoring(rows, scales):
    df = pd.DataFrame(rows)
    scale = np.array(scales[: len(rows)])
    out = news2_frame(df, spo2_scale=scale)
    for i, (row, sc) in enumerate(zip(rows, scale, strict=True)):
        s = news2(**row, spo2_scale=int(sc))
        got = out.iloc[i]
        assert {p: got[f"{p}_points"] for p in PARAMETERS} == dict(s.points)
        assert (got["total"], got["partial_total"], got["red"], got["risk"]) == (
            s.total, s.total, s.red, s.risk)
        assert not got["incomplete"]


def test_frame_never_scores_missing_or_impossible_values_as_zero():
    rows = [dict(NORMAL, respiration_rate=None), dict(NORMAL, temperature=3.7),
            dict(NORMAL, consciousness="X"), dict(NORMAL, on_oxygen=None, pulse=135),
            dict(NORMAL, spo2=float("nan"))]
    out = news2_frame(pd.DataFrame(rows))
    assert out["incomplete"].all()
    assert out["total"].isna().all() and out["risk"].isna().all()
    for i, name in enumerate(["respiration_rate", "temperature", "consciousness", "on_oxygen",
                              "spo2"]):
        assert np.isnan(out[f"{name}_points"].iloc[i])
    # What was recorded still counts: a red pulse is a red score, lower bound 3.
    assert out["red"].tolist() == [False, False, False, True, False]
    assert out["partial_total"].tolist() == [0, 0, 0, 3, 0]


def test_frame_scale2_above_target_needs_the_oxygen_flag():
    df = pd.DataFrame([dict(NORMAL, on_oxygen=None, spo2=97), dict(NORMAL, on_oxygen=None,
                                                                    spo2=90)])
    out = news2_frame(df, spo2_scale=2)
    assert np.isnan(out["spo2_points"].iloc[0]) and out["spo2_points"].iloc[1] == 0


def test_frame_rejects_missing_columns_and_bad_scales():
    with pytest.raises(ValueError, match="pulse"):
        news2_frame(pd.DataFrame([NORMAL]).drop(columns="pulse"))
    with pytest.raises(ValueError, match="spo2_scale"):
        news2_frame(pd.DataFrame([NORMAL]), spo2_scale=[1, 2])


def test_frame_of_no_rows_is_empty():
    out = news2_frame(pd.DataFrame({p: [] for p in PARAMETERS}))
    assert len(out) == 0 and "total" in out


def test_news2_tables_are_read_only():
    # Every scorer is built from TABLES; changing it at run time used to move some of them.
    with pytest.raises(TypeError):
        TABLES["pulse"] = ((40, 50, 90, 110, 130), (3, 3, 3, 3, 3, 3))


def test_every_news2_scorer_gives_the_same_points_at_every_band_edge():
    op = News2Operator()
    t = datetime(2024, 1, 1, tzinfo=UTC)
    for name, (bounds, _) in TABLES.items():
        for value in [v + d for v in bounds for d in (-0.5, 0, 0.5)]:
            obs = dict(NORMAL, **{name: value})
            vector = [float(obs[p]) if p not in ("consciousness",) else 0.0 for p in PARAMETERS]
            event = Event("vitals.validated", "/t", {"patient_id": "p", "values": vector,
                                                     "carried": []}, key="p", time=t)
            got = {news2(**obs).total,
                   int(news2_frame(pd.DataFrame([obs]))["total"].iloc[0]),
                   op.process(event)[0].data["news2"],
                   op.process_batch([event])[0].data["news2"]}
            assert len(got) == 1, (name, value, got)
