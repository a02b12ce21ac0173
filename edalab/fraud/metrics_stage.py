"""`MetricsStage`: the fraud pipeline's ``metrics`` handler, several metric operators on the
same events as one operator (their flushes included)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from edalab.events import Event
from edalab.operators.base import Operator

__all__ = ["MetricsStage"]


class MetricsStage(Operator):
    """The pipeline's ``metrics`` handler: metric operators run on the same events, their
    metric events handed to `collect` as they are emitted, and at the end of the stream
    their flushes (the last days of card precision@k).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from edalab.ml.metrics import CardPrecisionAtK
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> kept = []
    >>> stage = MetricsStage([CardPrecisionAtK(k=1, delay="0s")], lambda e: kept.append(e))
    >>> stage.test(Event("prediction", "/p", {"id": 1, "score": 0.9, "day": 0,
    ...                                       "customer_id": "a"}, time=t))
    []
    >>> _ = stage.test(Event("fraud.label", "/l", {"tx_id": 1, "fraud": 1}, time=t))
    >>> [(e.data["day"], e.data["value"]) for e in stage.flush(t)], len(kept), stage.stats
    ([(0, 1.0)], 1, {'events': 2, 'metrics': 1})
    """

    def __init__(self, operators: list[Operator], collect: Callable[[Event], Any],
                 name: str = "metrics"):
        self.operators = list(operators)
        self.collect = collect
        self.__name__ = name
        self._events = self._metrics = 0

    def __repr__(self) -> str:
        return f"MetricsStage({self.operators!r})"

    @property
    def stats(self) -> dict[str, int]:
        """Events handled, metric events emitted."""
        return {"events": self._events, "metrics": self._metrics}

    def process(self, event: Event) -> list[Event]:
        self._events += 1
        out: list[Event] = []
        for op in self.operators:
            out += op.process(event)
        return self._collected(out)

    def flush(self, now: datetime | None = None) -> list[Event]:
        """The operators' last metrics, at the event time of the last label each saw: the
        metrics live on event time, so an App's wall clock (`now`) does not date them."""
        out: list[Event] = []
        for op in self.operators:
            out += op.flush(None)
        return self._collected(out)

    def _collected(self, out: list[Event]) -> list[Event]:
        if out:
            self._metrics += len(out)
            for e in out:
                self.collect(e)
        return out
