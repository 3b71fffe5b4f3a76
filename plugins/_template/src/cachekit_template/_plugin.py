"""The hook implementations cachekit finds through the ``cachekit`` entry point.

Hooks register and decide; they do no I/O and import nothing heavy.
``register(name, "module:attribute")`` names the factory without importing it: it
is imported when the first ``Cache(type="template", ...)`` is built, and called
with that call's backend options as keyword arguments. The core routes options by
the factory's keyword parameters (and hands it the cache's ``clock`` when it takes
one), so the backend validates values, not names.
"""

from __future__ import annotations

from cachekit.hookspecs import RegisterBackend, hookimpl

__all__ = ["cachekit_register_backends"]


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("template", "cachekit_template._backend:TemplateBackend")
