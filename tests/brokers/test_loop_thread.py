"""The private event loop behind `NatsBroker` closes cleanly: tasks still waiting when it closes
(a subscription's message pump after a failover) are cancelled while the loop still runs, so
none is torn down later on a closed loop ("Exception ignored in: <coroutine ...>")."""

from __future__ import annotations

import asyncio
import gc
import sys

from edalab.brokers.loop_thread import LoopThread


async def pump(queue: asyncio.Queue, stopped: list) -> None:
    """Waits for messages forever, as a nats-py subscription's pump does."""
    try:
        await queue.get()
    finally:
        stopped.append(asyncio.get_running_loop().is_running())


def test_close_cancels_waiting_tasks_while_the_loop_runs(monkeypatch):
    unraisable: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    loop, stopped = LoopThread(), []

    async def start() -> None:
        asyncio.get_running_loop().create_task(pump(asyncio.Queue(), stopped))
        await asyncio.sleep(0)

    loop.run(start())
    loop.close()
    del loop
    gc.collect()
    assert stopped == [True]  # the pump ran its cleanup on a live loop
    assert unraisable == []


def test_close_twice_is_harmless():
    loop = LoopThread()
    assert loop.run(asyncio.sleep(0, result=7)) == 7
    loop.close()
    loop.close()
