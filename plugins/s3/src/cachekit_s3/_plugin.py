"""The pluggy hooks of cachekit-s3 (the ``cachekit`` entry point points here)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from cachekit import AsyncBackend, ConfigurationError, hookimpl
from cachekit.hookspecs import RegisterBackend

from cachekit_s3._backend import S3Backend
from cachekit_s3._urls import cachekit_register_url_schemes

__all__ = [
    "cachekit_register_backends",
    "cachekit_register_url_schemes",
    "create_s3_backend",
]

#: Every option ``S3Backend`` accepts (``clock`` is passed separately by the core).
OPTIONS = frozenset(inspect.signature(S3Backend).parameters) - {"clock"}


def create_s3_backend(*, clock: Callable[[], float] | None = None, **options: Any) -> AsyncBackend:
    """The ``s3`` factory: check the option names, then build an :class:`S3Backend`."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"s3 backend: unknown option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(OPTIONS))}"
        )
    if clock is not None:
        return S3Backend(clock=clock, **options)
    return S3Backend(**options)


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("s3", create_s3_backend)
