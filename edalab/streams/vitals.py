"""A simulated hospital ward: vital signs of adult patients, with deterioration episodes.

`vitals` returns one row per observation round and patient; `vitals_episodes` returns the
deterioration episodes (the ground truth that monitoring is scored against); `vitals_events`
turns the rows into `edalab.Event`s in event-time order.

>>> df = vitals(patients=4, hours=6, seed=3)
>>> len(df), df["patient_id"].nunique()
(96, 4)
>>> list(df.columns)  # doctest: +NORMALIZE_WHITESPACE
['time', 'patient_id', 'respiration_rate', 'spo2', 'on_oxygen', 'systolic_bp', 'pulse',
 'consciousness', 'temperature', 'artefact', 'deteriorating', 'episode_id']
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from edalab.events import Event
from edalab.streams.physiology import (
    ADVERSE_SBP,
    ADVERSE_SPO2,
    NUMERIC,
    OXYGEN_GAIN,
    RECOVERY_MINUTES,
    adverse_times,
    consciousness,
    level,
    physiology,
    response_times,
    utc,
)

__all__ = ["ADVERSE_SBP", "ADVERSE_SPO2", "ARTEFACTS", "EPISODE_KINDS", "RECOVERY_MINUTES",
           "vitals", "vitals_episodes", "vitals_events", "vitals_params"]

#: Values of the ``artefact`` column: clean, or the data problem injected into the row.
ARTEFACTS = ("", "missing", "motion", "dropout", "out_of_range")
#: Kinds of deterioration episode and how often each occurs.
EPISODE_KINDS = {"sepsis": 0.5, "respiratory": 0.3, "haemorrhage": 0.2}
_OBSERVED = ("respiration_rate", "spo2", "on_oxygen", "systolic_bp", "pulse", "consciousness",
             "temperature")
_EPISODE_COLUMNS = ["episode_id", "patient_id", "kind", "onset", "peak", "severity", "confusion",
                    "adverse_event", "response", "averted"]
_CONFUSION_CHANCE = {"sepsis": 0.6, "respiratory": 0.2, "haemorrhage": 0.3}
_OXYGEN_START_BELOW = 93.0  # a nurse starts oxygen after a round with SpO2 below this
_unchecked = Event._unchecked


def _draw_episodes(rng: np.random.Generator, patients: int, minutes: float,
                   deterioration_rate: float) -> dict[str, np.ndarray]:
    """Per patient: onset (minutes, inf if none), ramp, severity, kind, confusion threshold."""
    if deterioration_rate > 0:
        onset = rng.exponential(24 * 60 / deterioration_rate, patients)
    else:
        onset = np.full(patients, np.inf)
    onset = np.where(onset < minutes, np.round(onset * 60) / 60, np.inf)
    kinds = list(EPISODE_KINDS)
    kind = rng.choice(len(kinds), patients, p=list(EPISODE_KINDS.values()))
    ramp = np.round(rng.uniform(4 * 60, 12 * 60, patients))
    severity = rng.uniform(0.7, 1.3, patients)
    confused = rng.random(patients) < np.array([_CONFUSION_CHANCE[k] for k in kinds])[kind]
    # New confusion appears once severity passes a patient's threshold; inf: never.
    confusion_at = np.where(confused, rng.uniform(0.35, 0.9, patients), np.inf)
    return {"onset": onset, "ramp": ramp, "severity": severity, "kind": kind,
            "confusion_at": confusion_at}


def vitals(
    patients: int = 20,
    hours: float = 24.0,
    cadence: float = 15.0,
    deterioration_rate: float = 0.2,
    start: str | datetime | pd.Timestamp = "2024-01-01T00:00:00Z",
    seed: int | None = 0,
    *,
    missing_rate: float = 0.03,
    artefact_rate: float = 0.02,
    oxygen_at_start: float = 0.05,
    responses: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Simulate a ward of adult patients observed every `cadence` minutes.

    Each patient has a physiological baseline (respiration rate 12-20 /min, SpO2 95-99 %,
    systolic blood pressure 110-140 mmHg, pulse 60-90 /min, temperature 36.2-37.5 °C, alert), a
    circadian rhythm (temperature peaks in the early evening, pulse and blood pressure dip at
    night), a slow individual wander and measurement noise; values are recorded at clinical
    resolution (whole numbers, temperature to 0.1 °C).

    Some patients deteriorate. An episode starts at a ground-truth onset time and its severity
    ramps up over 4-12 hours to a plateau: sepsis (pulse, respiration and temperature rise,
    blood pressure and SpO2 fall, often new confusion), respiratory failure (respiration up,
    SpO2 down) or haemorrhage (pulse up, blood pressure down). A patient whose SpO2 falls
    below 93 % is put on oxygen from the next round on, which lifts SpO2 by about 4 points.

    Left unrecognised, a deterioration ends in an **adverse event**: the emergency in which a
    ward calls its emergency team and the patient is admitted to intensive care or arrests.
    It is the first minute at which the patient's noise-free physiology meets one of the
    calling criteria of a medical emergency team (Lee et al. 1995; the MERIT trial, 2005)
    that the episode drives: **shock**, systolic blood pressure below 90 mmHg
    (`ADVERSE_SBP`); **respiratory failure**, SpO2 below 88 % even with the ward's
    supplemental oxygen (`ADVERSE_SPO2`); or **a fall in consciousness** to responding only to
    voice (V on ACVPU). Measurement noise does not trigger it (a single low reading is not an
    arrest), and a mild episode whose plateau stays short of every criterion stays
    compensated (no adverse event). The time is in ``vitals_episodes(df)["adverse_event"]``.

    `responses` closes the loop: a clinical response to a patient at a given time (e.g. the
    arrival of a team paged by a monitor, `edalab.health.closed_loop`) treats their episode
    if it has begun and not yet reached its adverse event: the episode's changes fade out over
    `RECOVERY_MINUTES` from then on and the adverse event is averted. A response before the
    onset finds nothing to treat; one after the adverse event comes too late to change the
    record. The observations before a response are exactly those of the untreated ward.

    Parameters
    ----------
    patients
        Number of patients, identified ``"p000"``, ``"p001"``, ...
    hours
        Length of the record.
    cadence
        Minutes between observation rounds; each observation is taken up to a fifth of a
        round (at most 5 minutes) after the round starts.
    deterioration_rate
        Episode onsets per patient per day (a Poisson rate; each patient has at most one
        episode, so the chance that a patient deteriorates within a day is
        ``1 - exp(-deterioration_rate)``, about 18 % for the default 0.2).
    start
        Time of the first round (converted to UTC; naive times are taken as UTC).
    seed
        Seed for the random generator (default 0): the same seed gives the same ward; None
        draws a fresh ward each call.
    missing_rate
        Fraction of rows (observation sets) with 1-3 parameters not recorded
        (``artefact == "missing"``).
    artefact_rate
        Fraction of rows with a sensor or recording artefact, one of three kinds equally often:
        ``"motion"`` (pulse reads 25-60 /min high and SpO2 4-12 % low), ``"dropout"`` (the
        pulse oximeter lost its signal: SpO2 and pulse missing) and ``"out_of_range"`` (a
        transcription error making one value physically impossible: an extra digit in
        respiration rate, SpO2, blood pressure or pulse, or a slipped decimal point in
        temperature).
    oxygen_at_start
        Fraction of patients already on supplemental oxygen at the start.
    responses
        Patient id → time of the first clinical response to them (see above); None: the
        open loop, nobody responds.

    Returns
    -------
    pandas.DataFrame
        One row per observation, sorted by time: ``time`` (UTC), ``patient_id``,
        ``respiration_rate``, ``spo2``, ``on_oxygen`` (nullable boolean), ``systolic_bp``,
        ``pulse``, ``consciousness`` (ACVPU letter), ``temperature`` (missing values NaN /
        NA), ``artefact`` (see `ARTEFACTS`), ``deteriorating`` (ground truth: an episode has
        started) and ``episode_id`` (while deteriorating, else missing). The episodes travel
        with the frame in ``df.attrs["episodes"]`` (as JSON); read them with
        `vitals_episodes`.

    Examples
    --------
    >>> df = vitals(patients=50, hours=48, seed=7)
    >>> episodes = vitals_episodes(df)
    >>> len(episodes), episodes.columns.tolist()  # doctest: +NORMALIZE_WHITESPACE
    (19, ['episode_id', 'patient_id', 'kind', 'onset', 'peak', 'severity', 'confusion',
          'adverse_event', 'response', 'averted'])
    >>> int(episodes["adverse_event"].notna().sum())  # the others stayed compensated
    11
    >>> df.loc[df["artefact"] == "", "pulse"].between(40, 160).all()
    np.True_
    """
    if patients < 1 or hours <= 0 or cadence <= 0:
        raise ValueError("patients must be >= 1, hours and cadence > 0")
    for name, rate in (("deterioration_rate", deterioration_rate),
                       ("missing_rate", missing_rate), ("artefact_rate", artefact_rate),
                       ("oxygen_at_start", oxygen_at_start)):
        if not rate >= 0:
            raise ValueError(f"{name} must be >= 0, got {rate!r}")
    if missing_rate + artefact_rate > 1 or oxygen_at_start > 1:
        raise ValueError("missing_rate + artefact_rate and oxygen_at_start must be <= 1")
    start_ts = utc(start)
    minutes = hours * 60.0
    rounds = int(np.ceil(minutes / cadence))
    # Independent streams: changing the artefact rates does not change the patients.
    base_rng, episode_rng, noise_rng, artefact_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    P, R = patients, rounds
    width = max(3, len(str(P - 1)))
    ids = np.array([f"p{i:0{width}d}" for i in range(P)])

    # -- baseline, rhythm and noise: arrays of shape (patients, rounds) -----------------------
    jitter = base_rng.uniform(0, min(cadence / 5, 5.0), (P, R))
    t = np.round((np.arange(R) * cadence + jitter) * 60) / 60  # minutes, whole seconds
    hour = (start_ts.hour + start_ts.minute / 60 + t / 60) % 24
    baseline = {
        "respiration_rate": np.clip(base_rng.normal(16, 1.6, P), 12, 20),
        "spo2": np.clip(base_rng.normal(97, 1.0, P), 95, 99),
        "systolic_bp": np.clip(base_rng.normal(125, 8, P), 110, 140),
        "pulse": np.clip(base_rng.normal(75, 7, P), 60, 90),
        "temperature": np.clip(base_rng.normal(36.8, 0.25, P), 36.2, 37.5),
    }
    # name: (circadian amplitude, peak hour, wander amplitude, noise sd)
    shape = {
        "respiration_rate": (0.8, 14, 0.7, 1.0),
        "spo2": (0.0, 0, 0.5, 0.7),
        "systolic_bp": (6.0, 14, 4.0, 5.0),
        "pulse": (4.0, 15, 3.0, 3.0),
        "temperature": (0.25, 18, 0.1, 0.1),
    }
    rhythm = {name: (amplitude, peak, wander, base_rng.uniform(0.6, 1.4, (P, 1)),
                     base_rng.uniform(180, 720, (P, 2)), base_rng.uniform(0, 2 * np.pi, (P, 2)))
              for name, (amplitude, peak, wander, _) in shape.items()}
    noise = {name: noise_rng.normal(0, sd, (P, R)) for name, (*_, sd) in shape.items()}

    # -- deterioration, and the response that may stop it ----------------------------------------
    ep = _draw_episodes(episode_rng, P, minutes, deterioration_rate)
    ep["treated"] = np.full(P, np.inf)
    untreated = adverse_times(baseline, rhythm, ep, start_ts, minutes)
    response = response_times(responses, ids, start_ts)
    # A response treats an episode that has begun and not yet become an emergency.
    ep["treated"] = np.where((response >= ep["onset"]) & (response < untreated), response,
                             np.inf)
    adverse = (adverse_times(baseline, rhythm, ep, start_ts, minutes)
               if np.isfinite(ep["treated"]).any() else untreated)
    true = physiology(baseline, rhythm, ep, t, hour, noise)
    severity = level(ep, t)
    deteriorating = t >= ep["onset"][:, None]
    letters = consciousness(severity, ep)

    started = np.zeros((P, R), dtype=bool)
    started[:, 1:] = np.maximum.accumulate(true["spo2"] < _OXYGEN_START_BELOW, axis=1)[:, :-1]
    at_start = base_rng.random((P, 1)) < oxygen_at_start
    on_oxygen = at_start | started
    true["spo2"] = np.minimum(true["spo2"] + OXYGEN_GAIN * (started & ~at_start), 100)

    # -- data problems: one kind per row -----------------------------------------------------
    u = artefact_rng.random((P, R))
    problem = np.zeros((P, R), dtype=np.int8)  # index into ARTEFACTS
    problem[u < missing_rate] = 1
    artefact = (u >= missing_rate) & (u < missing_rate + artefact_rate)
    problem[artefact] = artefact_rng.integers(2, 5, int(artefact.sum()))
    motion = problem == 2
    true["pulse"] = true["pulse"] + motion * artefact_rng.uniform(25, 60, (P, R))
    true["spo2"] = true["spo2"] - motion * artefact_rng.uniform(4, 12, (P, R))
    out_of_range = problem == 4
    which = artefact_rng.integers(0, 5, (P, R))
    for j, name in enumerate(NUMERIC):
        hit = out_of_range & (which == j)
        true[name] = np.where(hit, true[name] / 10 if name == "temperature" else true[name] * 10,
                              true[name])

    values = {name: np.round(true[name], 1 if name == "temperature" else 0)
              for name in NUMERIC}
    values["spo2"] = np.clip(values["spo2"], 50, None)  # oximeters read no lower
    ranks = artefact_rng.random((P, R, len(_OBSERVED))).argsort(axis=2)
    dropped = ranks < artefact_rng.integers(1, 4, (P, R))[:, :, None]
    dropped &= (problem == 1)[:, :, None]
    valid = {name: ~dropped[:, :, j] for j, name in enumerate(_OBSERVED)}
    for name in ("spo2", "pulse"):
        valid[name] &= problem != 3  # dropout

    # -- to a frame, sorted by time ------------------------------------------------------------
    seconds = np.round(t * 60).astype(np.int64)  # exact: t is in whole seconds
    order = np.lexsort((np.repeat(np.arange(P)[:, None], R, axis=1).ravel(), seconds.ravel()))
    keep = (t.ravel() < minutes)[order]
    order = order[keep]
    patient = np.repeat(np.arange(P), R)[order]
    has_episode = np.isfinite(ep["onset"])
    episode_ids = np.full(P, None, dtype=object)
    episode_ids[has_episode] = [f"e{i:0{width}d}" for i in range(int(has_episode.sum()))]

    def flat(a: np.ndarray) -> np.ndarray:
        return a.ravel()[order]

    columns: dict[str, Any] = {
        "time": pd.DatetimeIndex(start_ts.value + flat(seconds) * 1_000_000_000, tz="UTC"),
        "patient_id": ids[patient],
    }
    for name in _OBSERVED:
        ok = flat(valid[name])
        if name == "on_oxygen":
            columns[name] = pd.array(np.where(ok, flat(on_oxygen), False), dtype="boolean")
            columns[name][~ok] = pd.NA
        elif name == "consciousness":
            columns[name] = np.where(ok, flat(letters), None)  # type: ignore[call-overload]
        else:
            columns[name] = np.where(ok, flat(values[name]), np.nan)
    columns["artefact"] = np.array(ARTEFACTS)[flat(problem)]
    det = flat(deteriorating)
    columns["deteriorating"] = det
    columns["episode_id"] = np.where(det, episode_ids[patient], None)  # type: ignore[call-overload]
    df = pd.DataFrame(columns)

    # JSON text, not a DataFrame: pandas deep-copies attrs on every operation and compares
    # them when concatenating, which a DataFrame value breaks; a string is cheap and safe.
    onset_s = np.round(ep["onset"][has_episode] * 60).astype(np.int64)
    peak_s = onset_s + ep["ramp"][has_episode].astype(np.int64) * 60
    kinds = list(EPISODE_KINDS)

    def stamp(minute: float) -> str | None:
        return (start_ts + pd.Timedelta(minutes=minute)).isoformat() if minute < np.inf \
            else None

    records = [
        {"episode_id": e, "patient_id": p, "kind": kinds[k],
         "onset": (start_ts + pd.Timedelta(seconds=o)).isoformat(),
         "peak": (start_ts + pd.Timedelta(seconds=pk)).isoformat(),
         "severity": round(float(sv), 3), "confusion": bool(c), "adverse_event": stamp(a),
         "response": stamp(r), "averted": bool(np.isfinite(u) and not np.isfinite(a))}
        for e, p, k, o, pk, sv, c, a, r, u in zip(
            episode_ids[has_episode], ids[has_episode], ep["kind"][has_episode].tolist(),
            onset_s.tolist(), peak_s.tolist(), ep["severity"][has_episode],
            np.isfinite(ep["confusion_at"][has_episode]), adverse[has_episode].tolist(),
            ep["treated"][has_episode].tolist(), untreated[has_episode].tolist(), strict=True)
    ]
    df.attrs["episodes"] = json.dumps(records)
    # The arguments, so the same ward can be simulated again (a closed loop, `vitals_params`).
    df.attrs["vitals"] = json.dumps({
        "patients": patients, "hours": hours, "cadence": cadence,
        "deterioration_rate": deterioration_rate, "start": start_ts.isoformat(), "seed": seed,
        "missing_rate": missing_rate, "artefact_rate": artefact_rate,
        "oxygen_at_start": oxygen_at_start})
    return df


