"""Looking at a topic without consuming it: a group's unsettled records per partition, and
the records of a partition's log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from edalab.brokers.base import Record, decode
from edalab.brokers.nats.codec import durable_name, stream_name

__all__ = ["read_partition", "subjects_taken", "unsettled"]

_clock = time.perf_counter


async def unsettled(js, topic: str, group: str, p: int) -> int:
    """Records of p not yet delivered or not yet acked in `group`. The server counts a
    new record into a consumer's pending from a queue of its own, so just after a
    publish the count may miss it: a count of none is checked against the partition's
    last record and asked again (for up to a second) until the two agree."""
    stream, durable = stream_name(topic), durable_name(group, p)
    deadline = _clock() + 1.0
    while True:
        info = await js.consumer_info(stream, durable)
        if info.num_pending or _clock() > deadline:
            break
        try:
            last = await js.get_last_msg(stream, f"{topic}.{p}")
        except NotFoundError:  # an empty partition
            break
        if last.seq <= info.delivered.stream_seq:
            break
        await asyncio.sleep(0.005)
    return info.num_pending + info.num_ack_pending


async def read_partition(js, topic: str, p: int, total: int) -> list[Record]:
    """The `total` records of partition `p` of `topic`, in offset order, read without a
    durable consumer (nothing is acked, no group moves)."""
    out: list[Record] = []
    sub = await js.pull_subscribe(
        f"{topic}.{p}", stream=stream_name(topic),
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0))
    try:
        got = 0
        while got < total:
            try:
                msgs = await sub.fetch(min(1000, total - got), timeout=1.0)
            except NatsTimeout:
                break
            for msg in msgs:
                meta = msg.metadata
                out.append(Record(decode(msg.data, topic)[0], topic, p, meta.sequence.stream, 1,
                                  _perf_time(meta.timestamp)))
            got += len(msgs)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return out


def _perf_time(server_time: datetime) -> float:
    """A server timestamp on this process's perf_counter scale (for latency)."""
    return _clock() - (time.time() - server_time.timestamp())


async def subjects_taken(js, name: str, url: str, exc: APIError) -> str:
    """Why topic `name` cannot be created at `url`: which stream holds its subjects."""
    try:
        holder = await js.find_stream_name_by_subject(f"{name}.0")
        topic = ((await js.stream_info(holder)).config.metadata or {}).get("edalab_topic")
    except Exception:  # the reason stays the server's own words
        return f"cannot create topic {name!r} on {url}: {exc.description}"
    held = f", topic {topic!r}" if topic else ""
    return (f"cannot create topic {name!r} on {url}: its subjects {name}.<partition> "
            f"belong to stream {holder!r}{held}; delete that stream or use another name")
