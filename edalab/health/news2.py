"""NEWS2: the National Early Warning Score 2 (Royal College of Physicians, 2017).

`news2` scores one set of observations and validates it; `news2_frame` scores a whole
DataFrame at once (numpy, no row loop); `edalab.health.News2Operator` scores a stream. All of
them turn values into points with one kernel, `news2_points`, which reads the threshold tables
(`TABLES`, taken from the RCP's chart 1): a value scores the points of the first band whose
upper bound it does not exceed, so non-integer values fall cleanly between bands (a
temperature of 36.05 °C is above 36.0 and scores 0; a pulse of 90.5 is above 90 and scores 1).

>>> s = news2(respiration_rate=22, spo2=95, on_oxygen=False, systolic_bp=105, pulse=95,
...           consciousness="A", temperature=38.3)
>>> s.total, s.risk
(6, 'medium')
>>> s.points["respiration_rate"], s.points["spo2"]
(2, 1)
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, cast

import numpy as np
import pandas as pd

__all__ = ["ACVPU", "PARAMETERS", "RESPONSES", "RISKS", "TABLES", "VALID_RANGES", "News2",
           "news2", "news2_frame", "news2_points", "news2_row_points", "risk_code", "risk_codes"]

#: The seven NEWS2 parameters, in chart order; also the column names `news2_frame` reads.
PARAMETERS = (
    "respiration_rate", "spo2", "on_oxygen", "systolic_bp", "pulse", "consciousness",
    "temperature",
)
#: Clinical risk bands, lowest first.
RISKS = ("low", "low-medium", "medium", "high")

# (inclusive upper bounds, points): points[i] for bounds[i-1] < x <= bounds[i].
_TABLES: dict[str, tuple[tuple[float, ...], tuple[int, ...]]] = {
    "respiration_rate": ((8, 11, 20, 24), (3, 1, 0, 2, 3)),
    "spo2": ((91, 93, 95), (3, 2, 1, 0)),
    "systolic_bp": ((90, 100, 110, 219), (3, 2, 1, 0, 3)),
    "pulse": ((40, 50, 90, 110, 130), (3, 1, 0, 1, 2, 3)),
    "temperature": ((35.0, 36.0, 38.0, 39.0), (3, 1, 0, 1, 2)),
}
#: NEWS2's scale-1 threshold tables: parameter -> (inclusive upper bounds, points). Read-only:
#: every scorer is built from them, so none can drift from another.
TABLES: Mapping[str, tuple[tuple[float, ...], tuple[int, ...]]] = MappingProxyType(_TABLES)
# Scale 2 (hypercapnic respiratory failure, target 88-92 %): <= 92 scores the same on air or
# oxygen; above 92 scores 0 on air and, on oxygen, by the second table.
_SCALE2_LOW = ((83, 85, 87, 92), (3, 2, 1, 0, 0))
_SCALE2_ON_OXYGEN = ((92, 94, 96), (0, 1, 2, 3))
#: The ACVPU scale, in order: alert, new confusion, voice, pain, unresponsive. The kernel reads
#: consciousness as an index into it: alert (0) scores 0, anything else 3.
ACVPU = "ACVPU"
_LETTERS = tuple(ACVPU)
_OXYGEN_POINTS, _CONFUSED_POINTS = 2, 3
_BANDED = tuple((PARAMETERS.index(name), name) for name in _TABLES)
_ROW = tuple(TABLES[name] for name in
             ("respiration_rate", "spo2", "systolic_bp", "pulse", "temperature"))
_SPO2, _OXYGEN, _ACVPU = (PARAMETERS.index(n) for n in ("spo2", "on_oxygen", "consciousness"))
#: Physically possible values; anything outside is a recording error, not a patient.
VALID_RANGES: dict[str, tuple[float, float]] = {
    "respiration_rate": (0, 80), "spo2": (0, 100), "systolic_bp": (0, 300),
    "pulse": (0, 300), "temperature": (25, 45),
}

#: The RCP's recommended clinical response (chart 4), abridged; key "none" is a total of 0.
RESPONSES = {
    "none": "Minimum 12-hourly observations; continue routine NEWS monitoring.",
    "low": "Minimum 4-6-hourly observations; a registered nurse assesses the patient and "
           "decides whether monitoring should increase or care be escalated.",
    "low-medium": "Minimum 1-hourly observations; a registered nurse informs the medical team, "
                  "who review the patient and decide whether care should be escalated.",
    "medium": "Urgent response: minimum 1-hourly observations; a registered nurse immediately "
              "informs the medical team; urgent assessment by a clinician competent in acute "
              "illness, in an environment with monitoring facilities.",
    "high": "Emergency response: continuous monitoring; a registered nurse immediately informs "
            "the medical team (at least specialist registrar); emergency assessment by a team "
            "with critical-care competencies, including airway management; consider transfer "
            "to level 2 or 3 care.",
}


def risk_code(total: float, red: bool) -> int:
    """The clinical band of a total, given whether some parameter scores 3, as an index into
    `RISKS` (and into the response levels of `edalab.health.alerts.LEVELS`): 3 from a total
    of 7, 2 from 5, 1 for a single parameter scoring 3, else 0.

    >>> [risk_code(t, r) for t, r in [(7, False), (5, True), (2, True), (4, False)]]
    [3, 2, 1, 0]
    """
    return 3 if total >= 7 else 2 if total >= 5 else 1 if red else 0


def risk_codes(total: np.ndarray, red: np.ndarray) -> np.ndarray:
    """`risk_code` of arrays (a NaN total counts as below 5)."""
    return np.where(total >= 7, 3, np.where(total >= 5, 2, np.where(red, 1, 0)))


def news2_points(x: np.ndarray, spo2_scale: int | np.ndarray = 1) -> np.ndarray:
    """The NEWS2 points of each value of observation rows: the one kernel every scorer uses.

    `x` is an (n, 7) float array in `PARAMETERS` order, with ``on_oxygen`` as 1.0 / 0.0 and
    ``consciousness`` as an index into `ACVPU` (NaN: missing); `spo2_scale` is 1, 2 or one
    scale per row. The result has `x`'s shape: the points of each value, NaN where the value
    is missing (and on scale 2 above 92 % when the oxygen flag is). It does not validate:
    the scorers check their input first.

    >>> news2_points(np.array([[22, 95, 0, 105, 95, 0, 38.3], [8, np.nan, 1, 90, 40, 2, 35]]))
    array([[ 2.,  1.,  0.,  1.,  1.,  0.,  1.],
           [ 3., nan,  2.,  3.,  3.,  3.,  3.]])
    """
    out = np.empty(x.shape)
    for i, name in _BANDED:
        out[:, i] = _band_points(TABLES[name], x[:, i])
    out[:, _OXYGEN] = (x[:, _OXYGEN] != 0) * float(_OXYGEN_POINTS)
    out[:, _ACVPU] = (x[:, _ACVPU] != 0) * float(_CONFUSED_POINTS)
    if np.ndim(spo2_scale) or spo2_scale != 1:
        out[:, _SPO2] = np.where(np.asarray(spo2_scale) == 1, out[:, _SPO2], _scale2_points(x))
    out[np.isnan(x)] = np.nan
    return out


def news2_row_points(values: Sequence[float | None], spo2_scale: int = 1) -> list[int | None]:
    """`news2_points` of one row given as a list (None: missing), in plain Python: the form
    the per-event scorers use, where a numpy call would cost more than the scoring.

    >>> news2_row_points([22, 95, 0, 105, 95, 0, 38.3])
    [2, 1, 0, 1, 1, 0, 1]
    >>> news2_row_points([8, None, 1, 90, 40, 2, 35])
    [3, None, 2, 3, 3, 3, 3]
    """
    rr, spo2, oxygen, sbp, pulse, acvpu, temp = values
    # Unrolled: this runs once per streamed event.
    (rr_b, rr_p), (spo2_b, spo2_p), (sbp_b, sbp_p), (pulse_b, pulse_p), (temp_b, temp_p) = _ROW
    out = [None if rr is None else rr_p[bisect_left(rr_b, rr)],
           None if spo2 is None else spo2_p[bisect_left(spo2_b, spo2)],
           None if oxygen is None else _OXYGEN_POINTS if oxygen else 0,
           None if sbp is None else sbp_p[bisect_left(sbp_b, sbp)],
           None if pulse is None else pulse_p[bisect_left(pulse_b, pulse)],
           None if acvpu is None else _CONFUSED_POINTS if acvpu else 0,
           None if temp is None else temp_p[bisect_left(temp_b, temp)]]
    if spo2_scale != 1 and out[_SPO2] is not None:
        spo2, oxygen = cast(float, values[_SPO2]), values[_OXYGEN]  # present: scored above
        if spo2 <= 92:
            out[_SPO2] = _pick(_SCALE2_LOW, spo2)
        elif oxygen is None:
            out[_SPO2] = None  # an unknown air/oxygen flag: undefined above 92 %
        else:
            out[_SPO2] = _pick(_SCALE2_ON_OXYGEN if oxygen else _SCALE2_LOW, spo2)
    return out


def _pick(table: tuple[tuple[float, ...], tuple[int, ...]], value: float) -> int:
    return table[1][bisect_left(table[0], value)]


@lru_cache(maxsize=32)
def _arrays(table: tuple[tuple[float, ...], tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(table[0], dtype=float), np.asarray(table[1], dtype=float)


def _band_points(table: tuple[tuple[float, ...], tuple[int, ...]], x: np.ndarray) -> np.ndarray:
    bounds, pts = _arrays(table)
    return pts[np.searchsorted(bounds, x)]


def _scale2_points(x: np.ndarray) -> np.ndarray:
    spo2, oxygen = x[:, _SPO2], x[:, _OXYGEN]
    above = spo2 > 92
    out = np.where(above & (oxygen != 0), _band_points(_SCALE2_ON_OXYGEN, spo2),
                   _band_points(_SCALE2_LOW, spo2))
    out[above & np.isnan(oxygen)] = np.nan  # an unknown air/oxygen flag: undefined above 92 %
    return out


@dataclass(frozen=True, repr=False)
class News2:
    """A NEWS2 score: what `news2` returns (immutable).

    Attributes
    ----------
    total
        The aggregate score, 0-20.
    points
        Points per parameter (read-only mapping keyed by `PARAMETERS`).
    red
        Whether any single parameter scores 3 (a "red score").
    risk
        ``"low"`` (0-4), ``"low-medium"`` (a red score with a total below 5), ``"medium"``
        (5-6) or ``"high"`` (7 or more).
    response
        The RCP's recommended clinical response for this score, abridged.
    """

    total: int
    points: Mapping[str, int]
    red: bool
    risk: str
    response: str

    def __hash__(self) -> int:
        return hash((self.total, tuple(self.points.items()), self.red, self.risk))

    def __repr__(self) -> str:
        return (f"News2(total={self.total}, risk={self.risk!r}, red={self.red}, "
                f"points={dict(self.points)})")


def _number(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    x = float(value)
    if math.isnan(x):
        raise ValueError(f"{name} is missing (NaN)")
    low, high = VALID_RANGES[name]
    if not low <= x <= high:
        raise ValueError(f"{name} = {value!r} is outside the possible range [{low}, {high}]")
    return x


def _check_scale(spo2_scale: Any) -> None:
    if isinstance(spo2_scale, (bool, np.bool_)) or spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale must be 1 or 2, got {spo2_scale!r}")


def news2(
    respiration_rate: float,
    spo2: float,
    on_oxygen: bool,
    systolic_bp: float,
    pulse: float,
    consciousness: str,
    temperature: float,
    spo2_scale: int = 1,
) -> News2:
    """Score one set of observations with NEWS2.

    Parameters
    ----------
    respiration_rate
        Breaths per minute.
    spo2
        Oxygen saturation, %.
    on_oxygen
        Whether the patient is on supplemental oxygen (a `bool`).
    systolic_bp
        Systolic blood pressure, mmHg.
    pulse
        Heart rate, beats per minute.
    consciousness
        ACVPU: ``"A"`` alert, ``"C"`` new confusion, ``"V"`` responds to voice, ``"P"`` to
        pain, ``"U"`` unresponsive. Anything but ``"A"`` scores 3.
    temperature
        °C.
    spo2_scale
        1 (most patients) or 2 (hypercapnic respiratory failure with a prescribed target of
        88-92 %, on a clinician's decision).

    Returns
    -------
    News2
        Total, points per parameter, red flag, risk band and clinical response.

    Raises
    ------
    ValueError
        Naming the parameter, for a missing (NaN) value, a wrong type, an unknown ACVPU letter
        or a physically impossible value (see `VALID_RANGES`).

    Examples
    --------
    >>> news2(18, 97, False, 125, 80, "A", 37.0).risk
    'low'
    >>> s = news2(18, 97, False, 125, 80, "C", 37.0)  # new confusion alone: a red score
    >>> s.total, s.red, s.risk
    (3, True, 'low-medium')
    >>> news2(18, 89, False, 125, 80, "A", 37.0, spo2_scale=2).points["spo2"]
    0
    >>> news2(18, 101, False, 125, 80, "A", 37.0)
    Traceback (most recent call last):
    ...
    ValueError: spo2 = 101 is outside the possible range [0, 100]
    """
    _check_scale(spo2_scale)
    values = {
        "respiration_rate": respiration_rate, "spo2": spo2, "systolic_bp": systolic_bp,
        "pulse": pulse, "temperature": temperature,
    }
    x = {name: _number(name, value) for name, value in values.items()}
    if not isinstance(on_oxygen, (bool, np.bool_)):
        raise ValueError(f"on_oxygen must be a bool, got {type(on_oxygen).__name__} "
                         f"{on_oxygen!r}")
    oxygen = bool(on_oxygen)
    if not isinstance(consciousness, str) or consciousness not in _LETTERS:
        raise ValueError(f"consciousness must be one of 'A', 'C', 'V', 'P', 'U', got "
                         f"{consciousness!r}")
    row = [x["respiration_rate"], x["spo2"], oxygen, x["systolic_bp"], x["pulse"],
           ACVPU.index(consciousness), x["temperature"]]
    # Every value is present (checked above), so every parameter has its points.
    points = dict(zip(PARAMETERS, cast(list[int], news2_row_points(row, spo2_scale)),
                      strict=True))
    total = sum(points.values())
    red = 3 in points.values()
    risk = RISKS[risk_code(total, red)]
    response = RESPONSES["none" if total == 0 else risk]
    return News2(total, MappingProxyType(points), red, risk, response)


def _numeric(df: pd.DataFrame, name: str) -> np.ndarray:
    """The column as floats, with missing and physically impossible values as NaN."""
    x = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    low, high = VALID_RANGES[name]
    return np.where((x >= low) & (x <= high), x, np.nan)


def news2_frame(df: pd.DataFrame, spo2_scale: int | Any = 1) -> pd.DataFrame:
    """Score every row of a DataFrame with NEWS2 (vectorised; equals `news2` row by row).

    Parameters
    ----------
    df
        A frame with the columns named in `PARAMETERS` (others are ignored), e.g. from
        `edalab.streams.vitals`.
    spo2_scale
        1 or 2 for every row, or an array of 1s and 2s, one per row.

    Returns
    -------
    pandas.DataFrame
        On `df`'s index: ``<parameter>_points`` for each parameter; ``partial_total``, the sum of
        the points that could be scored; ``total``; ``red`` (some scored parameter has 3
        points); ``risk`` (an ordered categorical of `RISKS`) and ``incomplete``.

    Notes
    -----
    A value that is missing (NaN, None, ``pd.NA``), physically impossible (outside
    `VALID_RANGES`, e.g. a temperature of 3.7 from a slipped decimal point) or not a known ACVPU
    letter is never scored as 0: its points are NaN and the row is ``incomplete``. For such a
    row ``total`` is NaN and ``risk`` is missing, because the score is undefined; and
    ``partial_total`` and ``red`` use the parameters that were recorded. Both are lower bounds
    on the complete score, so an alarm rule on them (``partial_total >= 5 or red``) never
    fires on invented values, only later than the complete score would.

    Examples
    --------
    >>> obs = pd.DataFrame({
    ...     "respiration_rate": [16, 26], "spo2": [97, 90], "on_oxygen": [False, True],
    ...     "systolic_bp": [128, 95], "pulse": [72, 118], "consciousness": ["A", "C"],
    ...     "temperature": [36.9, float("nan")]})
    >>> out = news2_frame(obs)
    >>> out[["partial_total", "total", "red", "incomplete"]]
       partial_total  total    red  incomplete
    0            0.0    0.0  False       False
    1           15.0    NaN   True        True
    >>> out["risk"].tolist()
    ['low', nan]
    """
    missing = [name for name in PARAMETERS if name not in df.columns]
    if missing:
        raise ValueError(f"df lacks the NEWS2 column(s) {missing}")
    n = len(df)
    scale: Any
    if np.ndim(spo2_scale) == 0:
        _check_scale(spo2_scale)
        scale = int(spo2_scale)
    else:
        scale = np.asarray(spo2_scale)
        if scale.shape != (n,) or not np.isin(scale, (1, 2)).all():
            raise ValueError("spo2_scale must be 1, 2 or an array of 1s and 2s, one per row")

    oxygen = df["on_oxygen"]
    known = oxygen.notna().to_numpy()
    columns = {name: _numeric(df, name) for name in VALID_RANGES}
    columns["on_oxygen"] = np.full(n, np.nan)
    columns["on_oxygen"][known] = oxygen[known].astype(bool).to_numpy()
    letters = df["consciousness"].astype(object).to_numpy()
    columns["consciousness"] = np.full(n, np.nan)
    for index, letter in enumerate(ACVPU):
        columns["consciousness"][letters == letter] = index
    x = np.column_stack([columns[name] for name in PARAMETERS]) if n else np.empty((0, 7))
    matrix = news2_points(x, scale)
    points = dict(zip(PARAMETERS, matrix.T, strict=True))
    incomplete = np.isnan(matrix).any(axis=1)
    partial = np.nansum(matrix, axis=1)
    red = (matrix == 3).any(axis=1)
    total = np.where(incomplete, np.nan, partial)
    codes = np.where(incomplete, -1, risk_codes(total, red))
    out = pd.DataFrame({f"{name}_points": points[name] for name in PARAMETERS}, index=df.index)
    out["partial_total"] = partial
    out["total"] = total
    out["red"] = red
    out["risk"] = pd.Categorical.from_codes(codes, categories=list(RISKS), ordered=True)
    out["incomplete"] = incomplete
    return out
