"""`renamed`: keep a simulator's old keyword names working, with a `DeprecationWarning`.

The simulators take the names the command line uses (``customers``, ``terminals``,
``sensors``, as ``edalab simulate --customers``); the earlier ``n_customers`` style still works
for a while and says which name replaces it.

>>> import warnings
>>> @renamed(n_items="items")
... def count(items: int = 1) -> int:
...     return items
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     count(n_items=3), str(caught[0].message)
(3, 'count(n_items=...) is deprecated: use count(items=...)')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept each old keyword of `old_to_new` as its new name, with a `DeprecationWarning`.

    Passing both the old and the new name raises `TypeError`, as Python does for a keyword
    given twice. The wrapped function keeps its signature (``inspect.signature`` shows the new
    names only).
    """

    def decorate(function: F) -> F:
        name = function.__name__

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old_to_new.keys() & kwargs.keys():  # the common call pays for one set test only
                for old, new in old_to_new.items():
                    if old not in kwargs:
                        continue
                    if new in kwargs:
                        raise TypeError(f"{name}() got both {old}= and {new}=: "
                                        f"pass {new}= only")
                    warnings.warn(f"{name}({old}=...) is deprecated: use {name}({new}=...)",
                                  DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
