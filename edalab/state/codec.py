"""How state values are written to a backend: pickle, the river way of saving models.

Pickle can run code when it loads, so edalab unpickles only what its own state backends
hold (written by the app's own handlers): never point a backend at a file, bucket or
stream that someone else can write to.

>>> loads(dumps({"count": 2, "sum": 5.0}))
{'count': 2, 'sum': 5.0}
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["dumps", "loads"]


def dumps(value: Any) -> bytes:
    """A state value as bytes (pickle, highest protocol)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    """A state value from the bytes `dumps` wrote (edalab's own backends only)."""
    return pickle.loads(data)  # noqa: S301  # only edalab's own stores: see the module's note
