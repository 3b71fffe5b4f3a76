"""cachekit-template: the skeleton of a cachekit backend plugin.

Installing the distribution is all a user does; the ``cachekit`` entry point
(see ``pyproject.toml``) makes ``Cache(type="template")`` work::

    from cachekit import Cache
    cache = Cache(type="template")

Import the backend class directly only to build it by hand (tests, benchmarks).
"""

from __future__ import annotations

from cachekit_template._backend import TemplateBackend

__all__ = ["TemplateBackend"]
