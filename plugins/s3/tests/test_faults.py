"""Server faults mapped to cachekit's hierarchy.

moto cannot be told to throttle, so a tiny HTTP server on a loopback port answers
every request with a chosen S3 error (status and XML body, as S3 sends them). The
same mapping is exercised against moto for missing buckets and rejected
credentials (test_s3.py, test_credentials.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cachekit import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigurationError,
)

pytestmark = pytest.mark.anyio

REQUEST: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class FaultServer:
    def __init__(self) -> None:
        self.status = 503
        self.code = "SlowDown"
        fault = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                # Answer before any body arrives (the client may be waiting for a
                # "100 Continue"), and close the connection, as S3 does on errors.
                self.close_connection = True
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    f"<Error><Code>{fault.code}</Code><Message>injected</Message>"
                    "<RequestId>1</RequestId></Error>"
                ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("status", "code", "expected", "not_expected"),
    [
        (503, "SlowDown", BackendUnavailableError, ConfigurationError),
        (503, "ServiceUnavailable", BackendUnavailableError, ConfigurationError),
        (500, "InternalError", BackendError, BackendUnavailableError),
        (400, "RequestTimeout", BackendTimeoutError, ConfigurationError),
        (403, "AccessDenied", ConfigurationError, BackendUnavailableError),
    ],
)
async def test_server_errors_map_to_cachekit_errors_and_calls_still_succeed(
    make_cache: Any,
    fault_server: FaultServer,
    status: int,
    code: str,
    expected: type[Exception],
    not_expected: type[Exception],
) -> None:
    fault_server.status, fault_server.code = status, code
    cache = make_cache(
        s3_endpoint_url=fault_server.endpoint, s3_config={"retries": {"total_max_attempts": 1}}
    )
    for operation in (cache.aget("k"), cache.aset("k", 1)):
        with pytest.raises(expected, match=code) as raised:
            await operation
        assert not isinstance(raised.value, not_expected)
        assert isinstance(raised.value, BackendError)  # all absorbed by the fail-open paths
    assert await cache.async_get_cache(**REQUEST) is None
