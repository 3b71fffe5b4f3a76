"""The ``cached`` wrapper on whole-request entries: sync and async provider functions,
per-call controls, lifetimes and their precedence, result types and keys."""

from __future__ import annotations

import functools
import io
from typing import Any

import pytest
from cachekit import Cache, ConfigurationError, hookimpl
from cachekit.testing import FakeClock

from ._support import (
    ChatCompletion,
    Provider,
    Recorder,
    SpyBackend,
    chat_model_response,
    chat_response,
    plugin_manager,
)

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def req(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, **extra}


@pytest.fixture
def cache(clock: FakeClock, recorder: Recorder) -> Cache:
    """A cache over the spy backend (a real LocalBackend that records operations)."""
    return Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)


def spy(cache: Cache) -> SpyBackend:
    backend = cache.backend
    assert isinstance(backend, SpyBackend)
    return backend


# -- miss, store, hit ------------------------------------------------------------------


async def test_async_miss_calls_once_and_stores_before_returning(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)

    first = await acompletion(**req())

    assert provider.count == 1
    assert first == chat_response("gpt-4o-mini", 1)
    # the write has completed when the call returns
    key = cache.get_cache_key(**req())
    assert key in spy(cache).raw()
    assert await cache.async_get_cache(**req()) == first

    second = await acompletion(**req())
    assert second == first
    assert provider.count == 1


def test_sync_miss_calls_once_and_stores_before_returning(cache: Cache) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)

    first = completion(**req())

    assert provider.count == 1
    assert cache.get_cache_key(**req()) in spy(cache).raw()
    assert cache.get_cache(**req()) == first
    assert completion(**req()) == first
    assert provider.count == 1


async def test_provider_gets_the_request_unchanged(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req(api_key="sk-x", timeout=30))
    assert provider.calls == [req(api_key="sk-x", timeout=30)]


async def test_a_different_request_is_a_miss(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    await acompletion(**req(temperature=0.9))
    await acompletion(**req(model="gpt-4o"))
    assert provider.count == 3


async def test_provider_error_propagates_and_stores_nothing(cache: Cache) -> None:
    calls = []

    async def failing(**kwargs: Any) -> Any:
        calls.append(kwargs)
        raise RuntimeError("provider down")

    acompletion = cache.cached("acompletion")(failing)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="provider down"):
            await acompletion(**req())
    assert len(calls) == 2
    assert spy(cache).count("set") == 0


