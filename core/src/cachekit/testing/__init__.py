"""The backend contract test suite, and test helpers for plugin authors.

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

:class:`EncryptedCacheContract` runs the ``Cache``-level behaviours of encryption at
rest (round trips, wrong keys, tampering, moved and plaintext entries, rotation and
``rekey``) against a backend; it needs ``cryptography`` and a backend with ``scan``.

:class:`OpenAIServer` is a loopback OpenAI-compatible HTTP server (standard library
only) for tests that drive the real ``openai`` SDK or LiteLLM through a cache and
count, at the server, the requests that were not served from it.

This module needs ``pytest`` and ``anyio``'s pytest plugin (installed with anyio).
"""

from __future__ import annotations

from cachekit.testing._contract import BackendContract, FakeClock, unit_vector
from cachekit.testing._encrypted import EncryptedCacheContract
from cachekit.testing._openai import OpenAIServer, RecordedRequest, UploadedFile
from cachekit.testing._semantic import SemanticBackendContract

__all__ = [
    "BackendContract",
    "EncryptedCacheContract",
    "FakeClock",
    "OpenAIServer",
    "RecordedRequest",
    "SemanticBackendContract",
    "UploadedFile",
    "unit_vector",
]
