"""What every live dashboard shares: a Play button and a speed slider that step a stream, a
synchronous `advance` for runs without a browser, replays from the start at a pace a person can
follow, a bounded redraw rate, and a display whose text form has no random ids."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any


def default_replay_s() -> float:
    """How long a dashboard's replay lasts unless told: ``$EDALAB_REPLAY_S`` seconds, else
    20 (a browser test sets a shorter one).

    >>> default_replay_s() > 0
    True
    """
    value = float(os.environ.get("EDALAB_REPLAY_S", "20"))
    if not value > 0:
        raise ValueError(f"EDALAB_REPLAY_S must be > 0 seconds, got {value}")
    return value


def replay_speed(total: int, *, chunk: int, interval_ms: int, seconds: float) -> int:
    """Source events per play tick that make a replay of `total` events last about `seconds`
    (whole steps of `chunk`, at least one).

    >>> replay_speed(16_000, chunk=100, interval_ms=250, seconds=20)
    200
    >>> replay_speed(50, chunk=100, interval_ms=250, seconds=20)
    100
    """
    ticks = max(1.0, seconds * 1000.0 / interval_ms)
    return max(1, math.ceil(total / ticks / chunk)) * chunk


class LiveDashboard:
    """Base of the live dashboards. A subclass sets ``chunk``, ``redraw_s``, ``replay_s``,
    ``widget`` and the run state (``events``, ``finished``, ``_last_draw``), and implements
    `_step` (one chunk of the stream; False when it has ended), `_rebuild` (a fresh pipeline
    and empty charts), `_redraw` and `_sync_views`.

    Play on a finished run replays it from the first event on a fresh pipeline, at the pace
    that makes the replay last about ``replay_s`` seconds (unless the speed slider was moved).
    """

    chunk: int
    redraw_s: float
    replay_s: float
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

    def _rebuild(self) -> bool:
        """A fresh pipeline from the start, and empty charts; False if the source cannot be
        run again (the dashboard then says so)."""
        raise NotImplementedError

    def _redraw(self) -> None:
        raise NotImplementedError

    def _figures(self) -> list[Any]:
        """The dashboard's FigureWidgets."""
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
        self._paced = self.speed.value  # the pace the dashboard chose (not the reader)
        self._interval_ms = int(interval_ms)  # the shortest wait between ticks
        self.play.observe(self._on_tick, "value")
        self.play.observe(self._on_playing, "playing")

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
        if self.finished:
            self._pace()
        if draw:
            self._draw(force=True)
        return self

    def run_to_end(self) -> Any:
        """Run the stream to its end (synchronously, without waiting for wall time), then
        draw. Play then replays it live from the start."""
        return self.advance(None)

    def replay(self) -> bool:
        """Start again from the first event on a fresh pipeline (what Play does on a finished
        run); False, and the status says why, if the source cannot be run again."""
        if not self._rebuild():
            self._draw(force=True)
            return False
        self._draw(force=True)
        return True

    def _pace(self) -> None:
        """After a finished run (its length now known): a replay lasts about `replay_s`,
        by events per tick and, for a short run, a longer wait between ticks."""
        if self.speed.value != self._paced:
            return  # the reader chose a speed: keep it
        speed = replay_speed(self.events, chunk=self.chunk, interval_ms=self._interval_ms,
                             seconds=self.replay_s)
        self.speed.max = max(self.speed.max, speed)
        self.speed.value = self._paced = speed
        ticks = max(1, math.ceil(self.events / speed))
        self.play.interval = max(self._interval_ms, round(self.replay_s * 1000 / ticks))

    def _on_playing(self, change: Mapping[str, Any]) -> None:
        if change["new"] and self.finished:
            # Play does not stop to replay: the browser's timer keeps ticking, and the ticks
            # advance the fresh pipeline.
            if not self.replay():
                self.play.playing = False
        elif not change["new"]:
            self._draw(force=True)

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

    def _fit_width(self, *figures: Any) -> None:
        """Make each FigureWidget take the width of its output area once it is shown.

        A view is drawn before it is on the page, so plotly gives it its default 700 px and
        never measures again; once drawn, the view reports its traces to the kernel, and
        turning ``autosize`` off and on then makes it measure its area. Done once per
        display (later reports are not answered)."""
        self._unfitted: set[int] = set()
        for fig in figures:
            fig.observe(lambda change, fig=fig: self._on_view_drawn(fig, change),
                        "_js2py_traceDeltas")

    def _on_view_drawn(self, fig: Any, change: Mapping[str, Any]) -> None:
        if change["new"] and id(fig) in self._unfitted:
            self._unfitted.discard(id(fig))
            fig.plotly_relayout({"autosize": False})
            fig.plotly_relayout({"autosize": True})

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        self._unfitted = {id(fig) for fig in self._figures()}
        self._sync_views()
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)  # the widget's own text has random trace uids
        return bundle
