"""Simulated event streams and replay: each simulator returns a seeded pandas DataFrame, and a
converter turns it into `Event`s in event-time order; `merge` interleaves several such streams
(transactions and their delayed labels) by event time."""

from edalab.streams.frames import events_frame
from edalab.streams.merge import merge
from edalab.streams.power_sensors import (
    SensorGroup,
    power_sensors,
    sensor_events,
    sensor_registry,
)
from edalab.streams.replay import Replay, replay
from edalab.streams.sized import SizedStream, sized
from edalab.streams.text import incident_reports, text_events, text_label_events
from edalab.streams.transactions import (
    label_events,
    transaction_events,
    transaction_profiles,
    transactions,
)
from edalab.streams.vitals import vitals, vitals_episodes, vitals_events

__all__ = ["Replay", "SensorGroup", "SizedStream", "events_frame", "incident_reports",
           "label_events", "merge", "power_sensors", "replay", "sensor_events",
           "sensor_registry", "sized", "text_events", "text_label_events",
           "transaction_events", "transaction_profiles", "transactions", "vitals",
           "vitals_episodes", "vitals_events"]
