"""Scoring alerts as clinicians score early warning: paged before the adverse event, or not.

Definitions (the same for every method):

- a **page** is an ``alert.raised`` or ``alert.escalated`` event (`edalab.health.alerts.PAGES`);
- each deterioration episode has an **adverse event**, the time the unrecognised deterioration
  becomes an emergency (unplanned intensive-care admission or cardiac arrest): the simulator's
  ``adverse_event`` (`edalab.streams.vitals_episodes`: shock, respiratory failure on oxygen, or
  consciousness responding only to voice, in the noise-free physiology). An episode that does
  not reach it within the record stayed compensated: it is listed, not scored;
- an episode's **first page** is its patient's first page from `before` ahead of its onset on;
  the episode is **detected** only if that page comes before the adverse event;
- **lead time** = adverse event − first page, in minutes: **positive means the page came that
  long before the emergency** (time to act); zero or negative, too late;
- a **false alert** is a page outside every episode of its patient (earlier than `before`
  ahead of the onset, or a patient with no episode); counted per patient-day of record
  (patients × hours / 24);
- **alarm burden** is every page per nurse-hour, with `patients_per_nurse` patients per nurse.

>>> import pandas as pd
>>> t = pd.Timestamp("2024-01-01", tz="UTC")
>>> episodes = pd.DataFrame({"episode_id": ["e1"], "patient_id": ["p1"],
...                          "onset": [t + pd.Timedelta("10h")],
...                          "adverse_event": [t + pd.Timedelta("14h")]})
>>> alerts = pd.DataFrame({"type": ["alert.raised", "alert.raised", "alert.resolved"],
...                        "patient_id": ["p1", "p2", "p2"],
...                        "time": [t + pd.Timedelta("11h30min"), t + pd.Timedelta("3h"),
...                                 t + pd.Timedelta("4h")]})
>>> detection(alerts, episodes)[["episode_id", "detected", "lead_minutes"]]
  episode_id  detected  lead_minutes
0         e1      True         150.0
>>> summary(alerts, episodes, patients=2, hours=24)  # doctest: +NORMALIZE_WHITESPACE
{'episodes': 1, 'detected': 1, 'missed': 0, 'compensated': 0, 'median_lead_minutes': 150.0,
 'lead_q1_minutes': 150.0, 'lead_q3_minutes': 150.0, 'pages': 2, 'false_alerts': 1,
 'false_alerts_per_patient_day': 0.5, 'pages_per_nurse_hour': 0.3333}
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.health.alerts import PAGES

__all__ = ["compare_methods", "detection", "summary"]


def detection(alerts: pd.DataFrame, episodes: pd.DataFrame,
              before: str | pd.Timedelta = "1h") -> pd.DataFrame:
    """Per episode: its adverse event, its first page, whether that came before, the lead time.

    Parameters
    ----------
    alerts
        Alert events as a frame (``type``, ``patient_id``, ``time``), e.g.
        `edalab.health.monitor.WardMonitor.alerts`.
    episodes
        The ground truth, `edalab.streams.vitals_episodes` (``episode_id``, ``patient_id``,
        ``onset``, ``adverse_event``: NaT when the episode stayed compensated).
    before
        How far ahead of the onset a page counts for the episode.

    Returns
    -------
    pandas.DataFrame
        ``episode_id``, ``patient_id``, ``onset``, ``adverse_event``, ``first_page``,
        ``emergency`` (the episode reached its adverse event: scored), ``detected`` (paged
        before it) and ``lead_minutes`` (adverse event − first page; positive: ahead of it).
    """
    paged = alerts[alerts["type"].isin(PAGES)]
    onset = pd.to_datetime(episodes["onset"], utc=True)
    opens = onset - parse_duration(before, name="before", allow_zero=True)
    first = []
    for patient, start in zip(episodes["patient_id"], opens, strict=True):
        times = paged.loc[(paged["patient_id"] == patient) & (paged["time"] >= start), "time"]
        first.append(times.min() if len(times) else pd.NaT)
    out = episodes[["episode_id", "patient_id"]].reset_index(drop=True)
    out["onset"] = onset.reset_index(drop=True)
    out["adverse_event"] = pd.to_datetime(episodes["adverse_event"], utc=True).reset_index(
        drop=True)
    out["first_page"] = pd.to_datetime(pd.Series(first, dtype="datetime64[ns, UTC]"))
    out["emergency"] = out["adverse_event"].notna()
    out["detected"] = out["emergency"] & (out["first_page"] < out["adverse_event"])
    out["lead_minutes"] = ((out["adverse_event"] - out["first_page"])
                           / pd.Timedelta("1min")).round(1)
    return out


def _false_alerts(alerts: pd.DataFrame, episodes: pd.DataFrame, before: pd.Timedelta) -> int:
    paged = alerts[alerts["type"].isin(PAGES)]
    opens = dict(zip(episodes["patient_id"],
                     pd.to_datetime(episodes["onset"], utc=True) - before, strict=True))
    window = pd.to_datetime(paged["patient_id"].map(opens), utc=True)
    inside = window.notna() & (paged["time"] >= window)
    return int((~inside).sum())


def summary(alerts: pd.DataFrame, episodes: pd.DataFrame, *, patients: int, hours: float,
            before: str | pd.Timedelta = "1h", patients_per_nurse: float = 8.0) -> dict:
    """Detection before the adverse event, lead time (median and quartiles of the detected
    episodes), false alerts per patient-day and pages per nurse-hour of one method.

    `patients` and `hours` give the exposure (the ward's size and the record's length).
    ``episodes`` counts the episodes that reached their adverse event, ``compensated`` those
    that did not (not scored); ``detected + missed == episodes``.
    """
    if patients < 1 or hours <= 0 or patients_per_nurse <= 0:
        raise ValueError("patients must be >= 1, hours and patients_per_nurse > 0")
    before = parse_duration(before, name="before", allow_zero=True)
    found = detection(alerts, episodes, before)
    scored = found[found["emergency"]]
    n_pages = int(alerts["type"].isin(PAGES).sum())
    false = _false_alerts(alerts, episodes, before)
    lead = scored.loc[scored["detected"], "lead_minutes"]
    q1, median, q3 = (lead.quantile([0.25, 0.5, 0.75]).round(1).tolist() if len(lead)
                      else [float("nan")] * 3)
    detected = int(scored["detected"].sum())
    return {
        "episodes": len(scored), "detected": detected, "missed": len(scored) - detected,
        "compensated": len(found) - len(scored), "median_lead_minutes": median,
        "lead_q1_minutes": q1, "lead_q3_minutes": q3, "pages": n_pages, "false_alerts": false,
        "false_alerts_per_patient_day": round(false / (patients * hours / 24), 4),
        "pages_per_nurse_hour": round(n_pages / (hours * patients / patients_per_nurse), 4),
    }


def ward_exposure(ward: pd.DataFrame) -> tuple[int, float]:
    """Patients and whole hours of record of a `vitals` frame (from the first round's hour)."""
    times = pd.to_datetime(ward["time"], utc=True)
    first = times.min().floor("h")
    return (int(ward["patient_id"].nunique()),
            float(np.ceil((times.max() - first) / pd.Timedelta("1h"))))


def compare_methods(alerts: Mapping[str, pd.DataFrame], ward: pd.DataFrame, *,
                    before: str | pd.Timedelta = "1h",
                    patients_per_nurse: float = 8.0) -> pd.DataFrame:
    """The methods side by side: one `summary` row per method, for a `vitals` ward (its
    episodes, patients and record length give the ground truth and the exposure)."""
    from edalab.streams.vitals import vitals_episodes

    episodes = vitals_episodes(ward)
    patients, hours = ward_exposure(ward)
    rows = [{"method": m, **summary(a, episodes, patients=patients, hours=hours, before=before,
                                    patients_per_nurse=patients_per_nurse)}
            for m, a in alerts.items()]
    return pd.DataFrame(rows).set_index("method")
