"""A rebalance in one process, for the state tests: a second App joins the group while the
first runs, and takes some of its partitions over."""

from __future__ import annotations

import threading

from edalab import App, Event


def run_while_a_member_joins(first: App, second: App, topic: str, events: list[Event],
                             batch_size: int) -> None:
    """`first` runs `events` on the wall clock; a third of the way in, `second` starts
    serving the same handlers (its own thread) until it has been idle for a second."""
    second._create_topics()
    joined = threading.Thread(target=lambda: second.serve(idle=1.0))

    def source():
        for i, e in enumerate(events):
            if i == len(events) // 3:
                joined.start()
            yield e
    first.source(topic, source())
    first.run(batch_size=batch_size, clock="wall")
    joined.join()
    assert second.handlers[0].guard.stats.restores >= 1  # it took partitions over
