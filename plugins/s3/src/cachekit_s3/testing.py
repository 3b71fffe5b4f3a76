"""A throwaway S3 API for tests and benchmarks: moto's server mode on a loopback port.

``moto[server]`` is a test dependency, not a runtime one: install it where the tests
run (``pip install 'moto[server]'``). The server runs as a subprocess of any Python
that has moto (this interpreter by default), speaks S3 over HTTP on
``127.0.0.1:<free port>`` and keeps everything in memory::

    from cachekit_s3.testing import MotoServer

    with MotoServer() as server:
        server.create_bucket("llm-cache")
        cache = Cache(type="s3", **server.options("llm-cache"))

The helpers are synchronous (call them from fixtures, not from a running event
loop). Servers still running at interpreter exit are stopped. ``free_port`` is
:func:`cachekit.testing.free_port`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from cachekit.testing import ServerProcess, free_port

__all__ = ["MotoServer", "find_moto_python", "free_port"]

REGION = "us-east-1"
#: moto accepts any credentials unless auth is switched on (:meth:`MotoServer.require_auth`).
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
_STARTUP_TIMEOUT = 60.0


def find_moto_python() -> str:
    """A Python that can run ``moto.server``: ``$CACHEKIT_MOTO_PYTHON``, or this one."""
    configured = os.environ.get("CACHEKIT_MOTO_PYTHON")
    if configured:
        return configured
    if importlib.util.find_spec("moto") is not None:
        return sys.executable
    raise RuntimeError(
        "moto is not installed in this environment: pip install 'moto[server]' "
        "(or point CACHEKIT_MOTO_PYTHON at a Python that has it)"
    )


class MotoServer(ServerProcess):
    """One moto server process (a :class:`cachekit.testing.ServerProcess`);
    ``start()`` waits until it answers HTTP."""

    def __init__(self, python: str | None = None) -> None:
        self.python = python
        # The server needs no credentials; keep the caller's AWS settings away from it.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        super().__init__(env=env, name="moto", startup_timeout=_STARTUP_TIMEOUT, stop_timeout=10.0)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` (pass it as ``s3_endpoint_url``)."""
        return f"http://{self.host}:{self.port}"

    def args(self) -> list[str]:
        python = self.python or find_moto_python()
        return [python, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered

    # -- setup and inspection -----------------------------------------------------
    def _request(self, method: str, path: str, data: bytes = b"") -> None:
        request = urllib.request.Request(
            self.endpoint + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/octet-stream"},  # not a form: moto reads raw
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def create_bucket(self, name: str) -> None:
        """Create a bucket (an unsigned ``PUT /<bucket>``: moto accepts it while auth is off)."""
        self._request("PUT", f"/{name}")

    def require_auth(self) -> None:
        """From now on, requests must be signed with credentials moto's IAM knows."""
        self._request("POST", "/moto-api/reset-auth", b"0")

    def options(self, bucket: str, **extra: Any) -> dict[str, Any]:
        """``Cache(type="s3", ...)`` keyword arguments for ``bucket`` on this server."""
        return {
            "s3_bucket_name": bucket,
            "s3_endpoint_url": self.endpoint,
            "s3_region_name": REGION,
            "s3_aws_access_key_id": ACCESS_KEY_ID,
            "s3_aws_secret_access_key": SECRET_ACCESS_KEY,
            **extra,
        }

    def boto3(
        self, service: str = "s3", key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY
    ) -> Any:
        """A plain, synchronous boto3 client of this server (for setup and assertions)."""
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``, sorted."""
        pages = self.boto3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))
