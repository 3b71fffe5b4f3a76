"""The pluggy hooks of cachekit-s3 (the ``cachekit`` entry point points here).

The factory is named as ``"module:attribute"``, so registering it imports nothing
of the backend: :class:`~cachekit_s3.S3Backend` loads when the first ``s3`` cache
is built. The core routes ``Cache(type="s3", ...)`` options (and the cache's
``clock``) by its keyword parameters and refuses any other name before any I/O.
"""

from __future__ import annotations

from cachekit import hookimpl
from cachekit.hookspecs import RegisterBackend

from cachekit_s3._urls import cachekit_register_url_schemes

__all__ = ["cachekit_register_backends", "cachekit_register_url_schemes"]


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("s3", "cachekit_s3._backend:S3Backend")
