"""Names and tokens of the NATS mapping: topic and group names, the stream of a topic, the
durable consumer of a (group, partition), and the fields of a JetStream ack subject.

A topic's partition ``p`` is the subject ``<topic>.<p>`` of the topic's stream (built inline on
the publish path, where a call per event would cost).
"""

from __future__ import annotations

import re

from edalab.brokers.base import DLQ_SUFFIX

__all__ = ["GROUP_PATTERN", "MAX_TOPIC_LENGTH", "TOPIC_PATTERN", "ack_tokens", "check_topic",
           "durable_name", "stream_name"]

TOPIC_PATTERN = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
GROUP_PATTERN = re.compile(r"[A-Za-z0-9_-]+\Z")

_STREAM_PREFIX = "edalab-"
# JetStream's longest stream name is 255 characters; a topic leaves room for its dead letters.
MAX_TOPIC_LENGTH = 255 - len(_STREAM_PREFIX) - len(DLQ_SUFFIX)


def stream_name(topic: str) -> str:
    """The JetStream stream of `topic`. Stream names cannot contain dots, so each dot becomes
    ``=``, which topic names cannot contain: distinct topics get distinct streams.

    >>> stream_name("orders.eu"), stream_name("orders_eu")
    ('edalab-orders=eu', 'edalab-orders_eu')
    """
    return _STREAM_PREFIX + topic.replace(".", "=")


def check_topic(name: str) -> None:
    """Raise `ValueError` naming the problem if `name` cannot be a topic on NATS.

    >>> check_topic("orders.eu")
    >>> check_topic("orders eu")
    Traceback (most recent call last):
    ValueError: topic name 'orders eu': use letters, digits, '-', '_' and dots
    """
    if not isinstance(name, str) or not TOPIC_PATTERN.match(name):
        raise ValueError(f"topic name {name!r}: use letters, digits, '-', '_' and dots")
    limit = MAX_TOPIC_LENGTH + (len(DLQ_SUFFIX) if name.endswith(DLQ_SUFFIX) else 0)
    if len(name) > limit:
        raise ValueError(f"topic name {name[:30]!r}... has {len(name)} characters; at most "
                         f"{MAX_TOPIC_LENGTH} characters fit a JetStream stream name (with "
                         f"{DLQ_SUFFIX!r} for its dead letters)")


def durable_name(group: str, p: int) -> str:
    """The durable pull consumer of `group` on partition `p`.

    >>> durable_name("fraud", 3)
    'fraud-p3'
    """
    return f"{group}-p{p}"


def ack_tokens(msg) -> tuple[int, int, int]:
    """(delivery count, stream sequence, append time in ns) from a JetStream message's ack
    subject, ``$JS.ACK.[domain.hash.]stream.consumer.delivered.sseq.cseq.ts.pending[.x]``
    (cheaper than nats-py's Metadata, which builds dataclasses and a datetime).

    >>> from types import SimpleNamespace
    >>> ack_tokens(SimpleNamespace(reply="$JS.ACK.edalab-t.g-p0.2.41.7.1700000000000000000.5"))
    (2, 41, 1700000000000000000)
    """
    tokens = msg.reply.split(".")
    k = 0 if len(tokens) == 9 else 2
    return int(tokens[4 + k]), int(tokens[5 + k]), int(tokens[7 + k])
