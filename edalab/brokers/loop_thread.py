"""A private asyncio event loop in a daemon thread, so asynchronous clients (nats-py) can sit
behind edalab's synchronous API, in plain scripts and inside a Jupyter kernel (whose own loop
is already running) alike.

>>> import asyncio
>>> loop = LoopThread()
>>> loop.run(asyncio.sleep(0, result=42))
42
>>> loop.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """Runs coroutines on a loop that lives in its own thread."""

    def __init__(self, name: str = "edalab-io"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (re-raising its exception)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop: await instead")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        """Start `coro` on the loop without waiting (a background task)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        """Cancel the tasks still waiting (letting them clean up on the running loop), then
        stop the loop and close it."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):  # a loop too busy to answer is stopped anyway
                self.run(_cancel_pending(), timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        self.loop.close()


async def _cancel_pending() -> None:
    """Cancel every other task of the running loop and wait for them (as `asyncio.run` does
    before it closes its loop)."""
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
