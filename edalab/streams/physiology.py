"""The physiology of the simulated ward: a patient's vital signs over time, a deterioration's
course and, if nobody responds in time, its adverse event (used by `edalab.streams.vitals`).

The adverse event is the emergency an unrecognised deterioration ends in, where a ward calls
its emergency team and the patient is admitted to intensive care or arrests: the first minute
the noise-free physiology meets a calling criterion of a medical emergency team (Lee et al.
1995; Hillman et al., MERIT 2005) that the simulated episodes drive: shock (systolic blood
pressure below `ADVERSE_SBP`), respiratory failure (SpO2 below `ADVERSE_SPO2` even with the
ward's oxygen) or a fall in consciousness to responding only to voice.

>>> ADVERSE_SBP, ADVERSE_SPO2, RECOVERY_MINUTES
(90.0, 88.0, 120.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ADVERSE_SBP", "ADVERSE_SPO2", "OXYGEN_GAIN", "RECOVERY_MINUTES"]

NUMERIC = ("respiration_rate", "spo2", "systolic_bp", "pulse", "temperature")
# Change of each vital at full severity (the plateau), per kind of episode.
EFFECTS = {  # respiration_rate, spo2, systolic_bp, pulse, temperature
    "sepsis": (10.0, -6.0, -40.0, 40.0, 2.0),
    "respiratory": (12.0, -10.0, -5.0, 20.0, 0.8),
    "haemorrhage": (6.0, -2.0, -45.0, 45.0, -0.3),
}
OXYGEN_GAIN = 4.0  #: SpO2 points regained on supplemental oxygen


ADVERSE_SBP = 90.0  #: systolic blood pressure below this, mmHg: shock
ADVERSE_SPO2 = 88.0  #: SpO2 below this even on the ward's oxygen, %: respiratory failure
RECOVERY_MINUTES = 120.0  #: after a timely response, the episode's changes fade over this


def level(ep: dict[str, np.ndarray], t: np.ndarray) -> np.ndarray:
    """Severity of each patient's episode at times `t` (minutes, shape (P, K)): ramps up from
    onset to the plateau; after an effective response it fades to 0 over `RECOVERY_MINUTES`."""
    since = (t - ep["onset"][:, None]) / ep["ramp"][:, None]
    level = np.clip(since, 0, 1) ** 1.5 * ep["severity"][:, None]
    treated = ep["treated"][:, None]
    with np.errstate(invalid="ignore"):  # inf - inf: no episode, no response
        fade = np.clip(1 - (t - treated) / RECOVERY_MINUTES, 0, 1)
        held = np.clip((treated - ep["onset"][:, None]) / ep["ramp"][:, None], 0, 1) ** 1.5
    held = held * ep["severity"][:, None]
    return np.where(np.isfinite(treated) & (t >= treated), held * fade, level)


def physiology(baseline: dict, rhythm: dict, ep: dict[str, np.ndarray], t: np.ndarray,
                hour: np.ndarray, noise: dict | None = None,
                names: tuple[str, ...] = NUMERIC) -> dict[str, np.ndarray]:
    """The vital signs `names` at times `t`: baseline, rhythm, wander, `noise` (if given) and
    the episode, summed in that order."""
    severity = level(ep, t)
    effects = np.array(list(EFFECTS.values()))[ep["kind"]]  # (P, 5)
    out = {}
    for j, name in enumerate(NUMERIC):
        if name not in names:
            continue
        amplitude, peak, wander, scale, period, phase = rhythm[name]
        slow = np.sin(2 * np.pi * t[:, :, None] / period[:, None, :] + phase[:, None, :])
        out[name] = (baseline[name][:, None]
                     + amplitude * scale * np.cos(2 * np.pi * (hour - peak) / 24)
                     + wander * slow.sum(axis=2) / np.sqrt(2))
        if noise is not None:
            out[name] = out[name] + noise[name]
        out[name] = out[name] + severity * effects[:, j, None]
    return out


def consciousness(level: np.ndarray, ep: dict[str, np.ndarray]) -> np.ndarray:
    letters = np.full(level.shape, "A", dtype="<U1")
    letters[level >= ep["confusion_at"][:, None]] = "C"
    letters[level >= ep["confusion_at"][:, None] + 0.6] = "V"
    return letters


def adverse_times(baseline: dict, rhythm: dict, ep: dict[str, np.ndarray],
                   start: pd.Timestamp, minutes: float) -> np.ndarray:
    """Minute of each patient's adverse event (inf: none within the record): the first minute
    the noise-free physiology is in shock (systolic BP < `ADVERSE_SBP`), in respiratory failure
    (SpO2 < `ADVERSE_SPO2` with the ward's oxygen) or responds to voice only (V on ACVPU)."""
    out = np.full(len(ep["onset"]), np.inf)
    rows = np.flatnonzero(np.isfinite(ep["onset"]))  # only patients with an episode
    if not len(rows):
        return out
    ep = {k: v[rows] for k, v in ep.items()}
    baseline = {k: v[rows] for k, v in baseline.items()}
    rhythm = {k: (*v[:3], *(a[rows] for a in v[3:])) for k, v in rhythm.items()}
    t = np.broadcast_to(np.arange(np.ceil(minutes)), (len(rows), int(np.ceil(minutes))))
    hour = (start.hour + start.minute / 60 + t / 60) % 24
    body = physiology(baseline, rhythm, ep, t, hour, names=("spo2", "systolic_bp"))
    critical = ((body["systolic_bp"] < ADVERSE_SBP)
                | (body["spo2"] + OXYGEN_GAIN < ADVERSE_SPO2)
                | (consciousness(level(ep, t), ep) == "V"))
    critical &= t >= ep["onset"][:, None]
    first = np.where(critical.any(axis=1), critical.argmax(axis=1), -1).astype(float)
    out[rows] = np.where(first >= 0, first, np.inf)
    return out


def response_times(responses: Mapping[str, Any] | None, ids: np.ndarray,
                    start: pd.Timestamp) -> np.ndarray:
    """Minute of each patient's first response from `responses` (inf: none)."""
    out = np.full(len(ids), np.inf)
    index = {p: i for i, p in enumerate(ids.tolist())}
    for patient, when in (responses or {}).items():
        if patient not in index:
            raise ValueError(f"responses names {patient!r}, not a patient of this ward")
        out[index[patient]] = (utc(when) - start) / pd.Timedelta("1min")
    return out


def utc(start: Any) -> pd.Timestamp:
    """`start` as a UTC timestamp (naive times are taken as UTC)."""
    ts = pd.Timestamp(start)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
