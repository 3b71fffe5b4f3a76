"""Key derivation: canonical, complete (deny-list, not allow-list), collision-free."""

from __future__ import annotations

import enum
import io
import math
from types import MappingProxyType
from typing import Any

import pytest
from cachekit import EXCLUDED_PARAMS, KEY_PREFIX, Cache, ConfigurationError
from cachekit._policy._keys import call_family
from hypothesis import given, settings
from hypothesis import strategies as st

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
param_names = st.text(
    alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12
).filter(lambda n: n not in EXCLUDED_PARAMS and n not in {"file", "cache", "call_type", "model"})


@pytest.fixture(scope="module")
def cache() -> Cache:
    return Cache()


def key(cache: Cache, /, **kwargs: Any) -> str:
    return cache.get_cache_key(**kwargs)


BASE: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    "temperature": 0.2,
}


def test_key_shape_is_namespaced_and_versioned(cache: Cache) -> None:
    k = key(cache, **BASE)
    prefix, version, namespace, family, digest = k.split(":")
    assert (prefix, version, namespace, family) == ("cachekit", "v2", "default", "completion")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert k.startswith(KEY_PREFIX)


def test_namespace_control_and_cache_namespace(cache: Cache) -> None:
    assert ":team-a:" in key(cache, **BASE, cache={"namespace": "team-a"})
    assert ":team-b:" in Cache(namespace="team-b").get_cache_key(**BASE)


@pytest.mark.parametrize("bad", ["a:b", "", "x" * 129, "sp ace", 3])
def test_bad_namespace_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Cache(namespace=bad)  # type: ignore[arg-type]


def test_sync_and_async_twins_share_a_family() -> None:
    assert call_family("acompletion") == call_family("completion") == "completion"
    assert call_family("aembedding") == "embedding"
    assert call_family("atranscription") == "transcription"
    assert call_family("my_custom_call") == "my_custom_call"


def test_call_families_never_share_keys(cache: Cache) -> None:
    assert key(cache, call_type="completion", model="m", input="x") != key(
        cache, call_type="embedding", model="m", input="x"
    )


@given(st.dictionaries(param_names, json_values, max_size=6))
@settings(max_examples=150, deadline=None)
def test_order_none_and_tuple_invariance(params: dict[str, Any]) -> None:
    cache = Cache()
    reordered = dict(reversed(list(params.items())))
    with_nones = {**params, "zzz_unset": None, "aaa_unset": None}

    def tuplify(v: Any) -> Any:
        if isinstance(v, list):
            return tuple(tuplify(x) for x in v)
        if isinstance(v, dict):
            return {k: tuplify(x) for k, x in reversed(list(v.items()))}
        return v

    expected = key(cache, model="m", **params)
    assert key(cache, model="m", **reordered) == expected
    assert key(cache, model="m", **with_nones) == expected
    assert key(cache, model="m", **{k: tuplify(v) for k, v in params.items()}) == expected


@given(st.dictionaries(param_names, json_values, min_size=1, max_size=5), st.data())
@settings(max_examples=150, deadline=None)
def test_any_change_to_an_included_param_changes_the_key(
    params: dict[str, Any], data: st.DataObject
) -> None:
    cache = Cache()
    name = data.draw(st.sampled_from(sorted(params)))
    new = data.draw(json_values.filter(lambda v: v is not None))
    original = params[name]
    if _same_json(original, new):
        return
    assert key(cache, model="m", **params) != key(cache, model="m", **{**params, name: new})


def _same_json(a: Any, b: Any) -> bool:
    """Values the canonical form equates: None-valued dict fields, 1 vs 1.0 at top level."""

    def norm(v: Any, top: bool = False) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items() if x is not None}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if top and type(v) is float and v.is_integer():
            return int(v)
        return (type(v) is bool, v)

    return bool(norm(a, True) == norm(b, True))


