"""cachekit-template: the skeleton of a cachekit backend plugin.

Installing the distribution is all a user does; the ``cachekit`` entry point
(see ``pyproject.toml``) makes ``Cache(type="template")`` work::

    from cachekit import Cache
    cache = Cache(type="template")

Import the backend class directly only to build it by hand (tests, benchmarks).
The names are loaded on first use (module ``__getattr__``): every process that
uses cachekit imports this package when it registers plugins, so importing it must
not import your client library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachekit_template._backend import TemplateBackend

__all__ = ["TemplateBackend"]

__version__ = "0.1.0"

#: Public name → the private module that defines it.
_LAZY = {"TemplateBackend": "cachekit_template._backend"}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
