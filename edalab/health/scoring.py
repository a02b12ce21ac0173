"""Scoring alerts against the simulator's ground truth: detection, lead time, alarm load.

Definitions (the same for every method):

- a **page** is an ``alert.raised`` or ``alert.escalated`` event (`edalab.health.alerts.PAGES`);
- an episode's **detection window** runs from `before` ahead of its onset to the end of the
  record (a simulated episode does not end: the patient stays deteriorated). The episode is
  **detected** if its patient is paged inside the window;
- **lead time** = onset − first page in the window, in minutes: positive means the page came
  before the onset (the physiology had not yet visibly changed), negative means after it. The
  simulator's onset is when the physiology *starts* to change, so most lead times are negative:
  the minutes it took to notice a deterioration that was building up;
- an episode whose onset is less than `min_observed` before the end of the record is
  **censored**: it had barely begun when the record stopped (the simulator ramps over 4-12
  hours), so it is listed but not counted as detected or missed;
- a **false alert** is a page outside every detection window of its patient; they are counted
  per patient-day of record (patients × hours / 24);
- **alert load** is every page per nurse-hour, with `patients_per_nurse` patients per nurse.

>>> import pandas as pd
>>> t = pd.Timestamp("2024-01-01", tz="UTC")
>>> episodes = pd.DataFrame({"episode_id": ["e1"], "patient_id": ["p1"],
...                          "onset": [t + pd.Timedelta("10h")]})
>>> alerts = pd.DataFrame({"type": ["alert.raised", "alert.raised", "alert.resolved"],
...                        "patient_id": ["p1", "p2", "p2"],
...                        "time": [t + pd.Timedelta("11h30min"), t + pd.Timedelta("3h"),
...                                 t + pd.Timedelta("4h")]})
>>> detection(alerts, episodes)[["episode_id", "detected", "lead_minutes"]]
  episode_id  detected  lead_minutes
0         e1      True         -90.0
>>> summary(alerts, episodes, patients=2, hours=24)  # doctest: +NORMALIZE_WHITESPACE
{'episodes': 1, 'detected': 1, 'censored': 0, 'median_lead_minutes': -90.0, 'pages': 2,
 'false_alerts': 1, 'false_alerts_per_patient_day': 0.5, 'alerts_per_nurse_hour': 0.333}
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.health.alerts import PAGES

__all__ = ["compare_methods", "detection", "summary"]


def detection(alerts: pd.DataFrame, episodes: pd.DataFrame,
              before: str | pd.Timedelta = "1h", end: pd.Timestamp | None = None,
              min_observed: str | pd.Timedelta = "4h") -> pd.DataFrame:
    """Per episode: whether it was detected, the first page in its window and the lead time.

    Parameters
    ----------
    alerts
        Alert events as a frame (``type``, ``patient_id``, ``time``), e.g.
        `edalab.health.monitor.WardMonitor.alerts`.
    episodes
        The ground truth, `edalab.streams.vitals_episodes`.
    before
        How far ahead of the onset the detection window opens.
    end, min_observed
        The end of the record; episodes with onset less than `min_observed` before it are
        ``censored`` (no end: none is).
    """
    paged = alerts[alerts["type"].isin(PAGES)]
    start = (pd.to_datetime(episodes["onset"], utc=True)
             - parse_duration(before, name="before", allow_zero=True))
    first = []
    for patient, opens in zip(episodes["patient_id"], start, strict=True):
        times = paged.loc[(paged["patient_id"] == patient) & (paged["time"] >= opens), "time"]
        first.append(times.min() if len(times) else pd.NaT)
    out = episodes[["episode_id", "patient_id", "onset"]].reset_index(drop=True)
    out["first_page"] = pd.to_datetime(pd.Series(first, dtype="datetime64[ns, UTC]"))
    out["detected"] = out["first_page"].notna()
    out["lead_minutes"] = ((pd.to_datetime(out["onset"], utc=True) - out["first_page"])
                           / pd.Timedelta("1min")).round(1)
    out["censored"] = (False if end is None else
                       pd.to_datetime(out["onset"], utc=True) > end - parse_duration(
                           min_observed, name="min_observed", allow_zero=True))
    return out


def _false_alerts(alerts: pd.DataFrame, episodes: pd.DataFrame, before: pd.Timedelta) -> int:
    paged = alerts[alerts["type"].isin(PAGES)]
    opens = dict(zip(episodes["patient_id"],
                     pd.to_datetime(episodes["onset"], utc=True) - before, strict=True))
    window = pd.to_datetime(paged["patient_id"].map(opens), utc=True)
    inside = window.notna() & (paged["time"] >= window)
    return int((~inside).sum())


def summary(alerts: pd.DataFrame, episodes: pd.DataFrame, *, patients: int, hours: float,
            before: str | pd.Timedelta = "1h", patients_per_nurse: float = 8.0,
            end: pd.Timestamp | None = None, min_observed: str | pd.Timedelta = "4h") -> dict:
    """Detection, median lead time, false alerts per patient-day and alert load of one method.

    `patients` and `hours` give the exposure (the ward's size and the record's length);
    `end` and `min_observed` censor late episodes (see `detection`).
    """
    if patients < 1 or hours <= 0 or patients_per_nurse <= 0:
        raise ValueError("patients must be >= 1, hours and patients_per_nurse > 0")
    before = parse_duration(before, name="before", allow_zero=True)
    found = detection(alerts, episodes, before, end, min_observed)
    censored = int(found["censored"].sum())
    found = found[~found["censored"]]
    n_pages = int(alerts["type"].isin(PAGES).sum())
    false = _false_alerts(alerts, episodes, before)
    lead = found.loc[found["detected"], "lead_minutes"]
    return {
        "episodes": len(found), "detected": int(found["detected"].sum()), "censored": censored,
        "median_lead_minutes": float(lead.median()) if len(lead) else float("nan"),
        "pages": n_pages, "false_alerts": false,
        "false_alerts_per_patient_day": round(false / (patients * hours / 24), 3),
        "alerts_per_nurse_hour": round(n_pages / (hours * patients / patients_per_nurse), 3),
    }


def compare_methods(alerts: Mapping[str, pd.DataFrame], ward: pd.DataFrame, *,
            before: str | pd.Timedelta = "1h", patients_per_nurse: float = 8.0,
            min_observed: str | pd.Timedelta = "4h") -> pd.DataFrame:
    """The methods side by side: one `summary` row per method, for a `vitals` ward (its
    episodes, patients and record length give the ground truth and the exposure)."""
    from edalab.streams.vitals import vitals_episodes

    episodes = vitals_episodes(ward)
    times = pd.to_datetime(ward["time"], utc=True)
    first = times.min().floor("h")
    hours = float(np.ceil((times.max() - first) / pd.Timedelta("1h")))
    patients = int(ward["patient_id"].nunique())
    rows = [{"method": m, **summary(a, episodes, patients=patients, hours=hours, before=before,
                                    patients_per_nurse=patients_per_nurse,
                                    end=first + pd.Timedelta(hours=hours),
                                    min_observed=min_observed)}
            for m, a in alerts.items()]
    return pd.DataFrame(rows).set_index("method")
