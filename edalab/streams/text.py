"""Simulated incident reports: short texts with a category and a severity, for online NLP.

Operators write reports of five kinds of incident (network, database, storage, authentication,
deployment) in a few words each, from a vocabulary per kind plus words every kind uses; some
words are shared by two kinds, so the texts are not trivially separable. Typos (a letter
dropped, doubled or swapped) and filler words add noise. Part-way through the stream a kind
never seen before appears (``ransomware``): vocabulary drift, for novelty detection. No
downloads: everything comes from the seeded generator.

`text_events` turns the frame into ``incident.reported`` events (the text, no category);
`text_label_events` into the ``incident.label`` events that arrive `delay` later, when an
engineer has triaged the report. `edalab.streams.merge` interleaves the two; a DataFrame of
your own texts replays with `edalab.streams.replay` (a text column is data like any other).

>>> df = incident_reports(200, seed=1)
>>> df.columns.tolist()
['report_id', 'time', 'text', 'category', 'severity', 'novel']
>>> sorted(df.category.unique())[:3], int(df.novel.idxmax())
(['authentication', 'database', 'deployment'], 122)
>>> next(text_events(df)).data["text"]
'volume since disk sev1 on morning transaction'
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event

__all__ = ["CATEGORIES", "NOVEL", "incident_reports", "text_events", "text_label_events"]

SOURCE = "/edalab/incidents"

#: The words of each kind of incident (the first five are its most typical).
CATEGORIES: dict[str, list[str]] = {
    "network": ["packet", "loss", "latency", "dns", "router", "switch", "vpn", "bgp",
                "firewall", "bandwidth", "jitter", "link", "timeout", "load balancer"],
    "database": ["db", "query", "replica", "deadlock", "postgres", "index", "slow query",
                 "connection pool", "transaction", "schema", "lag", "timeout", "table lock"],
    "storage": ["disk", "volume", "full", "iops", "raid", "bucket", "quota", "filesystem",
                "snapshot", "mount", "inode", "backup", "latency"],
    "authentication": ["login", "password", "sso", "token", "mfa", "expired", "certificate",
                       "ldap", "session", "oauth", "locked out", "permission", "denied"],
    "deployment": ["deploy", "rollback", "release", "pipeline", "build", "canary", "helm",
                   "config", "version", "container", "image", "crashloop", "schema change"],
}
#: The kind that appears mid-stream, and its words.
NOVEL = ("ransomware", ["encrypted", "ransom", "note", "bitcoin", "files", "extension",
                        "locked", "malware", "wallet", "decrypt", "payload", "attacker"])
SEVERITIES = {"low": ["minor", "intermittent", "cosmetic"],
              "medium": ["degraded", "slow", "partial"],
              "high": ["major", "outage", "urgent"],
              "critical": ["sev1", "down", "all users"]}
_COMMON = ["service", "users", "error", "alert", "since", "morning", "prod", "customers",
           "issue", "host", "after", "reported", "by", "on", "team", "again"]
_ALL_WORDS = sorted({w for words in CATEGORIES.values() for w in words})
_CONFUSION = 0.4
_FILLER = ["pls", "check", "asap", "fyi", "thanks", "hi", "see", "ticket", "ping", "?", "!!"]


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def _report(words: list[str], severity: str, rng: np.random.Generator, typo_rate: float,
            noise_rate: float) -> str:
    k = int(rng.integers(1, 4))
    picked = [words[j] for j in rng.choice(len(words), size=k, replace=False)]
    if rng.random() < _CONFUSION:  # a word of another kind: reports mention side effects
        other = _ALL_WORDS[int(rng.integers(len(_ALL_WORDS)))]
        picked.append(other)
    picked += [_COMMON[j] for j in rng.choice(len(_COMMON), size=int(rng.integers(1, 4)),
                                              replace=False)]
    if rng.random() < 0.7:
        picked.append(SEVERITIES[severity][int(rng.integers(3))])
    rng.shuffle(picked)
    if rng.random() < noise_rate:
        picked.insert(int(rng.integers(len(picked) + 1)), _FILLER[int(rng.integers(
            len(_FILLER)))])
    words = " ".join(picked).split()
    return " ".join(_typo(w, rng) if rng.random() < typo_rate else w for w in words)


def incident_reports(n: int = 3000, *, seed: int | None = 0, novel_at: float | None = 0.6,
                     novel_share: float = 0.25, typo_rate: float = 0.06,
                     noise_rate: float = 0.2, every: str | timedelta = "1min",
                     start: str | datetime = "2026-01-05") -> pd.DataFrame:
    """`n` seeded incident reports, one every `every`, in time order.

    Parameters
    ----------
    n
        Reports.
    seed
        Seed of the generator (None: a fresh one each call).
    novel_at, novel_share
        From this fraction of the stream on (None: never), `novel_share` of the reports are
        of the new kind ``ransomware`` (``novel`` is True on them).
    typo_rate, noise_rate
        Chance that a word has a typo; that a report has a filler word.
    every, start
        Time between reports and the first report's time (UTC).

    Returns
    -------
    A frame with ``report_id, time, text, category, severity, novel``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    for name, value in (("novel_share", novel_share), ("typo_rate", typo_rate),
                        ("noise_rate", noise_rate)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if novel_at is not None and not 0 <= novel_at <= 1:
        raise ValueError(f"novel_at must be None or in [0, 1], got {novel_at!r}")
    step = parse_duration(every, name="every")
    rng = np.random.default_rng(seed)
    kinds = list(CATEGORIES)
    first_novel = n if novel_at is None else int(round(novel_at * n))
    severity_names = list(SEVERITIES)
    rows = []
    for i in range(n):
        novel = i >= first_novel and rng.random() < novel_share
        category = NOVEL[0] if novel else kinds[int(rng.integers(len(kinds)))]
        words = NOVEL[1] if novel else CATEGORIES[category]
        severity = severity_names[int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))]
        rows.append((i, _report(words, severity, rng, typo_rate, noise_rate), category,
                     severity, novel))
    df = pd.DataFrame(rows, columns=["report_id", "text", "category", "severity", "novel"])
    df.insert(1, "time", pd.Timestamp(start, tz="UTC") + step * np.arange(n))
    return df


def text_events(df: pd.DataFrame) -> Iterator[Event]:
    """The reports of `df` as ``incident.reported`` events (data ``{"id", "text",
    "severity"}``, id ``report-<id>``), in time order; the category comes later, as a label."""
    for rid, time, text, severity in zip(df["report_id"].tolist(), _times(df), df["text"],
                                         df["severity"], strict=True):
        yield Event("incident.reported", SOURCE, {"id": rid, "text": text,
                                                  "severity": severity},
                    key=str(rid), time=time, id=f"report-{rid}")


def text_label_events(df: pd.DataFrame, delay: str | timedelta = "30min") -> Iterator[Event]:
    """The triaged category of each report as an ``incident.label`` event `delay` after it
    (data ``{"id", "category", "severity"}``, id ``label-<id>``)."""
    shift = parse_duration(delay, name="delay", allow_zero=True)
    for rid, time, category, severity in zip(df["report_id"].tolist(), _times(df),
                                             df["category"], df["severity"], strict=True):
        yield Event("incident.label", SOURCE, {"id": rid, "category": category,
                                               "severity": severity},
                    key=str(rid), time=time + shift, id=f"label-{rid}")


def _times(df: pd.DataFrame) -> list[datetime]:
    return [t.to_pydatetime() for t in pd.to_datetime(df["time"], utc=True)]