class AsyncClient:
    """A callable object with an ``async def __call__`` (SDK clients look like this)."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, **kwargs: Any) -> Any:
        self.count += 1
        return chat_response(kwargs["model"], self.count)


async def test_async_callable_objects_and_partials_are_wrapped_as_async(cache: Cache) -> None:
    client = AsyncClient()
    acompletion = cache.cached("acompletion")(client)
    first = await acompletion(**req())
    assert await acompletion(**req()) == first
    assert client.count == 1
    assert spy(cache).count("set") == 1

    provider = Provider()
    partial = cache.cached("acompletion")(functools.partial(provider.acall, user="u1"))
    await partial(**req(seed=5))
    await partial(**req(seed=5))
    assert provider.count == 1
    assert provider.calls == [req(seed=5, user="u1")]


def test_wrapper_keeps_the_function_identity(cache: Cache) -> None:
    def completion(**kwargs: Any) -> Any:
        """Docs."""
        return kwargs

    wrapped = cache.cached("completion")(completion)
    assert wrapped.__name__ == "completion"
    assert wrapped.__doc__ == "Docs."
    assert wrapped.__wrapped__ is completion  # type: ignore[attr-defined]


# -- per-call controls -------------------------------------------------------------------


async def test_controls_never_reach_the_provider(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    completion = cache.cached("completion")(provider)
    await acompletion(**req(), cache={"ttl": 5, "no-store": True})
    completion(**req(), cache={"no-cache": True})
    assert provider.count == 2
    assert all("cache" not in call for call in provider.calls)


BAD_CONTROLS = [
    {"bogus": True},
    {"ttl": -1},
    {"ttl": "10"},
    {"no-cache": "yes"},
    {"no-store": 1},
    {"s-maxage": -0.5},
    {"namespace": "a:b"},
    "no-cache",
]


@pytest.mark.parametrize("controls", BAD_CONTROLS)
async def test_bad_controls_raise_before_any_io_async(cache: Cache, controls: Any) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    with pytest.raises(ValueError, match=r"cache control|controls must|namespace must"):
        await acompletion(**req(), cache=controls)
    assert provider.count == 0
    assert spy(cache).ops == []


@pytest.mark.parametrize("controls", BAD_CONTROLS)
def test_bad_controls_raise_before_any_io_sync(cache: Cache, controls: Any) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)
    with pytest.raises(ValueError, match=r"cache control|controls must|namespace must"):
        completion(**req(), cache=controls)
    assert provider.count == 0
    assert spy(cache).ops == []


async def test_no_cache_forces_a_refresh_and_stores_it(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    first = await acompletion(**req())

    refreshed = await acompletion(**req(), cache={"no-cache": True})

    assert provider.count == 2
    assert refreshed != first
    assert refreshed == chat_response("gpt-4o-mini", 2)
    assert spy(cache).count("get") == 1  # the forced refresh did not read
    assert await acompletion(**req()) == refreshed  # the fresh result replaced the old one
    assert provider.count == 2


def test_no_cache_forces_a_refresh_sync(cache: Cache) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)
    completion(**req())
    refreshed = completion(**req(), cache={"no-cache": True})
    assert provider.count == 2
    assert completion(**req()) == refreshed


async def test_no_store_does_not_write_but_still_reads(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)

    await acompletion(**req(), cache={"no-store": True})
    assert spy(cache).count("set") == 0
    await acompletion(**req())  # nothing was stored: a miss
    assert provider.count == 2

    stored = await acompletion(**req(), cache={"no-store": True})  # still reads
    assert provider.count == 2
    assert stored == chat_response("gpt-4o-mini", 2)


async def test_ttl_control_is_float_seconds(cache: Cache, clock: FakeClock) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req(), cache={"ttl": 0.5})
    assert spy(cache).ttls() == [0.5]

    clock.advance(0.49)
    await acompletion(**req())
    assert provider.count == 1  # still fresh at 0.49 s

    clock.advance(0.02)
    await acompletion(**req())
    assert provider.count == 2  # expired at 0.51 s


def test_ttl_control_sync(cache: Cache, clock: FakeClock) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)
    completion(**req(), cache={"ttl": 0.5})
    clock.advance(0.49)
    completion(**req())
    clock.advance(0.02)
    completion(**req())
    assert provider.count == 2


async def test_ttl_zero_stores_nothing(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req(), cache={"ttl": 0})
    await acompletion(**req())
    assert provider.count == 2
    assert spy(cache).ttls() == [None]  # only the second call stored


async def test_s_maxage_rejects_old_entries_and_stores_the_fresh_result(
    cache: Cache, clock: FakeClock, recorder: Recorder
) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    clock.advance(10)

    assert await acompletion(**req(), cache={"s-maxage": 60}) == chat_response("gpt-4o-mini", 1)
    assert provider.count == 1  # 10 s old, 60 accepted

    recorder.events.clear()
    fresh = await acompletion(**req(), cache={"s-maxage": 5})
    assert provider.count == 2  # 10 s old, 5 rejected: a miss
    assert fresh == chat_response("gpt-4o-mini", 2)
    assert recorder.kinds == ["miss", "store"]

    assert await acompletion(**req(), cache={"s-maxage": 5}) == fresh  # the fresh one is stored
    assert provider.count == 2


async def test_s_maxage_zero_accepts_nothing(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    await acompletion(**req(), cache={"s-maxage": 0})
    last = await acompletion(**req(), cache={"s-maxage": 0})
    assert provider.count == 3
    assert await acompletion(**req()) == last  # each fresh result was stored


def test_s_maxage_sync(cache: Cache, clock: FakeClock) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)
    completion(**req())
    clock.advance(10)
    completion(**req(), cache={"s-maxage": 30})
    assert provider.count == 1
    completion(**req(), cache={"s-maxage": 5})
    assert provider.count == 2


async def test_namespace_control_isolates_entries(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req(), cache={"namespace": "team-a"})
    (key,) = spy(cache).raw()
    assert key.startswith("cachekit:v2:team-a:")
    assert key == cache.get_cache_key(**req(), cache={"namespace": "team-a"})

    await acompletion(**req())  # the default namespace has nothing
    assert provider.count == 2
    await acompletion(**req(), cache={"namespace": "team-a"})
    await acompletion(**req(), cache={"namespace": "team-b"})
    assert provider.count == 3


# -- which calls are cached ------------------------------------------------------------


async def test_unsupported_call_type_passes_straight_through(cache: Cache) -> None:
    provider = Provider()
    image = cache.cached("image_generation")(provider.acall)
    await image(prompt="a cat", cache={"ttl": 5})
    await image(prompt="a cat")
    assert provider.count == 2
    assert provider.calls == [{"prompt": "a cat"}, {"prompt": "a cat"}]
    assert spy(cache).ops == []


async def test_supported_call_types_is_honoured(clock: FakeClock) -> None:
    cache = Cache(
        type="spy", plugins=plugin_manager(), clock=clock, supported_call_types=["embedding"]
    )
    chat = Provider()
    acompletion = cache.cached("acompletion")(chat.acall)
    completion = cache.cached("completion")(chat)
    await acompletion(**req())
    await acompletion(**req())
    completion(**req())
    assert chat.count == 3
    assert spy(cache).ops == []

    embedder = Provider(lambda kw, n: {"data": [{"embedding": [n], "index": 0}]})
    embedding = cache.cached("embedding")(embedder)
    embedding(model="e", input="hello")
    embedding(model="e", input="hello")
    assert embedder.count == 1


async def test_sync_and_async_twins_share_entries(cache: Cache) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)
    acompletion = cache.cached("acompletion")(provider.acall)

    first = completion(**req())
    assert await acompletion(**req()) == first
    assert provider.count == 1

    other = await acompletion(**req(temperature=1))
    assert completion(**req(temperature=1)) == other
    assert provider.count == 2


# -- results: dicts, lists, pydantic models ------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        {"id": "x", "choices": [{"message": {"content": "é ✓"}}], "n": 1.5, "ok": True},
        [{"a": 1}, {"b": [1, 2, None]}, "text"],
        "plain text",
    ],
)
async def test_json_results_round_trip(cache: Cache, result: Any) -> None:
    provider = Provider(lambda kw, n: result)
    acompletion = cache.cached("acompletion")(provider.acall)
    assert await acompletion(**req()) == result
    hit = await acompletion(**req())
    assert hit == result
    assert provider.count == 1


async def test_a_pydantic_result_comes_back_as_the_type_the_miss_returned(cache: Cache) -> None:
    provider = Provider(chat_model_response)
    acompletion = cache.cached("acompletion")(provider.acall)  # no type named anywhere
    miss = await acompletion(**req())
    assert isinstance(miss, ChatCompletion)
    hit = await acompletion(**req())
    assert provider.count == 1
    assert type(hit) is ChatCompletion and hit == miss


async def test_without_a_known_type_a_hit_is_the_json_form(cache: Cache) -> None:
    """A fresh wrapper that never saw a miss and names no type: plain JSON data."""
    provider = Provider(chat_model_response)
    miss = await cache.cached("acompletion")(provider.acall)(**req())
    hit = await cache.cached("acompletion")(provider.acall)(**req())
    assert provider.count == 1
    assert hit == miss.model_dump(mode="json")


async def test_response_type_rebuilds_hits_async(cache: Cache) -> None:
    provider = Provider(chat_model_response)
    acompletion = cache.cached("acompletion", response_type=ChatCompletion)(provider.acall)
    miss = await acompletion(**req())
    hit = await acompletion(**req())
    assert provider.count == 1
    assert isinstance(hit, ChatCompletion)
    assert hit == miss
    assert hit is not miss


def test_response_type_rebuilds_hits_sync(cache: Cache) -> None:
    provider = Provider(chat_model_response)
    completion = cache.cached("completion", response_type=ChatCompletion)(provider)
    miss = completion(**req())
    hit = completion(**req())
    assert provider.count == 1
    assert isinstance(hit, ChatCompletion)
    assert hit == miss


async def test_pydantic_return_annotation_rebuilds_hits(cache: Cache) -> None:
    calls = []

    async def acompletion(**kwargs: Any) -> ChatCompletion:
        calls.append(kwargs)
        return chat_model_response(kwargs, len(calls))

    def completion(**kwargs: Any) -> ChatCompletion:
        calls.append(kwargs)
        return chat_model_response(kwargs, len(calls))

    amiss = await cache.cached("acompletion")(acompletion)(**req())
    ahit = await cache.cached("acompletion")(acompletion)(**req())
    shit = cache.cached("completion")(completion)(**req())
    assert len(calls) == 1
    assert isinstance(ahit, ChatCompletion)
    assert isinstance(shit, ChatCompletion)
    assert ahit == amiss == shit


def test_response_type_must_be_a_model(cache: Cache) -> None:
    with pytest.raises(ValueError, match="pydantic model"):
        cache.cached("completion", response_type=dict)(Provider())


# -- keys ------------------------------------------------------------------------------------


async def test_transcription_is_keyed_by_file_content(cache: Cache, tmp_path: Any) -> None:
    provider = Provider(lambda kw, n: {"text": f"transcript {n}"})
    atranscription = cache.cached("atranscription")(provider.acall)
    audio = b"RIFF....WAVEfmt fake audio bytes"

    first = await atranscription(model="whisper-1", file=("meeting.wav", audio))
    again = await atranscription(model="whisper-1", file=("renamed.wav", audio))
    assert again == first
    assert provider.count == 1

    await atranscription(model="whisper-1", file=("meeting.wav", audio + b"!"))
    assert provider.count == 2

    # a file object and a path with the same bytes: hits, and the provider can still read it
    path = tmp_path / "other-name.wav"
    path.write_bytes(audio)
    with path.open("rb") as fh:
        assert await atranscription(model="whisper-1", file=fh) == first
        assert fh.tell() == 0
    assert await atranscription(model="whisper-1", file=str(path)) == first
    assert provider.count == 2


def test_transcription_file_object_is_rewound_for_the_provider(cache: Cache) -> None:
    seen = []

    def transcription(**kwargs: Any) -> Any:
        seen.append(kwargs["file"].read())
        return {"text": "hello"}

    wrapped = cache.cached("transcription")(transcription)
    wrapped(model="whisper-1", file=io.BytesIO(b"audio-bytes"))
    assert seen == [b"audio-bytes"]
    wrapped(model="whisper-1", file=io.BytesIO(b"audio-bytes"))
    assert seen == [b"audio-bytes"]  # a hit


async def test_positional_arguments_are_part_of_the_key(cache: Cache) -> None:
    provider = Provider(lambda kw, n: {"n": n})
    wrapped = cache.cached("acompletion")(provider.acall)
    a1 = await wrapped("alpha", **req())
    b1 = await wrapped("beta", **req())
    a2 = await wrapped("alpha", **req())
    assert provider.args == [("alpha",), ("beta",)]
    assert a1 == a2 != b1


async def test_unkeyable_request_is_an_uncached_call_plus_an_error_event(
    cache: Cache, recorder: Recorder
) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    odd = object()
    await acompletion(**req(), tool_choice=odd)
    await acompletion(**req(), tool_choice=odd)
    assert provider.count == 2
    assert recorder.kinds == ["error", "error"]
    assert isinstance(recorder.events[0].error, ConfigurationError)
    assert cache.stats().errors == 2


# -- lifetimes: per-call ttl -> entry_ttl hook -> Cache(ttl=) -> backend default -> none ----


class EntryTtl:
    def __init__(self, ttl: float | None) -> None:
        self.ttl = ttl
        self.seen: list[tuple[str, dict[str, Any], Any]] = []

    @hookimpl
    def cachekit_entry_ttl(self, call_type: str, params: dict[str, Any], result: Any) -> Any:
        self.seen.append((call_type, params, result))
        return self.ttl


@pytest.mark.parametrize(
    ("per_call", "hook", "cache_ttl", "backend_default", "expected"),
    [
        pytest.param(1.5, 2.5, 3.5, 4.5, 1.5, id="per-call-wins"),
        pytest.param(None, 2.5, 3.5, 4.5, 2.5, id="hook-beats-cache-ttl"),
        pytest.param(None, None, 3.5, 4.5, 3.5, id="cache-ttl-beats-backend-default"),
        pytest.param(None, None, None, 4.5, 4.5, id="backend-default"),
        pytest.param(None, None, None, None, None, id="no-expiry"),
    ],
)
async def test_lifetime_precedence(
    clock: FakeClock,
    per_call: float | None,
    hook: float | None,
    cache_ttl: float | None,
    backend_default: float | None,
    expected: float | None,
) -> None:
    recorder = Recorder()
    cache = Cache(
        type="spy",
        plugins=plugin_manager(EntryTtl(hook), recorder),
        clock=clock,
        ttl=cache_ttl,
        default_in_memory_ttl=backend_default,
    )
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    controls = {} if per_call is None else {"ttl": per_call}

    await acompletion(**req(), cache=controls)

    assert spy(cache).ttls() == [expected]
    assert [e.ttl_s for e in recorder.of("store")] == [expected]
    clock.advance((expected or 1e6) - 0.01)
    await acompletion(**req())
    assert provider.count == 1
    if expected is not None:
        clock.advance(0.02)
        await acompletion(**req())
        assert provider.count == 2


async def test_entry_ttl_hook_sees_family_params_without_credentials(clock: FakeClock) -> None:
    hook = EntryTtl(7.0)
    cache = Cache(type="spy", plugins=plugin_manager(hook), clock=clock)
    provider = Provider()
    await cache.cached("acompletion")(provider.acall)(**req(api_key="sk-abc"))
    ((call_type, params, result),) = hook.seen
    assert call_type == "completion"
    assert params["model"] == "gpt-4o-mini"
    assert "api_key" not in params
    assert result == chat_response("gpt-4o-mini", 1)
    assert spy(cache).ttls() == [7.0]


async def test_bad_entry_ttl_hook_value_is_reported_and_ignored(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="spy", plugins=plugin_manager(EntryTtl(-1.0), recorder), clock=clock, ttl=30)
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    assert recorder.of("error")
    await acompletion(**req())
    assert provider.count == 1
    assert spy(cache).ttls() == [30.0]


def test_negative_cache_ttl_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Cache(ttl=-1, plugins=plugin_manager())


async def test_sync_wrapper_called_from_a_thread_pool(cache: Cache) -> None:
    """The sync face works from worker threads of an async program too."""
    import anyio.to_thread

    provider = Provider()
    completion = cache.cached("completion")(provider)
    first = await anyio.to_thread.run_sync(functools.partial(completion, **req()))
    second = await anyio.to_thread.run_sync(functools.partial(completion, **req()))
    assert first == second
    assert provider.count == 1
