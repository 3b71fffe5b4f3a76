"""The ``cachekit`` command line (``backends``, ``demo``, ``stats``, ``get``, ``delete``,
``clear``, ``bench``)."""

from cachekit._cli._app import main

__all__ = ["main"]
