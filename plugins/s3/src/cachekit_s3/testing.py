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
loop). Servers still running at interpreter exit are stopped.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from types import TracebackType
from typing import Any

__all__ = ["MotoServer", "find_moto_python", "free_port"]

HOST = "127.0.0.1"
REGION = "us-east-1"
#: moto accepts any credentials unless auth is switched on (:meth:`MotoServer.require_auth`).
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
_STARTUP_TIMEOUT = 60.0

_running: weakref.WeakSet[MotoServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        server.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


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


class MotoServer:
    """One moto server process; ``start()`` waits until it answers HTTP."""

    def __init__(self, python: str | None = None) -> None:
        self.python = python
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` (pass it as ``s3_endpoint_url``)."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> MotoServer:
        python = self.python or find_moto_python()
        self.port = free_port()
        # The server needs no credentials; keep the caller's AWS settings away from it.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        self._process = subprocess.Popen(
            [python, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        _running.add(self)
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with status {self._process.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # it answered
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"moto server did not answer within {_STARTUP_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        _running.discard(self)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
