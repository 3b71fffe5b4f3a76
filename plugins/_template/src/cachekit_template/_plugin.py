"""The hook implementations cachekit finds through the ``cachekit`` entry point.

Hooks register and decide; they do no I/O. ``register(name, factory)`` is called
once per backend type; the factory is called later with the options given to
``Cache(type="template", ...)`` as keyword arguments.
"""

from __future__ import annotations

from cachekit.hookspecs import RegisterBackend, hookimpl

from cachekit_template._backend import TemplateBackend


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("template", TemplateBackend)
