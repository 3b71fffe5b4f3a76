"""cachekit-s3: the ``s3`` storage backend for cachekit (AWS S3, MinIO, R2, moto…).

Installing the package is enough: ``Cache(type="s3", s3_bucket_name="my-bucket")`` or
``Cache.from_url("s3://my-bucket/llm-cache?region=eu-west-1")``. Importing it is
cheap: aiobotocore is loaded in a background thread when the first backend is built.
"""

from __future__ import annotations

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
