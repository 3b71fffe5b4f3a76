"""``OpenAIServer``: a loopback OpenAI-compatible HTTP server for tests with the real SDKs.

cachekit's promise is that ``cache.cached(...)(client.chat.completions.create)``
works with the official ``openai`` package (and LiteLLM, which drives it). That
can only be shown with the SDK itself talking HTTP, so this server speaks just
enough of the API for the SDK to parse every answer into its own models, and
records every request so a test can prove a hit by counting what reached it::

    import openai
    from cachekit import Cache
    from cachekit.testing import OpenAIServer

    with OpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        cache = Cache(type="local")
        create = cache.cached("completion")(client.chat.completions.create)
        first = create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        again = create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert again == first and server.count("/chat/completions") == 1
        server.fail_next(503)        # the next request gets an OpenAI-style 503 error

Endpoints (all ``POST`` under ``/v1``): ``/chat/completions`` (JSON, or SSE when
``stream`` is true: a role chunk, content or tool-call argument deltas, a finish
chunk, a usage chunk when ``stream_options.include_usage``, ``[DONE]``; a
``json_schema`` ``response_format`` gets content valid for the schema, so
``client.chat.completions.parse`` works), ``/completions`` (legacy text, stream
too), ``/embeddings`` (float or base64 little-endian float32; vectors
deterministic per input text), ``/audio/transcriptions`` (multipart; json, text
or verbose_json) and ``/responses`` (a ``Response``, or its typed SSE events).
Every other answer carries the server's call counter in its id and text, so a
fresh call is always told apart from a replay. The shapes live in
:mod:`cachekit.testing._openai_bodies`.

Standard library only (a ``ThreadingHTTPServer`` in a daemon thread on
``127.0.0.1``, port chosen by the OS): cachekit gains no runtime dependency.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cachekit.testing import _openai_bodies as bodies
from cachekit.testing._holding import Holding

__all__ = ["OpenAIServer", "RecordedRequest", "UploadedFile"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    content: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it reached the server (failed ones included)."""

    method: str
    #: The URL path, without the query string (``/v1/chat/completions``).
    path: str
    #: Header names in lower case.
    headers: dict[str, str]
    #: The parsed JSON body (``None`` for multipart or empty bodies).
    json: Any = None
    #: Multipart text fields (repeated names keep the last value).
    form: dict[str, str] = field(default_factory=dict)
    #: Multipart file parts by field name.
    files: dict[str, UploadedFile] = field(default_factory=dict)
    #: The status code the server answered with.
    status: int = 200
    #: The query string, if any (``extra_query`` ends up here).
    query: str = ""
    #: ``time.monotonic()`` when the request arrived (before any :meth:`~OpenAIServer.hold`).
    received_at: float = 0.0


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any = None  # JSON value, or str for text/plain
    events: list[dict[str, Any]] | None = None  # SSE events
    named_events: bool = False  # SSE "event:" lines (Responses API)
    done_marker: bool = True  # a final "data: [DONE]"
    request_id: str = "req_0"  # the x-request-id header (the SDK's ``_request_id``)