@given(st.sampled_from(sorted(EXCLUDED_PARAMS - {"cache", "call_type"})), json_values)
@settings(max_examples=100, deadline=None)
def test_excluded_params_never_change_the_key(name: str, value: Any) -> None:
    cache = Cache()
    assert key(cache, **BASE) == key(cache, **BASE, **{name: value})


@given(st.text(max_size=10), st.text(max_size=10), st.text(max_size=10), st.text(max_size=10))
@settings(max_examples=200, deadline=None)
def test_no_collision_from_crafted_strings(a: str, b: str, c: str, d: str) -> None:
    cache = Cache()
    if (a, b) == (c, d):
        return
    assert key(cache, model=a, prompt=b) != key(cache, model=c, prompt=d)


def test_delimiter_injection_does_not_collide(cache: Cache) -> None:
    # The classic concatenation bug: "ab"+"c" == "a"+"bc".
    assert key(cache, model="ab", prompt="c") != key(cache, model="a", prompt="bc")
    assert key(cache, model='a","prompt":"b', prompt="") != key(cache, model="a", prompt="b")


@pytest.mark.parametrize(
    "param",
    [
        "model",
        "messages",
        "temperature",
        "tools",
        "response_format",
        "seed",
        "reasoning_effort",
        "api_base",
        "base_url",
        "top_p",
        "stream",
        "some_future_provider_param",
    ],
)
def test_answer_changing_params_are_in_the_key(cache: Cache, param: str) -> None:
    assert key(cache, **BASE) != key(cache, **{**BASE, param: "changed-value"})


@pytest.mark.parametrize(
    "param", ["api_key", "timeout", "max_retries", "extra_headers", "metadata", "organization"]
)
def test_transport_and_credentials_are_not(cache: Cache, param: str) -> None:
    assert key(cache, **BASE) == key(cache, **BASE, **{param: "sk-secret-123"})


def test_credentials_never_appear_in_the_key(cache: Cache) -> None:
    assert "sk-secret" not in key(cache, **BASE, api_key="sk-secret-value")


def test_integral_float_equals_int_and_nan_is_rejected(cache: Cache) -> None:
    assert key(cache, model="m", temperature=1.0) == key(cache, model="m", temperature=1)
    assert key(cache, model="m", temperature=0.5) != key(cache, model="m", temperature=1)
    with pytest.raises(ConfigurationError):
        key(cache, model="m", temperature=math.nan)


