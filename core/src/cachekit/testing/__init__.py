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

This module needs ``pytest`` and ``anyio``'s pytest plugin (installed with anyio).
"""

from __future__ import annotations

from cachekit.testing._contract import BackendContract, FakeClock, unit_vector
from cachekit.testing._semantic import SemanticBackendContract

__all__ = ["BackendContract", "FakeClock", "SemanticBackendContract", "unit_vector"]
