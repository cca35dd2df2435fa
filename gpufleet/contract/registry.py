"""Registries of the swap points: a kind (source, transport, store scheme) -> its factory.

Each registry is a plain dict built once, explicitly, from a list of factories (no
registration by import side effect); a kind listed twice is a programming error. Looking
up a kind no factory serves is a `ConfigError` that lists the ones that exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from gpufleet.contract.errors import ConfigError

F = TypeVar("F")


def make_registry(what: str, factories: Iterable[F], key: Callable[[F], str]) -> dict[str, F]:
    """`{key(f): f}` in the given order; `ValueError` for a duplicate key."""
    registry: dict[str, F] = {}
    for factory in factories:
        name = key(factory)
        if name in registry:
            raise ValueError(f"duplicate {what} {name!r}")
        registry[name] = factory
    return registry


def lookup(registry: Mapping[str, F], what: str, name: str, shown: Callable[[str], str] | None = None) -> F:
    """The factory for `name`; `ConfigError` naming the valid ones (as `shown` writes a name,
    default: the unknown one quoted, the valid ones bare)."""
    factory = registry.get(name)
    if factory is None:
        valid = ", ".join(map(shown or str, registry))
        raise ConfigError(f"unknown {what} {(shown or repr)(name)}: use one of {valid}")
    return factory
