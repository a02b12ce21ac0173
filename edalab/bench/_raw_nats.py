"""The floor contenders' client: bare nats-py on its own loop thread (as `NatsBroker` runs
it), publishing with ``publish_async`` and consuming with one pull consumer per partition."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from edalab.brokers.loop_thread import LoopThread
from edalab.brokers.nats.codec import stream_name

__all__ = ["BATCH", "PARTITIONS", "RawClient"]

PARTITIONS = 4  # of the bench topic
BATCH = 500  # events per fetch


class RawClient:
    """Bare nats-py on its own loop thread (as `NatsBroker` runs), for the floor contenders."""

    def __init__(self, url: str):
        import nats

        self._io = LoopThread("bench-raw")
        self.nc = self._io.run(nats.connect(url))
        self.js = self.nc.jetstream()

    def run(self, coro: Any, timeout: float | None = 300.0) -> Any:
        return self._io.run(coro, timeout)

    def publish(self, subjects: list[str], payloads: list[bytes]) -> int:
        """``js.publish_async`` every payload, then await every ack."""
        async def go() -> int:
            publish = self.js.publish_async
            futures = [await publish(s, d) for s, d in zip(subjects, payloads, strict=True)]
            await asyncio.gather(*futures)
            return len(futures)
        return self.run(go())

    def pull_subscriptions(self, topic: str, durable: str) -> list[Any]:
        """One durable explicit-ack pull consumer per partition (as `NatsBroker` creates)."""
        from nats.js import api

        async def go() -> list[Any]:
            subs = []
            for p in range(PARTITIONS):
                config = api.ConsumerConfig(
                    durable_name=f"{durable}-p{p}", filter_subject=f"{topic}.{p}",
                    ack_policy=api.AckPolicy.EXPLICIT, max_deliver=-1, ack_wait=30.0,
                    max_ack_pending=-1, deliver_policy=api.DeliverPolicy.ALL)
                await self.js.add_consumer(stream_name(topic), config)
                subs.append(await self.js.pull_subscribe_bind(f"{durable}-p{p}",
                                                              stream=stream_name(topic)))
            return subs
        return self.run(go())

    def consume(self, subs: list[Any], expected: list[int]) -> int:
        """Each partition's pull consumer concurrently: ``fetch(500)`` and ``msg.ack()`` each,
        until it has its `expected` count."""
        from nats.errors import TimeoutError as NatsTimeout

        async def drain(sub: Any, want: int) -> int:
            got = 0
            while got < want:
                try:
                    msgs = await sub.fetch(BATCH, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    continue
                for msg in msgs:
                    await msg.ack()
                got += len(msgs)
            return got

        async def go() -> int:
            return sum(await asyncio.gather(*(drain(s, w) for s, w in zip(subs, expected,
                                                                          strict=True))))
        return self.run(go())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.nc.close(), timeout=10)
        self._io.close()
