"""Public names loaded on first use (PEP 562), for packages that must import cheaply.

A backend plugin's package is imported when its entry point is registered, so its
``__init__`` must not import the client library (redis, aiobotocore, qdrant-client…).
:func:`lazy_exports` gives such a package a module ``__getattr__`` that imports the
private module defining a public name the first time the name is looked up, and a
``__dir__`` that lists every public name::

    _LAZY = {"RedisBackend": "cachekit_redis._backend"}
    if not TYPE_CHECKING:  # type checkers see the real imports instead
        __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``module``: each key of ``names`` is a
    public name, loaded from the module its value names on first use and then kept in
    the package's namespace (later lookups skip ``__getattr__``)."""
    namespace = vars(sys.modules[module])

    def __getattr__(name: str) -> Any:
        source = names.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(import_module(source), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
