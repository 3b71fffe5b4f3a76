"""LiteLLM's names on ``Cache``: ``get_cache_key``, ``get_cache``/``add_cache`` and their
async twins, and overriding them by assignment (honoured on every path, the wrapper
included; an override that calls the original does not recurse)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from cachekit import Cache
from cachekit.testing import FakeClock

from ._support import (
    Provider,
    Recorder,
    SpyBackend,
    chat_response,
    embedding_response,
    plugin_manager,
)

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "hello"}]


def req(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}


@pytest.fixture
def cache(clock: FakeClock, recorder: Recorder) -> Cache:
    return Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)


def spy(cache: Cache) -> SpyBackend:
    backend = cache.backend
    assert isinstance(backend, SpyBackend)
    return backend


# -- built-in behaviour ---------------------------------------------------------------------


def test_get_cache_key_shape_and_what_it_ignores(cache: Cache) -> None:
    key = cache.get_cache_key(**req())
    assert re.fullmatch(r"cachekit:v2:default:completion:[0-9a-f]{64}", key)
    assert cache.get_cache_key(messages=MESSAGES, model="gpt-4o-mini") == key
    assert (
        cache.get_cache_key(
            **req(api_key="sk-1", timeout=3, metadata={"user": "u"}, cache={"ttl": 5})
        )
        == key
    )
    assert cache.get_cache_key(**req(temperature=0)) != key
    assert cache.get_cache_key(**req(), cache={"namespace": "ns1"}).startswith(
        "cachekit:v2:ns1:completion:"
    )
    assert cache.get_cache_key(model="e", input=["x"]).startswith("cachekit:v2:default:embedding:")


async def test_async_add_then_get(cache: Cache, clock: FakeClock) -> None:
    assert await cache.async_get_cache(**req()) is None
    await cache.async_add_cache({"answer": 1}, **req())
    assert await cache.async_get_cache(**req()) == {"answer": 1}
    assert await cache.async_get_cache(**req(temperature=1)) is None

    await cache.async_add_cache({"answer": 2}, **req(), cache={"ttl": 0.5})
    assert spy(cache).ttls()[-1] == 0.5
    clock.advance(0.51)
    assert await cache.async_get_cache(**req()) is None


def test_sync_add_then_get(cache: Cache) -> None:
    assert cache.get_cache(**req()) is None
    cache.add_cache({"answer": 1}, **req(), cache={"namespace": "other"})
    assert cache.get_cache(**req()) is None
    assert cache.get_cache(**req(), cache={"namespace": "other"}) == {"answer": 1}


async def test_bad_controls_raise_value_error(cache: Cache) -> None:
    with pytest.raises(ValueError, match="unknown cache control"):
        await cache.async_get_cache(**req(), cache={"nocache": True})
    with pytest.raises(ValueError, match="non-negative"):
        await cache.async_add_cache({"a": 1}, **req(), cache={"ttl": -3})
    assert spy(cache).ops == []


async def test_wrapper_and_api_share_entries(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await cache.async_add_cache({"from": "api"}, **req())
    assert await acompletion(**req()) == {"from": "api"}
    assert provider.count == 0

    stored = await acompletion(**req(seed=1))
    assert cache.get_cache(**req(seed=1)) == stored


# -- overrides by assignment ---------------------------------------------------------------


def custom_key(calls: list[dict[str, Any]]) -> Callable[..., str]:
    def get_cache_key(**kwargs: Any) -> str:
        calls.append(kwargs)
        return f"by-model-{kwargs['model']}"  # ignores the messages on purpose

    return get_cache_key


async def test_get_cache_key_override_is_used_by_the_async_wrapper(cache: Cache) -> None:
    calls: list[dict[str, Any]] = []
    cache.get_cache_key = custom_key(calls)  # type: ignore[method-assign]
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    first = await acompletion(**req())
    other_messages = [{"role": "user", "content": "something else"}]
    assert await acompletion(model="gpt-4o-mini", messages=other_messages) == first
    assert provider.count == 1
    assert calls[0]["messages"] == MESSAGES
    assert [k for k in spy(cache).raw()] == ["cachekit:v2:default:by-model-gpt-4o-mini"]


def test_get_cache_key_override_is_used_by_the_sync_wrapper_and_api(cache: Cache) -> None:
    cache.get_cache_key = custom_key([])  # type: ignore[method-assign]
    provider = Provider()
    completion = cache.cached("completion")(provider)
    completion(**req())
    assert cache.get_cache(model="gpt-4o-mini", messages=[]) == chat_response("gpt-4o-mini", 1)
    cache.add_cache({"x": 1}, model="other", messages=[])
    assert completion(model="other", messages=MESSAGES) == {"x": 1}
    assert provider.count == 1


async def test_get_cache_key_override_is_used_by_the_async_api(cache: Cache) -> None:
    cache.get_cache_key = custom_key([])  # type: ignore[method-assign]
    await cache.async_add_cache({"x": 1}, model="m", messages=MESSAGES)
    assert await cache.async_get_cache(model="m", messages=[]) == {"x": 1}


async def test_bad_get_cache_key_override_fails_open(cache: Cache, recorder: Recorder) -> None:
    cache.get_cache_key = lambda **kwargs: 42  # type: ignore[method-assign,assignment,return-value]
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    await acompletion(**req())
    assert provider.count == 2
    assert recorder.kinds == ["error", "error"]


class AddSpy:
    def __init__(self, cache: Cache, *, call_original: bool = False) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.original = cache.add_cache
        self.call_original = call_original

    def __call__(self, result: Any, **kwargs: Any) -> None:
        self.calls.append((result, kwargs))
        if self.call_original:
            self.original(result, **kwargs)


class GetSpy:
    def __init__(self, cache: Cache, answer: Any = None, *, call_original: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.original = cache.get_cache
        self.answer = answer
        self.call_original = call_original

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.original(**kwargs) if self.call_original else self.answer


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_add_cache_override_replaces_the_store(cache: Cache, face: str) -> None:
    adder = AddSpy(cache)
    cache.add_cache = adder  # type: ignore[method-assign]
    provider = Provider()
    if face == "async":
        result = await cache.cached("acompletion")(provider.acall)(**req())
    else:
        result = cache.cached("completion")(provider)(**req())
    assert adder.calls == [(result, req())]
    assert spy(cache).count("set") == 0  # the built-in store did not run

    await cache.async_add_cache({"b": 2}, **req(seed=2))
    cache.add_cache({"c": 3}, **req(seed=3))
    assert [kw.get("seed") for _, kw in adder.calls] == [None, 2, 3]
    assert spy(cache).count("set") == 0


async def test_async_add_cache_override(cache: Cache) -> None:
    seen: list[Any] = []

    async def add_cache(result: Any, **kwargs: Any) -> None:
        seen.append(result)

    cache.add_cache = add_cache  # type: ignore[method-assign,assignment]
    provider = Provider()
    await cache.cached("acompletion")(provider.acall)(**req())
    cache.cached("completion")(provider)(**req(seed=1))
    assert seen == [chat_response("gpt-4o-mini", 1), chat_response("gpt-4o-mini", 2)]


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_get_cache_override_replaces_the_lookup(cache: Cache, face: str) -> None:
    getter = GetSpy(cache, answer={"from": "override"})
    cache.get_cache = getter  # type: ignore[method-assign]
    provider = Provider()
    if face == "async":
        result = await cache.cached("acompletion")(provider.acall)(**req())
    else:
        result = cache.cached("completion")(provider)(**req())
    assert result == {"from": "override"}
    assert provider.count == 0
    assert getter.calls[0]["messages"] == MESSAGES
    assert spy(cache).count("get") == 0

    assert await cache.async_get_cache(**req()) == {"from": "override"}
    getter.answer = None  # the override says "miss": the provider is called
    if face == "async":
        await cache.cached("acompletion")(provider.acall)(**req())
    else:
        cache.cached("completion")(provider)(**req())
    assert provider.count == 1


async def test_overrides_apply_to_per_item_embeddings(cache: Cache) -> None:
    adder = AddSpy(cache)
    cache.add_cache = adder  # type: ignore[method-assign]
    getter = GetSpy(cache)
    cache.get_cache = getter  # type: ignore[method-assign]
    provider = Provider(embedding_response)
    await cache.cached("aembedding")(provider.acall)(model="e", input=["a", "b"])
    assert [kw["input"] for kw in getter.calls] == [["a"], ["b"]]
    assert [kw["input"] for _, kw in adder.calls] == [["a"], ["b"]]
    assert [r["embedding"] for r, _ in adder.calls] == [
        d["embedding"] for d in embedding_response({"input": ["a", "b"]}, 1)["data"]
    ]


# -- an override that calls the original reaches the built-in behaviour once --------------------

PATHS = ["async-wrapper", "sync-wrapper", "async-api"]
SYNC_API = "sync-api"


async def run_path(cache: Cache, path: str, provider: Provider) -> Any:
    if path == "async-wrapper":
        return await cache.cached("acompletion")(provider.acall)(**req())
    if path == "sync-wrapper":
        return cache.cached("completion")(provider)(**req())
    if path == "async-api":
        await cache.async_add_cache({"k": 1}, **req())
        return await cache.async_get_cache(**req())
    cache.add_cache({"k": 1}, **req())
    return cache.get_cache(**req())


@pytest.mark.parametrize("path", [*PATHS, SYNC_API])
async def test_overrides_calling_the_original_run_once(cache: Cache, path: str) -> None:
    getter = GetSpy(cache, call_original=True)
    adder = AddSpy(cache, call_original=True)
    cache.get_cache = getter  # type: ignore[method-assign]
    cache.add_cache = adder  # type: ignore[method-assign]
    provider = Provider()

    result = await run_path(cache, path, provider)

    assert len(getter.calls) == 1
    assert len(adder.calls) == 1
    assert spy(cache).count("set") == 1  # the original stored it, once
    assert cache.get_cache(**req()) == result  # and the built-in lookup finds it


async def test_get_cache_key_override_calling_the_original(cache: Cache) -> None:
    original = cache.get_cache_key
    calls = []

    def get_cache_key(**kwargs: Any) -> str:
        calls.append(1)
        return original(**kwargs) + "-v2"

    cache.get_cache_key = get_cache_key  # type: ignore[method-assign]
    provider = Provider()
    await cache.cached("acompletion")(provider.acall)(**req())
    cache.cached("completion")(provider)(**req())
    assert provider.count == 1
    assert len(calls) == 2
    (key,) = spy(cache).raw()
    assert key == original(**req()) + "-v2"


async def test_an_overridden_key_is_stored_in_the_namespace(
    cache: Cache, recorder: Recorder
) -> None:
    """Documented choice: a custom key is kept inside the cache's namespace
    (``cachekit:v2:<ns>:<custom key>``) so namespaces and ``aclear`` still hold; events
    carry that storage key, and the key-value API reads the entry by the custom key."""
    cache.get_cache_key = custom_key([])  # type: ignore[method-assign]
    result = await cache.cached("acompletion")(Provider().acall)(**req())
    custom = cache.get_cache_key(**req())
    assert recorder.events[0].key == f"cachekit:v2:{cache.namespace}:{custom}"
    assert await cache.aget(custom) == result