def vitals_episodes(df: pd.DataFrame) -> pd.DataFrame:
    """The deterioration episodes behind a `vitals` frame: the ground truth for scoring.

    Returns
    -------
    pandas.DataFrame
        One row per episode: ``episode_id``, ``patient_id``, ``kind`` (see `EPISODE_KINDS`),
        ``onset`` (UTC; the patient's physiology starts to change), ``peak`` (severity reaches
        its plateau), ``severity`` (multiplier of the kind's typical changes),
        ``confusion`` (whether new confusion appears along the way), ``adverse_event`` (UTC;
        when the deterioration becomes an emergency, see `vitals`; NaT if it stays
        compensated within the record or was averted), ``response`` (the response that
        treated the episode, NaT if none did) and ``averted`` (a response came before an
        adverse event the untreated course reaches within the record).

    Raises
    ------
    ValueError
        If `df` carries no episodes: ``df.attrs`` survives filtering, copying, merging and
        pickle, but not CSV; take the episodes from the frame `vitals` returned.

    Examples
    --------
    >>> ward = vitals(patients=30, hours=24, seed=1)
    >>> ep = vitals_episodes(ward)
    >>> first = ep.iloc[0]
    >>> first["patient_id"], first["kind"], str(first["onset"])
    ('p004', 'sepsis', '2024-01-01 17:11:37+00:00')
    >>> ward.loc[ward["episode_id"] == first["episode_id"], "time"].min() >= first["onset"]
    True
    """
    text = df.attrs.get("episodes")
    if not isinstance(text, str):
        raise ValueError("df has no episodes in df.attrs['episodes']: pass the frame that "
                         "vitals() returned")
    episodes = pd.DataFrame(json.loads(text), columns=_EPISODE_COLUMNS)
    for name in ("onset", "peak", "adverse_event", "response"):
        episodes[name] = pd.to_datetime(episodes[name], utc=True, format="ISO8601")
    return episodes.astype({"severity": float, "confusion": bool, "averted": bool})


