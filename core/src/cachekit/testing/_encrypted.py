"""Cache-level behaviours with encryption at rest on, against a real store.

Subclass :class:`EncryptedCacheContract` and supply ``cache_options``: keyword
arguments of ``Cache(...)`` such that every cache built from them sees the same
store (the same Redis, bucket and ``s3_path``, or directory)::

    class TestRedisEncrypted(EncryptedCacheContract):
        @pytest.fixture
        def cache_options(self, redis_server):
            return {"type": "redis", "url": redis_server.url}

Each test works in namespaces of its own (a shared server is fine) and clears them.
Override ``plugins`` to build caches from another plugin manager (the suite adds
an observer to it for the error events it checks). Needs ``cryptography``.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

import pluggy
import pytest

from cachekit._cache import Cache
from cachekit._engine._events import CacheEvent
from cachekit._kernel._manager import build_plugin_manager
from cachekit._policy._crypto import MAGIC, key_id
from cachekit._policy._keys import namespace_prefix
from cachekit.exceptions import ConfigurationError, EntryError
from cachekit.hookspecs import hookimpl

__all__ = ["NEW_KEY", "OLD_KEY", "STRANGER_KEY", "EncryptedCacheBehaviour", "ErrorEvents", "VALUE"]

#: Two fixed keys (tests check they never leak) and a third nobody configured.
OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))
STRANGER_KEY = bytes(range(200, 232))
VALUE = {"answer": "the secret answer", "tokens": 12, "nested": {"list": [1, 2.5, None, "ü"]}}
REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "a private question"}],
    "seed": 3,
}


def key_texts(key: bytes) -> list[str]:
    """Every spelling of ``key`` a leak could take."""
    return [
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
        key.hex(),
        repr(key),
    ]


class ErrorEvents:
    """An observer plugin keeping the error events."""

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []

    @hookimpl
    def cachekit_on_error(self, event: CacheEvent) -> None:
        self.events.append(event)

    def entry_errors(self) -> list[CacheEvent]:
        return [e for e in self.events if isinstance(e.error, EntryError)]


class EncryptedCacheBehaviour:
    """What ``Cache(encryption_key=...)`` guarantees on a backend, rotation by ``rekey``
    aside (:class:`EncryptedCacheContract` adds it: subclass that one)."""

    #: Set when a read that overlaps an overwrite of its key may miss on this backend
    #: (the disk backend recycles replaced files: such a read sees a damaged file and
    #: misses). Rotation then still never serves a wrong value or raises, but a reader
    #: may miss while ``rekey`` rewrites the entry it is reading.
    overwrites_may_miss: ClassVar[bool] = False

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def cache_options(self) -> dict[str, Any]:
        raise NotImplementedError("override the cache_options fixture")

    @pytest.fixture
    def plugins(self) -> pluggy.PluginManager:
        return build_plugin_manager()

    @pytest.fixture
    def errors(self, plugins: pluggy.PluginManager) -> Iterator[ErrorEvents]:
        observer = ErrorEvents()
        plugins.register(observer)
        yield observer
        plugins.unregister(observer)

    @pytest.fixture
    async def make_cache(
        self, cache_options: dict[str, Any], plugins: pluggy.PluginManager, errors: ErrorEvents
    ) -> AsyncIterator[Callable[..., Cache]]:
        """Build caches over the shared store, in the test's namespace unless
        ``namespace=`` says otherwise; every namespace used is cleared at the end."""
        base = f"enc-{uuid.uuid4().hex[:10]}"
        made: list[Cache] = []

        def make(**extra: Any) -> Cache:
            options = {"namespace": base, "timeout": 10.0, **cache_options, **extra}
            cache = Cache(plugins=plugins, **options)
            made.append(cache)
            return cache

        yield make
        try:
            if made:
                for namespace in {cache.namespace for cache in made}:
                    await made[0].aclear(namespace)
        finally:
            for cache in made:
                await cache.aclose()

    # -- helpers --------------------------------------------------------------------
    @staticmethod
    def skey(cache: Cache, key: str) -> str:
        return namespace_prefix(cache.namespace) + key

    async def raw(self, cache: Cache, key: str) -> bytes:
        found = await cache.backend.get(self.skey(cache, key))
        assert found is not None, f"nothing stored under {key!r}"
        return found

    # -- round trips ------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_key_value_round_trip_stores_ciphertext(
        self, make_cache: Callable[..., Cache]
    ) -> None:
        cache = make_cache(encryption_key=NEW_KEY)
        await cache.aset("one", VALUE, ttl=600)
        await cache.aset_many({"two": [1, 2, 3], "three": "plain text value"}, ttl=600)
        assert await cache.aget("one") == VALUE
        assert await cache.aget_many(["three", "missing", "two"]) == [
            "plain text value",
            None,
            [1, 2, 3],
        ]
        raw = await self.raw(cache, "one")
        assert raw.startswith(MAGIC + key_id(NEW_KEY))
        assert b"secret answer" not in raw and b"tokens" not in raw
        assert b"plain text" not in await self.raw(cache, "three")

    @pytest.mark.anyio
    async def test_wrapped_call_round_trip(self, make_cache: Callable[..., Cache]) -> None:
        cache = make_cache(encryption_key=NEW_KEY, ttl=600)
        calls: list[dict[str, Any]] = []

        async def provider(**kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"id": "cmpl-1", "content": "an answer worth caching"}

        call = cache.cached("acompletion")(provider)
        first = await call(**REQUEST)
        second = await call(**REQUEST)
        assert first == second == {"id": "cmpl-1", "content": "an answer worth caching"}
        assert len(calls) == 1
        stored = await cache.backend.get(cache.get_cache_key(**REQUEST))
        assert stored is not None and stored.startswith(MAGIC)
        assert b"worth caching" not in stored

    # -- what does not decrypt is a miss plus an error event ----------------------------
    @pytest.mark.anyio
    async def test_wrong_key_is_a_miss_and_an_error_event(
        self, make_cache: Callable[..., Cache], errors: ErrorEvents
    ) -> None:
        writer = make_cache(encryption_key=OLD_KEY, ttl=600)
        reader = make_cache(encryption_key=STRANGER_KEY, ttl=600)
        await writer.aset("k", VALUE)
        assert await reader.aget("k") is None
        (event,) = errors.entry_errors()
        assert event.key == self.skey(reader, "k")
        assert key_id(OLD_KEY).hex() in str(event.error)  # names the key id, not the key
        assert reader.stats().errors == 1 and reader.stats().misses == 1

        calls = 0

        async def provider(**kwargs: Any) -> str:
            nonlocal calls
            calls += 1
            return f"fresh-{calls}"

        await writer.cached("acompletion")(provider)(**REQUEST)
        # The reader cannot open the writer's entry: the call runs, nothing breaks.
        assert await reader.cached("acompletion")(provider)(**REQUEST) == "fresh-2"
        assert len(errors.entry_errors()) == 2

    @pytest.mark.anyio
    @pytest.mark.parametrize("where", ["magic", "key id", "nonce", "ciphertext", "tag"])
    async def test_tampered_byte_is_a_miss(
        self, make_cache: Callable[..., Cache], errors: ErrorEvents, where: str
    ) -> None:
        cache = make_cache(encryption_key=NEW_KEY)
        await cache.aset("k", VALUE, ttl=600)
        raw = bytearray(await self.raw(cache, "k"))
        offset = {"magic": 0, "key id": 5, "nonce": 10, "ciphertext": 30, "tag": len(raw) - 1}
        raw[offset[where]] ^= 0x01
        await cache.backend.set(self.skey(cache, "k"), bytes(raw), 600)
        assert await cache.aget("k") is None
        assert len(errors.entry_errors()) == 1
        truncated = bytes(raw[:30])
        await cache.backend.set(self.skey(cache, "k"), truncated, 600)
        assert await cache.aget("k") is None
        assert len(errors.entry_errors()) == 2

    @pytest.mark.anyio
    async def test_entry_moved_to_another_key_or_namespace_is_a_miss(
        self, make_cache: Callable[..., Cache], errors: ErrorEvents
    ) -> None:
        cache = make_cache(encryption_key=NEW_KEY)
        other = make_cache(encryption_key=NEW_KEY, namespace=f"{cache.namespace}-other")
        await cache.aset("victim", VALUE, ttl=600)
        await cache.aset("attacker", "a different value", ttl=600)
        raw = await self.raw(cache, "victim")
        await cache.backend.set(self.skey(cache, "attacker"), raw, 600)
        await other.backend.set(self.skey(other, "victim"), raw, 600)
        assert await cache.aget("attacker") is None
        assert await other.aget("victim") is None
        assert len(errors.entry_errors()) == 2
        assert await cache.aget("victim") == VALUE  # the original is untouched

    @pytest.mark.anyio
    async def test_planted_plaintext_entry_is_a_miss_unless_plaintext_reads_are_allowed(
        self, make_cache: Callable[..., Cache], errors: ErrorEvents
    ) -> None:
        plain = make_cache()
        strict = make_cache(encryption_key=NEW_KEY)
        migrating = make_cache(encryption_key=NEW_KEY, allow_plaintext_reads=True)
        await plain.aset("planted", {"answer": "planted by someone"}, ttl=600)
        assert (await self.raw(plain, "planted")).startswith(b"[")
        assert await strict.aget("planted") is None
        (event,) = errors.entry_errors()
        assert "plaintext" in str(event.error)
        assert await migrating.aget("planted") == {"answer": "planted by someone"}
        await migrating.aset("written", VALUE, ttl=600)  # the migrating cache encrypts
        assert (await self.raw(migrating, "written")).startswith(MAGIC)
        assert await strict.aget("written") == VALUE
        assert await plain.aget("written") is None  # ciphertext is no entry without a key

    # -- rotation -----------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_rotation_reads_with_old_keys_and_writes_with_the_first(
        self, make_cache: Callable[..., Cache], errors: ErrorEvents
    ) -> None:
        old = make_cache(encryption_key=OLD_KEY)
        rotated = make_cache(encryption_keys=[NEW_KEY, OLD_KEY])
        await old.aset("before", VALUE, ttl=600)
        assert await rotated.aget("before") == VALUE
        await rotated.aset("after", "written after the rotation", ttl=600)
        assert (await self.raw(rotated, "after")).startswith(MAGIC + key_id(NEW_KEY))
        assert await old.aget("after") is None  # old readers cannot open new entries
        assert len(errors.entry_errors()) == 1

    @pytest.mark.anyio
    async def test_backend_scan_lists_exactly_the_prefix(
        self, make_cache: Callable[..., Cache]
    ) -> None:
        cache = make_cache()
        neighbour = make_cache(namespace=f"{cache.namespace}x")  # shares a string prefix
        names = ["a", "b:c", "sp ace", "ünï-☃", *(f"n{i}" for i in range(120))]
        await cache.aset_many({name: 1 for name in names}, ttl=600)
        await neighbour.aset("a", 2, ttl=600)
        prefix = namespace_prefix(cache.namespace)
        found = [key async for key in cache.backend.scan(prefix)]
        assert set(found) == {prefix + name for name in names}
        sub = [key async for key in cache.backend.scan(prefix + "n1")]
        assert set(sub) == {prefix + n for n in names if n.startswith("n1")}

    # -- keys never leak --------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_keys_never_appear_in_reprs_logs_events_or_errors(
        self,
        make_cache: Callable[..., Cache],
        errors: ErrorEvents,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="cachekit")
        b64 = base64.b64encode(NEW_KEY).decode()
        writer = make_cache(encryption_keys=[NEW_KEY, OLD_KEY])
        reader = make_cache(encryption_key=lambda: STRANGER_KEY)
        await writer.aset("k", VALUE, ttl=600)
        assert await reader.aget("k") is None
        report = await make_cache(encryption_key=b64).arekey(old_keys=OLD_KEY)
        texts = [
            repr(writer),
            repr(reader),
            repr(writer._engine.protector),
            caplog.text,
            repr(report),
            str(report.as_dict()),
            *(f"{event!r} {event.error}" for event in errors.events),
        ]
        for bad in (b"\x00" * 5, b"x" * 31, "not base64 !!" + b64[:20], b64[:-4]):
            with pytest.raises(ConfigurationError) as info:
                make_cache(encryption_key=bad)
            texts.append(str(info.value))
        assert errors.events and "key id" in caplog.text
        for key in (NEW_KEY, OLD_KEY, STRANGER_KEY):
            for spelling in key_texts(key):
                for text in texts:
                    assert spelling not in text
        assert all(b64[:20] not in text for text in texts)
