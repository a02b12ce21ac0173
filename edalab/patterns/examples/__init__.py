"""Aggregates from the case studies: a card account (fraud) and a patient episode (health)."""

from __future__ import annotations

from edalab.patterns.examples.card_account import CardAccount, card_upcasters
from edalab.patterns.examples.patient_episode import PatientEpisode

__all__ = ["CardAccount", "PatientEpisode", "card_upcasters"]