def vitals_params(df: pd.DataFrame) -> dict[str, Any]:
    """The arguments of the `vitals` call that made `df` (without ``responses``), or a
    ValueError if it carries none (a frame read back from CSV).

    >>> ward = vitals(patients=3, hours=2, seed=4)
    >>> vitals(**vitals_params(ward)).equals(ward)
    True
    """
    text = df.attrs.get("vitals")
    if not isinstance(text, str):
        raise ValueError("df has no simulator arguments in df.attrs['vitals']: pass the frame "
                         "that vitals() returned")
    return json.loads(text)


def _floats(column: pd.Series) -> list[float | None]:
    return [None if v != v else v for v in column.to_numpy(dtype=float, na_value=np.nan).tolist()]


def _objects(column: pd.Series) -> list:
    return [None if v is None or v is pd.NA or v != v else v
            for v in column.astype(object).tolist()]


def vitals_events(df: pd.DataFrame, *, truth: bool = False) -> Iterator[Event]:
    """Turn `vitals` rows into ``vitals.observation`` events, in event-time order.

    Parameters
    ----------
    df
        A frame from `vitals` (or any frame with its columns).
    truth
        Also put the ground truth in each event's data (``artefact``, ``deteriorating``,
        ``episode_id``): useful for scoring downstream, not something a monitor should see.

    Yields
    ------
    Event
        Type ``vitals.observation``, source ``/edalab/ward``, key the patient id, time the
        observation time (UTC), id ``<patient>-<time>`` (the same every run); data a dict of
        plain Python values (missing readings as None).

    Examples
    --------
    >>> df = vitals(patients=2, hours=1, seed=5)
    >>> e = next(vitals_events(df))
    >>> e.type, e.key, e.id, e.time.isoformat()
    ('vitals.observation', 'p001', 'p001-2024-01-01T00:00:22Z', '2024-01-01T00:00:22+00:00')
    >>> sorted(e.data)  # doctest: +NORMALIZE_WHITESPACE
    ['consciousness', 'on_oxygen', 'patient_id', 'pulse', 'respiration_rate', 'spo2',
     'systolic_bp', 'temperature']
    """
    times = pd.to_datetime(df["time"], utc=True)
    if (unknown := times.isna()).any():
        raise ValueError(f"time is missing (NaT) in {unknown.sum()} row(s), the first of "
                         f"patient {df['patient_id'][unknown].tolist()[0]!r}")
    order = np.argsort(times.to_numpy(), kind="stable")
    df = df.iloc[order]
    times = times.iloc[order]
    patients = df["patient_id"].astype(str).tolist()
    seconds = times.dt.tz_convert(None).to_numpy().astype("datetime64[s]")
    ids = [f"{p}-{s}Z" for p, s in zip(patients, np.datetime_as_string(seconds), strict=True)]
    stamps = times.dt.to_pydatetime().tolist()
    names = ["patient_id", *_OBSERVED]
    columns: list[list] = [patients]
    for name in _OBSERVED:
        columns.append(_objects(df[name]) if name in ("on_oxygen", "consciousness")
                       else _floats(df[name]))
    if truth:
        names += ["artefact", "deteriorating", "episode_id"]
        columns += [df["artefact"].astype(str).tolist(),
                    df["deteriorating"].astype(bool).tolist(), _objects(df["episode_id"])]
    # Every attribute is valid by construction (str ids and keys, UTC datetimes): the events
    # are built without Event's checks.
    for key, id_, time, values in zip(patients, ids, stamps, zip(*columns, strict=True),
                                      strict=True):
        data = dict(zip(names, values))  # noqa: B905 (a value per name; strict= costs)
        yield _unchecked("vitals.observation", "/edalab/ward", data, key, time, id_)
