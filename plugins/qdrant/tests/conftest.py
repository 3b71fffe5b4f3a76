"""Fixtures for the Qdrant plugin's tests.

Local mode (qdrant-client's embedded engine) needs no server and is what most tests
use. Set ``CACHEKIT_QDRANT_URL`` (e.g. ``http://127.0.0.1:6333``) to also run the
server tests against a running Qdrant; they are skipped otherwise. Every server test
works in collections of its own and drops them at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from cachekit.testing import FakeClock

QDRANT_URL = os.environ.get("CACHEKIT_QDRANT_URL")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def qdrant_url() -> str:
    if not QDRANT_URL:
        pytest.skip("set CACHEKIT_QDRANT_URL to run the Qdrant server tests")
    return QDRANT_URL


@pytest.fixture
def server_collection(qdrant_url: str) -> Iterator[str]:
    """A collection name of the test's own; its collections are dropped afterwards."""
    from qdrant_client import QdrantClient

    name = f"cachekit_test_{uuid.uuid4().hex[:12]}"
    yield name
    client = QdrantClient(url=qdrant_url, check_compatibility=False)
    try:
        for collection in client.get_collections().collections:
            if collection.name.startswith(name):
                client.delete_collection(collection.name)
    finally:
        client.close()
