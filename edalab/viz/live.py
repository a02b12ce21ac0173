"""What every live dashboard shares: a Play button and a speed slider that step a stream, a
synchronous `advance` for runs without a browser, a bounded redraw rate, and a display whose
text form has no random ids."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


class LiveDashboard:
    """Base of the live dashboards. A subclass sets ``chunk``, ``redraw_s``, ``widget`` and
    the run state (``events``, ``finished``, ``_last_draw``), and implements `_step` (one
    chunk of the stream; False when it has ended), `_redraw` and `_sync_views`."""

    chunk: int
    redraw_s: float
    widget: Any
    events: int
    finished: bool
    _last_draw: float

    @property
    def state(self) -> str:
        """``ready`` before the first event, ``running``, then ``finished``."""
        return "finished" if self.finished else "running" if self.events else "ready"

    def _step(self) -> bool:
        raise NotImplementedError

    def _redraw(self) -> None:
        raise NotImplementedError

    def _sync_views(self) -> None:
        """Give views opened from now on the figures as they are: a FigureWidget sends its
        edits to open views as messages, and a new view starts from a state the figure only
        refreshes when displayed alone (not inside a box)."""
        raise NotImplementedError

    def _play_controls(self, speed: int, interval_ms: int) -> None:
        """``self.play`` (a tick advances `speed` events) and ``self.speed``."""
        import ipywidgets as w

        self.play = w.Play(value=0, min=0, max=10**9, step=1, interval=int(interval_ms),
                           description="run", show_repeat=False)
        self.speed = w.IntSlider(value=max(speed, self.chunk), min=self.chunk,
                                 max=max(50 * self.chunk, speed), step=self.chunk,
                                 description="events/tick", continuous_update=False,
                                 style={"description_width": "initial"})
        self.play.observe(self._on_tick, "value")

    def advance(self, n_events: int | None = None, *, draw: bool = True) -> Any:
        """Run the stream for about `n_events` more source events (whole steps of `chunk`),
        or to the end when None; redraw at the bounded rate and after the last step."""
        if n_events is not None and n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        target = None if n_events is None else self.events + n_events
        while not self.finished and (target is None or self.events < target):
            if not self._step():
                self.finished = True
                break
            if draw:
                self._draw()
        if draw:
            self._draw(force=True)
        return self

    def run_to_end(self) -> Any:
        """Run the stream to its end (synchronously), then draw."""
        return self.advance(None)

    def _on_tick(self, change: Mapping[str, Any]) -> None:
        if change["new"] == 0 or self.finished:
            return
        self.advance(self.speed.value, draw=False)
        self._draw(force=self.finished)
        if self.finished:
            self.play.playing = False

    def _draw(self, force: bool = False) -> None:
        """Redraw, at most every `redraw_s` seconds unless forced."""
        now = time.perf_counter()
        if not force and now - self._last_draw < self.redraw_s:
            return
        self._last_draw = now
        self._redraw()
        if force:
            self._sync_views()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        self._sync_views()
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)  # the widget's own text has random trace uids
        return bundle
