"""The hook implementations cachekit finds through the ``cachekit`` entry point."""

from __future__ import annotations

from cachekit.hookspecs import RegisterBackend, hookimpl

from cachekit_disk._backend import DiskBackend


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("disk", DiskBackend)
