"""The ward's charts: a patient's vitals show NEWS2 as scored and mark the episode's onset."""

from __future__ import annotations

import numpy as np
import pytest

from edalab.health import news2_frame, patient_vitals
from edalab.streams import vitals, vitals_episodes


def test_patient_vitals_shows_news2_and_marks_the_onset():
    ward = vitals(patients=20, hours=24, seed=7)
    episode = vitals_episodes(ward).iloc[0]
    fig = patient_vitals(ward, episode.patient_id)
    rows = ward[ward.patient_id == episode.patient_id]
    news = fig.data[-1]
    assert news.name == "NEWS2" and news.yaxis == "y3"
    expected = news2_frame(rows)["total"].tolist()
    assert [np.nan if v is None else v for v in news.y] == pytest.approx(expected, nan_ok=True)
    onset = [s for s in fig.layout.shapes if s.type == "line"]
    assert onset[0].x0 == episode.onset.tz_localize(None).isoformat()
    assert fig.to_json() == patient_vitals(ward, episode.patient_id).to_json()
    with pytest.raises(ValueError, match="p999"):
        patient_vitals(ward, "p999")
