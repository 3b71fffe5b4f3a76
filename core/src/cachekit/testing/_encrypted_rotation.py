"""The encryption contract with key rotation by ``rekey``: subclass
:class:`EncryptedCacheContract` (see :mod:`cachekit.testing._encrypted` for the
fixtures a subclass supplies)."""

from __future__ import annotations

import random
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest

from cachekit._cache import Cache
from cachekit._policy._crypto import MAGIC, key_id
from cachekit._policy._envelope import decode_entry
from cachekit.testing._encrypted import (
    NEW_KEY,
    OLD_KEY,
    STRANGER_KEY,
    VALUE,
    EncryptedCacheBehaviour,
    ErrorEvents,
)

__all__ = ["EncryptedCacheContract"]


class EncryptedCacheContract(EncryptedCacheBehaviour):
    """What ``Cache(encryption_key=...)`` guarantees on a backend, rotation included.
    Subclass it and supply ``cache_options``."""

    @pytest.mark.anyio
    async def test_rekey_moves_every_entry_of_the_namespace_to_the_new_key(
        self, make_cache: Callable[..., Cache]
    ) -> None:
        old = make_cache(encryption_key=OLD_KEY)
        bystander = make_cache(encryption_key=OLD_KEY, namespace=f"{old.namespace}-x")
        values = {f"entry-{i}": {"i": i, "text": f"value {i}"} for i in range(120)}
        await old.aset_many(values, ttl=600)
        await old.aset("forever", "no lifetime", ttl=None)
        await bystander.aset("entry-0", "another namespace", ttl=600)
        bystander_raw = await self.raw(bystander, "entry-0")

        new = make_cache(encryption_key=NEW_KEY)
        seen: list[int] = []
        report = await new.arekey(
            old_keys=OLD_KEY, progress=lambda r: seen.append(r.scanned), batch_size=50
        )
        assert (report.scanned, report.rekeyed, report.current, report.unreadable) == (
            121,
            121,
            0,
            0,
        )
        assert seen == sorted(seen) and seen[-1] == 121 and len(seen) >= 3  # batches of 50
        assert await new.aget_many(list(values)) == list(values.values())
        assert await new.aget("forever") == "no lifetime"
        for key in ("entry-0", "entry-119", "forever"):
            assert (await self.raw(new, key)).startswith(MAGIC + key_id(NEW_KEY))
        assert await self.raw(bystander, "entry-0") == bystander_raw  # not its namespace

        again = await new.arekey(old_keys=[OLD_KEY])  # resumable: nothing left to do
        assert (again.scanned, again.rekeyed, again.current) == (121, 0, 121)

    @pytest.mark.anyio
    async def test_rekey_keeps_creation_times_and_lifetimes(
        self, make_cache: Callable[..., Cache]
    ) -> None:
        old = make_cache(encryption_key=OLD_KEY)
        await old.aset("timed", VALUE, ttl=3600)
        await old.aset("forever", VALUE, ttl=None)
        before = {
            k: decode_entry(old._engine.unseal(self.skey(old, k), await self.raw(old, k)))
            for k in ("timed", "forever")
        }
        new = make_cache(encryption_keys=[NEW_KEY, OLD_KEY])
        report = await new.arekey()
        assert report.rekeyed == 2
        for key, entry in before.items():
            after = decode_entry(new._engine.unseal(self.skey(new, key), await self.raw(new, key)))
            assert (after.created_at, after.expires_at) == (entry.created_at, entry.expires_at)
            assert after.payload == entry.payload

    @pytest.mark.anyio
    async def test_rekey_leaves_unreadable_entries_and_encrypts_plaintext_when_allowed(
        self, make_cache: Callable[..., Cache]
    ) -> None:
        plain = make_cache()
        stranger = make_cache(encryption_key=STRANGER_KEY)
        await plain.aset("plain", "was plaintext", ttl=600)
        await stranger.aset("foreign", "someone else's key", ttl=600)
        foreign_raw = await self.raw(stranger, "foreign")

        strict = make_cache(encryption_key=NEW_KEY)
        report = await strict.arekey(old_keys=OLD_KEY)
        assert (report.unreadable, report.rekeyed, report.encrypted) == (2, 0, 0)
        assert (await self.raw(plain, "plain")).startswith(b"[")

        migrating = make_cache(encryption_key=NEW_KEY, allow_plaintext_reads=True)
        report = await migrating.arekey()
        assert (report.encrypted, report.unreadable) == (1, 1)
        # A cache built now (another one's L1 may hold the old bytes for its l1_ttl):
        assert await make_cache(encryption_key=NEW_KEY).aget("plain") == "was plaintext"
        assert await self.raw(stranger, "foreign") == foreign_raw

    @pytest.mark.anyio
    async def test_rekey_under_concurrent_reads_serves_no_wrong_value(
        self, make_cache: Callable[..., Cache], errors: ErrorEvents
    ) -> None:
        old = make_cache(encryption_key=OLD_KEY)
        values = {f"k{i}": {"i": i, "pad": "x" * (i % 50)} for i in range(80)}
        await old.aset_many(values, ttl=600)
        readers = [make_cache(encryption_keys=[NEW_KEY, OLD_KEY]) for _ in range(3)]
        rekeying = make_cache(encryption_key=NEW_KEY)
        done = anyio.Event()
        reads = 0

        async def read(cache: Cache, seed: int) -> None:
            nonlocal reads
            rng = random.Random(seed)
            keys = list(values)
            while not done.is_set():
                key = rng.choice(keys)
                got = await cache.aget(key)
                if got is None and self.overwrites_may_miss:
                    continue  # a read that overlapped a rewrite (see overwrites_may_miss)
                assert got == values[key]
                reads += 1
                await anyio.lowlevel.checkpoint()

        async def step(_: object) -> None:
            await (
                anyio.lowlevel.checkpoint()
            )  # let readers in between batches (in-process backends)

        async with anyio.create_task_group() as group:
            for i, reader in enumerate(readers):
                group.start_soon(read, reader, i)
            report = await rekeying.arekey(old_keys=OLD_KEY, progress=step, batch_size=10)
            await anyio.lowlevel.checkpoint()
            done.set()
        assert report.rekeyed == len(values)
        assert reads > 0
        assert errors.events == []
        assert all(r.stats().errors == 0 for r in readers)
        if not self.overwrites_may_miss:
            assert all(r.stats().misses == 0 for r in readers)
        assert await rekeying.aget_many(list(values)) == list(values.values())

    # -- scan: what rekey walks ----------------------------------------------------------
