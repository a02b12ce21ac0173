"""Novelty detection on text events: notice a kind of event no label has ever described.

`NoveltyDetector` keeps the vocabulary of the texts whose labels have arrived (the kinds the
model knows). Each new text gets a novelty score, the share of its words outside that
vocabulary, where a word one edit away from a known word (a letter dropped, added, changed
or two swapped: a typo) counts as known; a text scoring at least `score_threshold` is a
candidate, and `min_candidates` candidates within `window` texts raise one
``novelty.detected`` event, naming the unknown
words they share. It needs no label of the new kind: it fires while those labels are still
on their way. One odd text is not enough: it takes a cluster.

`ErrorDrift` is the comparison: a river drift detector (ADWIN by default) on the classifier's
0/1 error, which can only move once labels of the new kind arrive and are mispredicted.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from river import drift

from edalab.events import Event
from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin

__all__ = ["ErrorDrift", "NoveltyDetector", "tokens"]

_WORD = re.compile(r"[a-z0-9]+")


def _deletions(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


def tokens(text: str) -> list[str]:
    """Lower-cased words of `text`.

    >>> tokens("Disk FULL on /var, again!")
    ['disk', 'full', 'on', 'var', 'again']
    """
    return _WORD.findall(text.lower())


class NoveltyDetector(Operator):
    """Raise ``novelty.detected`` when texts with mostly unknown words cluster.

    Parameters
    ----------
    score_threshold
        Least share of unknown words that makes a text a candidate.
    window, min_candidates
        `min_candidates` candidates among the last `window` texts raise a detection.
    cooldown
        Texts after a detection during which no other is raised (the labels of the new kind
        take that long to teach its words); the window starts empty after it.
    warmup
        Labelled texts learnt before any text is scored.
    text, join, text_type, label_type, label_field, label_join
        The events read: texts (by `text_type`, their text in `text` and id in `join`) and
        labels (id in `label_join`).

    Examples
    --------
    >>> from edalab.streams import merge
    >>> from edalab.streams.text import incident_reports, text_events, text_label_events
    >>> df = incident_reports(1500, seed=0, novel_at=0.5)
    >>> op = NoveltyDetector()
    >>> out = op.test(merge(text_events(df), text_label_events(df, delay="30min")))
    >>> first_novel = int(df.novel.idxmax())
    >>> [(e.data["n"] - 1 - first_novel, e.data["terms"][:3]) for e in out]
    [(7, ['attacker', 'payload', 'bitcoin'])]
    """

    def __init__(self, score_threshold: float = 0.2, *, window: int = 40,
                 min_candidates: int = 3, cooldown: int = 200, warmup: int = 300,
                 text: str = "text",
                 join: str = "id", text_type: str = "incident.reported",
                 label_type: str = "incident.label", label_field: str = "category",
                 label_join: str = "id", buffer_size: int = 100_000,
                 source: str = "/edalab/ml/novelty", name: str = "novelty") -> None:
        if not 0 < score_threshold <= 1:
            raise ValueError(f"score_threshold must be in (0, 1], got {score_threshold!r}")
        if not 1 <= min_candidates <= window:
            raise ValueError(f"need 1 <= min_candidates <= window, got {min_candidates} and "
                             f"{window}")
        self.score_threshold = score_threshold
        self.window = window
        self.min_candidates = min_candidates
        self.warmup = warmup
        self.cooldown = cooldown
        self.text, self.join, self.text_type = text, join, text_type
        self.label_type = label_type
        self.source = source
        self.__name__ = name
        self.buffer = LabelJoin(buffer_size, label_join=label_join, label_field=label_field)
        self.vocabulary: Counter[str] = Counter()
        self._near: set[str] = set()  # single-letter deletions of the known words
        self.known: set[Any] = set()  # labels learnt
        self.learnt = self.seen = 0
        self.recent: deque[tuple[int, Any, list[str]] | None] = deque(maxlen=window)
        self.detections: list[int] = []  # `seen` at each detection
        self.scores: list[tuple[int, float]] = []  # (texts seen, novelty score) after warmup

    def __repr__(self) -> str:
        return (f"NoveltyDetector(score_threshold={self.score_threshold}, window={self.window}"
                f", detections={len(self.detections)})")

    @property
    def stats(self) -> dict[str, int]:
        """Texts scored, labelled texts learnt, words known, detections."""
        return {"seen": self.seen, "learnt": self.learnt, "vocabulary": len(self.vocabulary),
                "detections": len(self.detections), **self.buffer.stats}

    def known_word(self, word: str) -> bool:
        """Whether a labelled text used `word`, or a word of four letters or more is one edit
        away: deletion-neighbourhood matching, as spelling correctors do."""
        if word in self.vocabulary:
            return True
        near, vocabulary = self._near, self.vocabulary
        if word in near:  # a letter dropped from a known word of four letters or more
            return len(word) >= 3
        return len(word) >= 4 and any(d in near or d in vocabulary for d in _deletions(word))

    def score(self, words: list[str]) -> float:
        """The share of `words` not known (0 for no words)."""
        if not words:
            return 0.0
        known = self.known_word
        return sum(not known(w) for w in words) / len(words)

    def process(self, event: Event) -> list[Event]:
        if event.type == self.label_type:
            words, y = self.buffer.label(event)
            if words is not None:
                for w in words:
                    if w not in self.vocabulary and len(w) >= 4:
                        self._near.update(_deletions(w))
                self.vocabulary.update(words)
                self.known.add(y)
                self.learnt += 1
            return []
        if event.type != self.text_type:
            return []
        data = event.data
        try:
            text, jid = data[self.text], data[self.join]
            words = tokens(text)
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"text event {event.id!r}: data needs {self.join!r} and a string "
                             f"{self.text!r}") from None
        self.buffer.hold(jid, words)
        self.seen += 1
        if self.learnt < self.warmup:
            self.recent.append(None)
            return []
        s = self.score(words)
        self.scores.append((self.seen, s))
        if self.detections and self.seen - self.detections[-1] <= self.cooldown:
            self.recent.append(None)
            return []
        self.recent.append((self.seen, jid, words) if s >= self.score_threshold else None)
        candidates = [c for c in self.recent if c is not None]
        if len(candidates) < self.min_candidates:
            return []
        self.recent.clear()
        self.detections.append(self.seen)
        unknown = Counter(w for _, _, ws in candidates for w in set(ws)
                          if not self.known_word(w))
        return [Event("novelty.detected", self.source,
                      {"n": self.seen, "ids": [jid for _, jid, _ in candidates],
                       "terms": sorted(unknown, key=lambda w: (-unknown[w], w))[:8],
                       "known_labels": sorted(map(str, self.known))},
                      key=str(jid), time=event.time, id=f"novelty-{self.__name__}-{self.seen}")]


class ErrorDrift(Operator):
    """A river drift detector on a multiclass classifier's 0/1 error (the prediction's
    ``label`` against the label event's), emitting ``drift.detected`` when the error rises.

    ``detections`` holds, for each, how many predictions had been made when it fired (so
    its delay is counted in events, as the novelty detector's is).
    """

    def __init__(self, detector_factory: Callable[[], Any] | None = None, *,
                 prediction_type: str = "prediction", label_type: str = "incident.label",
                 label_field: str = "category", label_join: str = "id",
                 buffer_size: int = 100_000, source: str = "/edalab/ml/novelty",
                 name: str = "error_drift") -> None:
        self.detector_factory = detector_factory or drift.ADWIN
        self.detector = self.detector_factory()
        self.prediction_type, self.label_type = prediction_type, label_type
        self.buffer = LabelJoin(buffer_size, label_join=label_join, label_field=label_field)
        self.source = source
        self.__name__ = name
        self.predictions = self.errors = 0
        self.detections: list[int] = []

    def __repr__(self) -> str:
        return f"ErrorDrift({type(self.detector).__name__}, detections={len(self.detections)})"

    @property
    def stats(self) -> dict[str, int]:
        """Predictions seen, errors fed, detections."""
        return {"predictions": self.predictions, "errors": self.errors,
                "detections": len(self.detections), **self.buffer.stats}

    def process(self, event: Event) -> list[Event]:
        if event.type == self.prediction_type:
            data = event.data
            try:
                self.buffer.hold(data["id"], (data["label"],))
            except (KeyError, TypeError):
                raise ValueError(f"prediction {event.id!r}: data needs 'id' and 'label'") \
                    from None
            self.predictions += 1
            return []
        if event.type != self.label_type:
            return []
        held, y = self.buffer.label(event)
        if held is None:
            return []
        self.errors += 1
        before = getattr(self.detector, "estimation", 0.0)
        self.detector.update(int(held[0] != y))
        if not self.detector.drift_detected or \
                getattr(self.detector, "estimation", 1.0) <= before:
            return []
        self.detections.append(self.predictions)
        return [Event("drift.detected", self.source,
                      {"detector": type(self.detector).__name__, "n": self.predictions,
                       "errors": self.errors},
                      time=event.time, id=f"drift-{self.__name__}-{self.errors}")]