def _parse_multipart(
    content_type: str, raw: bytes
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Text fields and file parts of a ``multipart/form-data`` body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        return {}, {}
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in raw.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', headers)
        if name is None:
            continue
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        if filename is None:
            form[name.group(1)] = content.decode("utf-8", "replace")
        else:
            ctype = re.search(r"(?im)^content-type:\s*(\S+)", headers)
            files[name.group(1)] = UploadedFile(
                filename.group(1), None if ctype is None else ctype.group(1), content
            )
    return form, files


def _error(status: int, message: str, kind: str) -> _Answer:
    return _Answer(
        status, {"error": {"message": message, "type": kind, "param": None, "code": None}}
    )


class OpenAIServer(Holding):
    """A loopback OpenAI-compatible server; see the module docstring for an example.

    ``base_url`` is what ``openai.OpenAI(base_url=...)`` (or LiteLLM's ``api_base``)
    takes; ``requests`` lists what arrived; ``count(path_suffix)`` counts it;
    ``reset()`` forgets requests and pending faults; ``fail_next(status, times)``
    makes the next ``times`` requests fail with an OpenAI-style error body (the SDK
    retries 408/409/429/5xx unless the client has ``max_retries=0``).

    To make a provider call slow without sleeping, ``hold()`` keeps every request
    that arrives waiting (arrived, not yet answered) until ``release()``;
    ``wait_for_requests(n)`` blocks until ``n`` requests have arrived, held ones
    included, so a test can act while a call is in flight.
    """

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[int] = []
        self._calls = 0
        Holding.__init__(self)
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> OpenAIServer:
        """Listen on a free port and serve in a daemon thread. Idempotent."""
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() waits at most this long
            name="cachekit-openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and drop kept-alive connections. Idempotent."""
        self._open.set()  # held requests must not keep their threads
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wake handler threads blocked on an idle keep-alive
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the OpenAIServer is not running; call start() first")
        port: int = self._httpd.server_address[1]
        return port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- what a test asks ----------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(self, path_suffix: str = "") -> int:
        """How many requests arrived whose path ends with ``path_suffix``."""
        with self._lock:
            return sum(1 for r in self._requests if r.path.endswith(path_suffix))

    def reset(self) -> None:
        """Forget recorded requests, arrivals and pending faults (the call counter keeps going,
        so answers stay distinct across tests)."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
        self._forget_arrivals()

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` and an OpenAI error body."""
        if not 400 <= status <= 599 or times < 1:
            raise ValueError(
                f"fail_next needs a 4xx/5xx status and times >= 1, got {status}, {times}"
            )
        with self._lock:
            self._faults += [status] * times

    # -- serving -----------------------------------------------------------------------
    def _connected(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _answer(self, request: RecordedRequest) -> _Answer:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault is None:
                self._calls += 1
            n = self._calls
        if fault is not None:
            return _error(fault, f"injected failure ({fault})", "server_error")
        return dataclasses.replace(self._route(request, n), request_id=f"req_{n}")

    def _route(self, request: RecordedRequest, n: int) -> _Answer:
        body = request.json if isinstance(request.json, dict) else {}
        stream = body.get("stream") is True
        path = request.path.removeprefix("/v1")
        if path == "/chat/completions":
            if stream:
                return _Answer(200, events=bodies.chat_completion_chunks(body, n))
            return _Answer(200, bodies.chat_completion(body, n))
        if path == "/completions":
            if stream:
                return _Answer(200, events=bodies.text_completion_chunks(body, n))
            return _Answer(200, bodies.text_completion(body, n))
        if path == "/embeddings":
            return _Answer(200, bodies.embeddings(body))
        if path == "/audio/transcriptions":
            upload = request.files.get("file")
            if upload is None:
                return _error(400, "a multipart 'file' part is required", "invalid_request_error")
            return _Answer(200, bodies.transcription(request.form, upload.content, n))
        if path == "/responses":
            if stream:
                events = bodies.response_events(body, n)
                return _Answer(200, events=events, named_events=True, done_marker=False)
            return _Answer(200, bodies.response(body, n))
        return _error(404, f"no route for {request.method} {request.path}", "invalid_request_error")

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to ``server`` (http.server builds one per request)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        timeout = 60  # an idle kept-alive connection is dropped eventually

        def setup(self) -> None:
            super().setup()
            server._connected(self.connection, True)

        def finish(self) -> None:
            server._connected(self.connection, False)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``server.requests`` instead of a log."""

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            parsed: Any = None
            form: dict[str, str] = {}
            files: dict[str, UploadedFile] = {}
            if ctype.startswith("multipart/form-data"):
                form, files = _parse_multipart(ctype, raw)
            elif raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
            path, _, query = self.path.partition("?")
            request = RecordedRequest(
                self.command,
                path,
                {k.lower(): v for k, v in self.headers.items()},
                parsed,
                form,
                files,
                query=query,
                received_at=time.monotonic(),
            )
            server._arrive()
            answer = server._answer(request)
            server._record(_with_status(request, answer.status))
            if answer.events is not None:
                self._send_events(answer)
            else:
                self._send_body(answer)

        def _send_body(self, answer: _Answer) -> None:
            if isinstance(answer.body, str):
                payload, ctype = answer.body.encode(), "text/plain; charset=utf-8"
            else:
                payload, ctype = json.dumps(answer.body).encode(), "application/json"
            self.send_response(answer.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-request-id", answer.request_id)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (killed) while held

        def _send_events(self, answer: _Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-request-id", answer.request_id)
            self.end_headers()
            write: Callable[[bytes], None] = self._write_chunk
            try:
                for event in answer.events or []:
                    line = f"event: {event['type']}\n" if answer.named_events else ""
                    write(f"{line}data: {json.dumps(event)}\n\n".encode())
                if answer.done_marker:
                    write(b"data: [DONE]\n\n")
                write(b"")  # the terminating zero-length chunk
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client closed the stream early

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _with_status(request: RecordedRequest, status: int) -> RecordedRequest:
    return dataclasses.replace(request, status=status)
