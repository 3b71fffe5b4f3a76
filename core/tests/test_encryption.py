"""Encryption at rest: the encrypted-cache contract on the in-process ``local`` backend,
key parsing, the stored format, semantic entries, ``arekey`` edge cases and the
``cachekit rekey`` command against a real disk directory (a separate process)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest
from cachekit import AsyncBackend, Cache, ConfigurationError, LocalBackend, hookimpl
from cachekit._policy._crypto import MAGIC, AesGcmProtector, key_id, parse_keys
from cachekit._semantic._local import LocalSemanticBackend
from cachekit.hookspecs import RegisterBackend
from cachekit.testing import EncryptedCacheContract

from ._support import Recorder

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
OLD_B64 = base64.b64encode(OLD).decode()
NEW_B64 = base64.b64encode(NEW).decode()
REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a private prompt"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _SharedLocal:
    """A backend type whose every cache shares one ``LocalBackend`` (two local caches
    never share storage otherwise), so that writers and readers meet."""

    def __init__(self) -> None:
        self.backend = LocalBackend()

    @hookimpl
    def cachekit_register_backends(self, register: RegisterBackend) -> None:
        register("shared-local", lambda **_: self.backend)


class TestLocalEncrypted(EncryptedCacheContract):
    @pytest.fixture
    def plugins(self, pm: pluggy.PluginManager) -> pluggy.PluginManager:
        pm.register(_SharedLocal())
        return pm

    @pytest.fixture
    def cache_options(self) -> dict[str, Any]:
        return {"type": "shared-local"}


# -- keys --------------------------------------------------------------------------------
def test_keys_are_raw_bytes_or_base64_text_in_either_alphabet() -> None:
    urlsafe = base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")
    assert parse_keys(encryption_key=NEW) == [NEW]
    assert parse_keys(encryption_key=NEW_B64) == [NEW]
    assert parse_keys(encryption_key=f"  {NEW_B64}\n") == [NEW]
    assert parse_keys(encryption_key=urlsafe) == [b"\xfb" * 32]
    assert parse_keys(encryption_keys=[NEW, OLD_B64, NEW]) == [NEW, OLD]  # duplicates dropped
    assert parse_keys() is None


def test_key_callables_are_called_once_when_the_cache_is_built(pm: pluggy.PluginManager) -> None:
    calls: list[str] = []

    def current() -> str:
        calls.append("one")
        return NEW_B64

    def ring() -> list[bytes]:
        calls.append("ring")
        return [NEW, OLD]

    single = Cache(encryption_key=current, plugins=pm)
    several = Cache(encryption_keys=ring, plugins=pm)
    assert calls == ["one", "ring"]
    single.set("k", 1)
    several.set("k", 2)
    assert single.get("k") == 1 and several.get("k") == 2
    assert calls == ["one", "ring"]
    assert several._engine.protector is not None
    assert several._engine.protector.key_ids == (key_id(NEW).hex(), key_id(OLD).hex())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encryption_key": NEW, "encryption_keys": [NEW]}, "not both"),
        ({"encryption_keys": []}, "empty"),
        ({"encryption_keys": NEW}, "list of keys"),
        ({"encryption_key": b"short"}, "must be 32 bytes"),
        ({"encryption_key": base64.b64encode(b"x" * 16).decode()}, "decodes to 16 bytes"),
        ({"encryption_key": "not*base64*at*all"}, "not base64"),
        ({"encryption_key": 12345}, "got int"),
        ({"encryption_keys": [NEW, "%%%"]}, "encryption_keys[1]"),
        ({"allow_plaintext_reads": True}, "only applies to an encrypted cache"),
        ({"encryption_key": NEW, "allow_plaintext_reads": "yes"}, "True or False"),
        ({"encryption_key": lambda: 1 / 0}, "the key callable raised ZeroDivisionError"),
    ],
)
def test_bad_key_options_are_configuration_errors_that_never_echo_the_value(
    pm: pluggy.PluginManager, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as info:
        Cache(plugins=pm, **options)
    for value in options.values():
        if isinstance(value, bytes | str) and len(value) > 3:
            assert str(value) not in str(info.value) and repr(value) not in str(info.value)


# -- the stored format -----------------------------------------------------------------
def test_every_write_has_a_fresh_nonce_and_the_documented_layout() -> None:
    protector = AesGcmProtector([NEW, OLD])
    entry = b'["cachekit/2",1.0,null,"kv",null]\n"v"'
    first, second = (
        protector.seal("cachekit:v2:ns:k", entry),
        protector.seal("cachekit:v2:ns:k", entry),
    )
    assert first[:4] == MAGIC and first[4:8] == key_id(NEW)
    assert len(first) == 4 + 4 + 12 + len(entry) + 16
    assert first[8:20] != second[8:20] and first != second
    assert protector.open("cachekit:v2:ns:k", first) == entry
    assert AesGcmProtector([OLD, NEW]).open("cachekit:v2:ns:k", first) == entry  # any listed key
    assert "AesGcmProtector(key_ids=[" in repr(protector)


def test_a_protector_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(AesGcmProtector([NEW]))


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cryptography_is_imported_only_by_an_encrypted_cache() -> None:
    # Built-in plugins only: redis-py (another plugin's client) imports it on its own.
    done = _python(
        """
        import sys
        from cachekit import Cache, build_plugin_manager
        Cache(plugins=build_plugin_manager(autoload=False)).set("k", 1)
        print("cryptography" in sys.modules)
        Cache(encryption_key=b"k" * 32)
        print("cryptography" in sys.modules)
        """
    )
    assert done.stdout.split() == ["False", "True"], done.stderr


def test_without_cryptography_the_error_names_the_extra() -> None:
    done = _python(
        """
        import sys
        sys.modules["cryptography"] = None  # as if it were not installed
        from cachekit import Cache, ConfigurationError, build_plugin_manager
        pm = build_plugin_manager(autoload=False)
        Cache(plugins=pm).set("k", 1)  # unencrypted caches do not need it
        try:
            Cache(plugins=pm, encryption_key=b"k" * 32)
        except ConfigurationError as exc:
            print(exc)
        """
    )
    assert 'pip install "cachekit-core[encryption]"' in done.stdout, done.stderr


# -- semantic entries ------------------------------------------------------------------
class _SharedSemantic:
    def __init__(self) -> None:
        self.backend = LocalSemanticBackend()

    @hookimpl
    def cachekit_register_backends(self, register: RegisterBackend) -> None:
        register("shared-semantic", lambda **_: self.backend)


@pytest.mark.anyio
async def test_semantic_hits_work_and_the_stored_response_is_encrypted(
    pm: pluggy.PluginManager,
) -> None:
    pm.register(_SharedSemantic())
    recorder = Recorder()
    pm.register(recorder)
    cache = Cache(type="shared-semantic", plugins=pm, encryption_key=NEW)
    answer = {"choices": [{"message": {"role": "assistant", "content": "Paris, in secret."}}]}
    question = {
        "model": "m",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    reworded = {
        "model": "m",
        "messages": [{"role": "user", "content": "what is the capital of france"}],
    }
    await cache.async_add_cache(answer, **question)
    assert await cache.async_get_cache(**reworded) == answer  # a semantic hit, decrypted
    (hit,) = recorder.of("hit")
    assert hit.similarity is not None
    stored = await cache.backend.get(cache.get_cache_key(**question))
    assert stored is not None and stored.startswith(MAGIC) and b"Paris" not in stored
    stranger = Cache(type="shared-semantic", plugins=pm, encryption_key=OLD)
    assert await stranger.async_get_cache(**question) is None  # exact key: does not decrypt
    assert await stranger.async_get_cache(**reworded) is None  # semantic match: neither
    rotated = Cache(type="shared-semantic", plugins=pm, encryption_key=OLD)
    assert (await rotated.arekey(old_keys=NEW)).rekeyed == 1  # the index is left as it is
    assert await rotated.async_get_cache(**reworded) == answer


# -- arekey edge cases ---------------------------------------------------------------
class _NoScan(AsyncBackend):
    """A backend without the optional ``scan`` (over a real LocalBackend)."""

    def __init__(self) -> None:
        self.inner = LocalBackend()

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.inner.set(key, value, ttl)

    async def delete(self, key: str) -> bool:
        return await self.inner.delete(key)

    async def clear(self, prefix: str) -> int:
        return await self.inner.clear(prefix)


class _NoScanPlugin:
    @hookimpl
    def cachekit_register_backends(self, register: RegisterBackend) -> None:
        register("no-scan", _NoScan)


@pytest.mark.anyio
async def test_rekey_needs_an_encrypted_cache_and_a_backend_that_lists_keys(
    pm: pluggy.PluginManager,
) -> None:
    with pytest.raises(ConfigurationError, match="needs an encrypted cache"):
        await Cache(plugins=pm).arekey(old_keys=OLD)
    pm.register(_NoScanPlugin())
    cache = Cache(type="no-scan", plugins=pm, encryption_key=NEW)
    await cache.aset("k", 1)
    with pytest.raises(ConfigurationError, match="cannot list its keys"):
        await cache.arekey(old_keys=OLD)
    with pytest.raises(ConfigurationError, match="batch_size"):
        await Cache(plugins=pm, encryption_key=NEW).arekey(batch_size=0)
    with pytest.raises(ConfigurationError, match=r"old_keys\[0\]"):
        await Cache(plugins=pm, encryption_key=NEW).arekey(old_keys=["nope"])


def test_the_sync_twin_rekeys_and_awaits_async_progress(pm: pluggy.PluginManager) -> None:
    shared = _SharedLocal()
    pm.register(shared)
    old = Cache(type="shared-local", plugins=pm, encryption_key=OLD)
    old.set_many({f"k{i}": i for i in range(5)})
    new = Cache(type="shared-local", plugins=pm, encryption_key=NEW)
    seen: list[int] = []

    async def progress(report: Any) -> None:
        seen.append(report.rekeyed)

    report = new.rekey(old_keys=[OLD], progress=progress, batch_size=2)
    assert report.rekeyed == 5 and seen == [2, 4, 5]
    assert new.get_many([f"k{i}" for i in range(5)]) == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_rekey_through_an_l1_lists_the_store_below(pm: pluggy.PluginManager) -> None:
    """With an L1 the store below (L2) is listed: here one that cannot list its keys."""
    pm.register(_NoScanPlugin())
    cache = Cache(type="no-scan", plugins=pm, encryption_key=NEW, l1_ttl=30)
    with pytest.raises(ConfigurationError, match="no-scan backend cannot list its keys"):
        await cache.arekey(old_keys=OLD)


class _Racing(AsyncBackend):
    """A remote-like store (not inline) over a real LocalBackend that runs ``race``
    once, right after the first batch read: another writer acting mid-rekey."""

    shared = LocalBackend()
    race: Callable[[], Any] | None = None

    async def get(self, key: str) -> bytes | None:
        return await self.shared.get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        found = await self.shared.get_many(keys)
        race, type(self).race = type(self).race, None
        if race is not None:
            await race()
        return found

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.shared.set(key, value, ttl)

    async def delete(self, key: str) -> bool:
        return await self.shared.delete(key)

    async def clear(self, prefix: str) -> int:
        return await self.shared.clear(prefix)

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        async for key in self.shared.scan(prefix):
            yield key


class _RacingPlugin:
    @hookimpl
    def cachekit_register_backends(self, register: RegisterBackend) -> None:
        register("racing", _Racing)


@pytest.mark.anyio
async def test_rekey_keeps_what_another_writer_stored_meanwhile_even_behind_an_l1(
    pm: pluggy.PluginManager,
) -> None:
    pm.register(_RacingPlugin())
    _Racing.shared = LocalBackend()
    old = Cache(type="racing", plugins=pm, encryption_key=OLD)
    await old.aset_many({"a": "old a", "b": "old b"}, ttl=600)
    rekeying = Cache(type="racing", plugins=pm, encryption_key=NEW, l1_ttl=30)
    assert await rekeying.aget_many(["a", "b"]) == [None, None]  # L1 now holds old bytes
    writer = Cache(type="racing", plugins=pm, encryption_keys=[NEW, OLD])
    assert await writer.aget("a") == "old a"

    async def race() -> None:
        await writer.aset("a", "fresh a", ttl=600)

    _Racing.race = race
    report = await rekeying.arekey(old_keys=OLD)
    assert (report.rekeyed, report.changed) == (1, 1)
    assert await writer.aget_many(["a", "b"]) == ["fresh a", "old b"]
    assert await Cache(type="racing", plugins=pm, encryption_key=NEW).aget("a") == "fresh a"


# -- the command -----------------------------------------------------------------------
CLI = [sys.executable, "-m", "cachekit._cli"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    clean.update(env or {})
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, input="", env=clean, timeout=120
    )


@pytest.fixture
async def disk_store(tmp_path: Path) -> AsyncIterator[Callable[..., Cache]]:
    pytest.importorskip("cachekit_disk", reason="cachekit-disk (plugins/disk) is not installed")
    made: list[Cache] = []

    def make(**options: Any) -> Cache:
        cache = Cache(type="disk", disk_cache_dir=str(tmp_path / "c"), namespace="team", **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.aclose()


def _assert_no_keys(*texts: str) -> None:
    for key in (OLD, NEW):
        for spelling in (base64.b64encode(key).decode(), key.hex()):
            for text in texts:
                assert spelling not in text


@pytest.mark.anyio
async def test_cli_rekey_with_keys_from_the_environment(
    disk_store: Callable[..., Cache], tmp_path: Path
) -> None:
    old = disk_store(encryption_key=OLD)
    await old.aset_many({f"k{i}": {"i": i} for i in range(40)}, ttl=600)
    url = f"disk://{tmp_path / 'c'}?namespace=team"
    env = {"CACHEKIT_ENCRYPTION_KEY": NEW_B64, "CACHEKIT_OLD_ENCRYPTION_KEYS": f"{OLD_B64}, "}
    done = _cli("--url", url, "rekey", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["rekeyed"], doc["scanned"], doc["namespace"]) == (40, 40, "team")
    assert doc["key_id"] == key_id(NEW).hex() and doc["old_key_ids"] == [key_id(OLD).hex()]
    _assert_no_keys(done.stdout, done.stderr)
    new = disk_store(encryption_key=NEW)
    assert await new.aget_many([f"k{i}" for i in range(40)]) == [{"i": i} for i in range(40)]

    again = _cli("--url", url, "rekey", "--to", NEW_B64, "--from", OLD_B64)  # resumes: no-op
    assert again.returncode == 0, again.stderr
    assert "re-encrypted 0" in again.stdout and "already current 40" in again.stdout
    _assert_no_keys(again.stdout, again.stderr)


@pytest.mark.anyio
async def test_cli_rekey_encrypts_plaintext_entries_with_plaintext(
    disk_store: Callable[..., Cache], tmp_path: Path
) -> None:
    plain = disk_store()
    await plain.aset("p", "was plaintext", ttl=600)
    url = f"disk://{tmp_path / 'c'}"
    done = _cli(
        "--url", url, "--namespace", "team", "rekey", "--to", NEW_B64, "--plaintext", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["encrypted"] == 1
    assert await disk_store(encryption_key=NEW).aget("p") == "was plaintext"


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["rekey", "--from", OLD_B64], {}, "no new key"),
        (["rekey", "--to", NEW_B64], {}, "nothing to rekey from"),
        (["rekey", "--to", NEW_B64[:-8], "--from", OLD_B64], {}, "--to decodes to"),
        (
            ["rekey", "--from", "x" + OLD_B64[1:-4]],
            {"CACHEKIT_ENCRYPTION_KEY": NEW_B64},
            "--from key #1",
        ),
        (
            ["rekey", "--from", OLD_B64],
            {"CACHEKIT_ENCRYPTION_KEY": "%%%"},
            "$CACHEKIT_ENCRYPTION_KEY",
        ),
    ],
)
def test_cli_rekey_usage_errors_are_one_line_without_the_keys(
    tmp_path: Path, args: list[str], env: dict[str, str], needle: str
) -> None:
    done = _cli("--url", f"disk://{tmp_path}", *args, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("cachekit: error: ") and needle in line
    _assert_no_keys(done.stdout, done.stderr)
    assert OLD_B64[1:-4] not in done.stderr and NEW_B64[:-8] not in done.stderr
