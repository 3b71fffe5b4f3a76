"""The backend contract suites, and test helpers for plugin authors.

Every backend package runs the same suite against its real store::

    from cachekit.testing import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def make_backend(self):
            return lambda: MyBackend(url=...)

``make_backend`` returns a zero-argument callable that builds a fresh backend;
the suite creates it inside each test (so loop-bound clients live on the test's
loop), works under a unique key prefix (so a shared server is fine) and closes
it. Override :meth:`BackendContract.advance` when the backend takes an injectable
clock, so TTL tests need not sleep. Tests run on asyncio; override the
``anyio_backend`` fixture to add trio where the backend supports it.
:class:`SemanticBackendContract` adds the vector index, and :class:`SemanticScenarios`
runs the semantic cache's user-visible behaviour through ``Cache`` objects built by
a ``make_cache(**options)`` fixture.

:class:`ServerProcess` and :func:`free_port` start real servers on free loopback
ports (``cachekit_redis.testing`` and ``cachekit_s3.testing`` build on them);
:func:`modules_imported_by` checks what an import costs in a fresh interpreter.

:class:`EncryptedCacheContract` runs the ``Cache``-level behaviours of encryption at
rest (round trips, wrong keys, tampering, moved and plaintext entries, rotation and
``rekey``) against a backend; it needs ``cryptography`` and a backend with ``scan``.

:class:`ObserverPluginContract` is what every metrics observer plugin promises (lazy
client import, an off switch, fail-open instruments), run by ``cachekit-prometheus``
and ``cachekit-otel``.

:class:`OpenAIServer` is a loopback OpenAI-compatible HTTP server (standard library
only) for tests that drive the real ``openai`` SDK or LiteLLM through a cache and
count, at the server, the requests that were not served from it; the pytest
fixtures ``openai_server`` (with ``openai_server_session``), ``async_openai_client`` and
``openai_client`` serve it and an
``openai.AsyncOpenAI`` on it to a plugin's ``conftest.py``.

The suites need ``pytest`` and ``anyio``'s pytest plugin (installed with anyio).
They are loaded on first use (module ``__getattr__``), so the server helpers and
:class:`OpenAIServer` import without pytest (benchmarks use them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit import lazy_exports
from cachekit.testing._servers import HOST, ServerProcess, free_port, modules_imported_by

if TYPE_CHECKING:
    from cachekit.testing._contract import BackendContract, FakeClock, unit_vector
    from cachekit.testing._encrypted_rotation import EncryptedCacheContract
    from cachekit.testing._fixtures import (
        OPENAI_TEST_KEY,
        async_openai_client,
        openai_client,
        openai_server,
        openai_server_session,
    )
    from cachekit.testing._observer_contract import ObserverPluginContract
    from cachekit.testing._openai import OpenAIServer, RecordedRequest, UploadedFile
    from cachekit.testing._scenarios import SemanticScenarios
    from cachekit.testing._semantic import SemanticBackendContract

__all__ = [
    "HOST",
    "OPENAI_TEST_KEY",
    "BackendContract",
    "EncryptedCacheContract",
    "FakeClock",
    "ObserverPluginContract",
    "OpenAIServer",
    "RecordedRequest",
    "SemanticBackendContract",
    "SemanticScenarios",
    "ServerProcess",
    "UploadedFile",
    "async_openai_client",
    "openai_client",
    "free_port",
    "modules_imported_by",
    "openai_server",
    "openai_server_session",
    "unit_vector",
]

#: Names loaded on first use → their private module (the suites import pytest).
_LAZY = {
    "BackendContract": "cachekit.testing._contract",
    "FakeClock": "cachekit.testing._contract",
    "unit_vector": "cachekit.testing._contract",
    "ObserverPluginContract": "cachekit.testing._observer_contract",
    "OPENAI_TEST_KEY": "cachekit.testing._fixtures",
    "async_openai_client": "cachekit.testing._fixtures",
    "openai_client": "cachekit.testing._fixtures",
    "openai_server": "cachekit.testing._fixtures",
    "openai_server_session": "cachekit.testing._fixtures",
    "OpenAIServer": "cachekit.testing._openai",
    "RecordedRequest": "cachekit.testing._openai",
    "UploadedFile": "cachekit.testing._openai",
    "SemanticScenarios": "cachekit.testing._scenarios",
    "SemanticBackendContract": "cachekit.testing._semantic",
    "EncryptedCacheContract": "cachekit.testing._encrypted_rotation",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
