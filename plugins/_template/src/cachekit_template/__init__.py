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

from typing import TYPE_CHECKING

from cachekit import lazy_exports

if TYPE_CHECKING:
    from cachekit_template._backend import TemplateBackend

__all__ = ["TemplateBackend"]

__version__ = "0.1.0"

#: Public name → the private module that defines it.
_LAZY = {"TemplateBackend": "cachekit_template._backend"}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
