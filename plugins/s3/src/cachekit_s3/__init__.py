"""cachekit-s3: the ``s3`` storage backend for cachekit (AWS S3, MinIO, R2, moto…).

Installing the package is enough: ``Cache(type="s3", s3_bucket_name="my-bucket")`` or
``Cache.from_url("s3://my-bucket/llm-cache?region=eu-west-1")``. Importing it is
cheap: the names below are loaded on first use (module ``__getattr__``), and
aiobotocore is loaded in a background thread when the first backend is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit import lazy_exports

if TYPE_CHECKING:
    from cachekit_s3._backend import EXPIRES_METADATA, S3Backend
    from cachekit_s3._errors import S3ConfigurationError, S3KeyError
    from cachekit_s3._keys import KeyLayout

__all__ = [
    "EXPIRES_METADATA",
    "KeyLayout",
    "S3Backend",
    "S3ConfigurationError",
    "S3KeyError",
]

__version__ = "0.1.0"

#: Public name → the private module that defines it.
_LAZY = {
    "EXPIRES_METADATA": "cachekit_s3._backend",
    "KeyLayout": "cachekit_s3._keys",
    "S3Backend": "cachekit_s3._backend",
    "S3ConfigurationError": "cachekit_s3._errors",
    "S3KeyError": "cachekit_s3._errors",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