def test_pydantic_message_equals_its_dict(cache: Cache) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Message(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        role: str
        content: str
        name: str | None = None

    as_model = key(cache, model="m", messages=[Message(role="user", content="hi")])
    assert as_model == key(cache, model="m", messages=[{"role": "user", "content": "hi"}])


def test_unkeyable_value_is_a_clear_error(cache: Cache) -> None:
    with pytest.raises(ConfigurationError, match="cannot derive a cache key"):
        key(cache, model="m", tools=[object()])


def test_transcription_keyed_by_content_not_name(cache: Cache, tmp_path: Any) -> None:
    audio = b"RIFF....WAVEfmt fake audio bytes"
    a = tmp_path / "a.wav"
    b = tmp_path / "b.wav"
    a.write_bytes(audio)
    b.write_bytes(audio)
    k = key(cache, call_type="transcription", model="whisper-1", file=a)
    assert k == key(cache, call_type="transcription", model="whisper-1", file=str(b))
    assert k == key(cache, call_type="transcription", model="whisper-1", file=("x.wav", audio))
    stream = io.BytesIO(audio)
    assert k == key(cache, call_type="transcription", model="whisper-1", file=stream)
    assert stream.tell() == 0  # rewound for the provider
    assert k != key(cache, call_type="transcription", model="whisper-1", file=b"other bytes")


def test_key_params_hook_can_adjust_params() -> None:
    from cachekit import build_plugin_manager, hookimpl

    class DropUser:
        @hookimpl
        def cachekit_key_params(self, call_type: str, params: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in params.items() if k != "user"}

    pm = build_plugin_manager(autoload=False)
    cache = Cache(plugins=pm)
    assert key(cache, **BASE, user="u1") != key(cache, **BASE, user="u2")
    pm.register(DropUser())
    assert key(cache, **BASE, user="u1") == key(cache, **BASE, user="u2")


# -- the key bytes are a contract: pinned for inputs that leave the fast encoding ----------


class _Mode(enum.StrEnum):
    RED = "red"


#: Keys computed before the encoding's fast path existed (cachekit 0.1's derivation);
#: each input exercises one of its fallbacks. A change here changes every stored key:
#: bump the key format version instead.
PINNED: list[tuple[str, dict[str, Any], str]] = [
    (
        "nested None dropped",
        {"model": "m", "messages": [{"role": "user", "content": "hi", "name": None}]},
        "23f4e6a2865a378b283190fd21f0fc0ddbd232aa96d92b81c27f44309c1bd0b5",
    ),
    (
        "list None kept",
        {"model": "m", "stop": [None, "x"]},
        "7a9e5db42492ad531fde9b468f372a0cc6e3517f4d18e30b0737b3e7509bb8b3",
    ),
    (
        "non-str keys",
        {"model": "m", "logit_bias": {50256: -100, 42: 1}},
        "0a7708de170d210c5a6b0eacbfe968e85fd5f0391855400b45ba5ae30336293b",
    ),
    (
        "big int",
        {"model": "m", "seed": 2**70},
        "3abdbbee5d7d4b467ae7cbccbdb9e1dda55248852b27e1df3be22926bd88656e",
    ),
    (
        "lone surrogate",
        {"model": "m", "messages": [{"role": "user", "content": "a\ud800b"}]},
        "4abad3b3e12930285667dc729ee3d8c62f40e6cc2f5514e6a1e9e154dca43af5",
    ),
    (
        "integral float",
        {"model": "m", "temperature": 1.0, "top_p": 0.5, "nested": {"t": 1.0}},
        "b006709de4b1ff558f511f6ba3618d9c0f59813d18f7260b7021a0bd1fddec3a",
    ),
    (
        "mapping with nested None",
        {"model": "m", "extra_body": MappingProxyType({"a": {"b": None}})},
        "f767731dff8889df1d1120fa8304d0cf673950390f6f507f1a65d576a709b839",
    ),
    (
        "str enum",
        {"model": "m", "mode": _Mode.RED, "nested": [{"mode": _Mode.RED}]},
        "4446f06a5d5b46f22dba1175267372db45e0297208ab8a8fa519fd2dd4887f7a",
    ),
    (
        "tuple and set",
        {"model": "m", "stop": ("a", "b"), "tags": frozenset({"y", "x"})},
        "48d02dd5641e384c07ac105167891344888df8776478bcd0ce78e55aad979cc8",
    ),
    (
        "excluded",
        {"model": "m", "api_key": "sk-x", "metadata": {"a": None}, "timeout": object()},
        "abbe903be43a4cdba370876d4e789c3eaeab8f4cdbd1ca8fe6e5693a3a67f402",
    ),
]


@pytest.mark.parametrize(("case", "params", "digest"), PINNED, ids=[c[0] for c in PINNED])
def test_key_bytes_are_pinned(cache: Cache, case: str, params: dict[str, Any], digest: str) -> None:
    assert key(cache, **params) == f"{KEY_PREFIX}default:completion:{digest}"


def test_sdk_sentinels_are_absent(cache: Cache) -> None:
    openai = pytest.importorskip("openai")
    given_ = key(cache, model="m", n=1)
    assert key(cache, model="m", n=1.0, temperature=openai.NOT_GIVEN, top_p=openai.omit) == given_
    assert given_.endswith("8894cf493ea4af08b5597ee2de3b6ceb9a458666846778b23e1bdb016b3bb2d4")
