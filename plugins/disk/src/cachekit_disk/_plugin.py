"""The hook implementations cachekit finds through the ``cachekit`` entry point.

The factory is named as ``"module:attribute"``: the backend's modules load when
the first ``disk`` cache is built, not when the plugin is registered.
"""

from __future__ import annotations

from cachekit.hookspecs import RegisterBackend, hookimpl

from cachekit_disk._urls import cachekit_register_url_schemes

__all__ = ["cachekit_register_backends", "cachekit_register_url_schemes"]


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("disk", "cachekit_disk._backend:DiskBackend")
