"""Validation: malformed events dead-letter, impossible and motion readings are flagged, missing
readings are carried forward only within the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edalab import App, Event, EventError
from edalab.events import check_serialisable
from edalab.health.validation import Validator

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NORMAL = {"patient_id": "p1", "respiration_rate": 16, "spo2": 97, "on_oxygen": False,
          "systolic_bp": 120, "pulse": 70, "consciousness": "A", "temperature": 36.9}


def obs(minutes: float = 0, key: str | None = "p1", **changes) -> Event:
    return Event("vitals.observation", "/test", {**NORMAL, **changes}, key=key,
                 time=T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize("changes, field", [
    ({"pulse": "fast"}, "pulse"), ({"spo2": [97]}, "spo2"), ({"on_oxygen": "yes"}, "on_oxygen"),
    ({"consciousness": 1}, "consciousness"), ({"temperature": True}, "temperature")])
def test_wrong_types_raise_naming_the_field(changes, field):
    with pytest.raises(EventError, match=field):
        Validator().test(obs(**changes))


def test_missing_field_or_patient_raises():
    data = dict(NORMAL)
    del data["pulse"]
    with pytest.raises(EventError, match="pulse"):
        Validator().test(Event("vitals.observation", "/t", data, key="p1", time=T0))
    with pytest.raises(EventError, match="patient"):
        Validator().test(Event("vitals.observation", "/t", {**NORMAL, "patient_id": None}, time=T0))
    with pytest.raises(EventError, match="mapping"):
        Validator().test(Event("vitals.observation", "/t", "not a dict", key="p1", time=T0))


@pytest.mark.parametrize("changes", [{"spo2": 140}, {"pulse": -5}, {"consciousness": "X"},
                                     {"temperature": 3.7}])
def test_impossible_values_are_flagged_not_scored(changes):
    validated, artefact = Validator().test(obs(**changes))
    name = next(iter(changes))
    assert artefact.type == "vitals.artefact" and artefact.data["readings"] == changes
    from edalab.health.validation import VECTOR
    assert validated.data["values"][VECTOR.index(name)] is None


def test_nan_and_none_are_missing_and_carried_forward_within_the_limit():
    v = Validator(carry_forward="30min")
    v.test(obs(0))
    carried = v.test(obs(20, pulse=float("nan"), spo2=None))[0].data
    assert carried["values"][1] == 97.0 and carried["values"][4] == 70.0
    assert sorted(carried["carried"]) == ["pulse", "spo2"]
    stale = v.test(obs(31, pulse=None))[0].data
    assert stale["values"][4] is None and stale["carried"] == []
    assert v.counts["missing"] == 3 and v.counts["carried"] == 2 and v.counts["unfilled"] == 1


def test_motion_artefact_removes_pulse_and_spo2():
    v = Validator()
    v.test(obs(0))
    validated, artefact = v.test(obs(1, pulse=110, spo2=89))
    assert artefact.data["kind"] == "motion"
    assert validated.data["values"][4] == 70.0 and validated.data["carried"] == ["spo2", "pulse"]


def test_bad_events_never_stop_the_pipeline_and_are_counted():
    bad = [obs(1, pulse="fast"), obs(2, spo2=140), obs(3, pulse=-5), obs(4, spo2=float("nan")),
           obs(5, key=None, patient_id=None)]
    v = Validator()
    app = App()
    app.handler("vitals", output=Validator.route)(v)
    app.source("vitals", [obs(0), *bad, obs(6)])
    stats = app.run()
    # Two fail validation; the NaN reading no broker can carry is dead-lettered as it is
    # published (as on NATS), so the validator never sees it.
    assert stats.dead_letters == 3
    assert [r.event.type for r in app.broker.read("vitals.dlq")].count(
        "edalab.unpublishable") == 1
    assert len(app.broker.read("vitals.valid")) == 4
    assert len(app.broker.read("vitals.artefacts")) == 2
    assert v.counts["impossible"] == 2 and v.counts["missing"] == 0


@pytest.mark.parametrize("changes, readings, raw", [
    ({"pulse": float("inf")}, {"pulse": None}, {"pulse": "inf"}),
    ({"spo2": -float("inf")}, {"spo2": None}, {"spo2": "-inf"}),
    ({"pulse": np.float64("inf")}, {"pulse": None}, {"pulse": "inf"}),
    ({"spo2": np.int64(140)}, {"spo2": 140}, None),
    ({"temperature": np.float32(3.5)}, {"temperature": 3.5}, None),
    ({"pulse": 10**400}, {"pulse": None}, {"pulse": "1" + "0" * 400}),
    ({"systolic_bp": -(10**5000)}, {"systolic_bp": None},
     {"systolic_bp": "an integer of 16610 bits"}),
], ids=["inf", "-inf", "np.inf", "np.int64", "np.float32", "10**400", "-10**5000"])
def test_artefact_events_hold_only_what_json_can_write(changes, readings, raw):
    out = Validator().test(obs(**changes))
    check_serialisable(out)  # what a broker checks before it appends them
    artefact = Event.from_json(out[1].to_json())
    assert artefact.data["readings"] == readings
    assert artefact.data.get("raw") == raw
