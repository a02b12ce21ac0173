"""Stable key → partition mapping, the same in every process and on every backend.

Python's built-in `hash` of a string changes from process to process, so edalab hashes the
key's UTF-8 bytes with CRC-32 instead.

>>> partition_for("customer-42", 4), partition_for("customer-42", 4)
(1, 1)
"""

from __future__ import annotations

from zlib import crc32

__all__ = ["key_hash", "partition_for"]

_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 1 << 17


def key_hash(key: str) -> int:
    """CRC-32 of the key's UTF-8 bytes (cached: streams reuse a bounded set of keys)."""
    h = _CACHE.get(key)
    if h is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        h = _CACHE[key] = crc32(key.encode())
    return h


def partition_for(key: str, partitions: int) -> int:
    """The partition of `key` in a topic with `partitions` partitions."""
    return key_hash(key) % partitions
