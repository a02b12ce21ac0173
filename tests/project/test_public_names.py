"""One public name, one meaning: no two different things defined in edalab share a public name.

The rule. A module's public names are its ``__all__`` plus every class and function it
defines at module level whose name has no leading underscore (a module without ``__all__``
still exports what it defines). Each public module of edalab (no ``_``-prefixed part in its
path) is imported, and every public name bound to a class or function defined in edalab is
collected. A name bound to two different objects fails the test: a reader who sees
``Snapshot`` or ``compare`` must know which one is meant. Re-exports (the same object under
the same name in a package ``__init__``) are one object and pass on their own.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict

import edalab

# Names that are a protocol rather than a thing: many modules define one each, on purpose.
PROTOCOLS = {
    # A command module's entry point, ``main(argv) -> int``: `edalab.cli` dispatches
    # ``edalab bench NAME`` to ``edalab.bench.NAME.main`` by this name.
    "main",
}

# Duplicates known and not yet renamed (name -> the modules defining it); the test below fails
# once one is gone, so an entry cannot outlive its duplicate.
RENAMED_ELSEWHERE: dict[str, set[str]] = {}


def public_modules() -> list[str]:
    names = ["edalab"]
    for info in pkgutil.walk_packages(edalab.__path__, "edalab."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def public_names(module) -> set[str]:
    names = set(getattr(module, "__all__", ()))
    for name, value in vars(module).items():
        if (not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
                and value.__module__ == module.__name__):
            names.add(name)
    return names


def definitions() -> dict[str, dict[int, str]]:
    """Public name -> {id of the object: the module that defines it}."""
    found: dict[str, dict[int, str]] = defaultdict(dict)
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in public_names(module):
            value = getattr(module, name)
            defined_in = getattr(value, "__module__", None) or ""
            if (inspect.isclass(value) or inspect.isfunction(value)) and \
                    defined_in.startswith("edalab"):
                found[name][id(value)] = defined_in
    return found


def test_no_two_public_things_share_a_name():
    clashes = {name: sorted(where.values()) for name, where in definitions().items()
               if len(where) > 1 and name not in PROTOCOLS and name not in RENAMED_ELSEWHERE}
    assert clashes == {}, f"one public name, two meanings: {clashes}"


def test_renamed_elsewhere_is_still_a_duplicate():
    found = definitions()
    for name, modules in RENAMED_ELSEWHERE.items():
        assert set(found.get(name, {}).values()) == modules, (
            f"{name} is no longer defined twice: remove it from RENAMED_ELSEWHERE")


def test_public_modules_are_found():
    modules = public_modules()
    assert {"edalab.health.scoring", "edalab.fraud.pipeline", "edalab.retraining.comparison",
            "edalab.brokers.nats.broker"} <= set(modules)
