"""The entry format: versioned JSON, never pickle; anything else is a miss + error event."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from cachekit import Cache, EntryError, hookimpl
from cachekit._policy._envelope import decode_entry, encode_entry


def test_round_trip_fields() -> None:
    raw = encode_entry(
        {"a": [1, 2.5, None]},
        call_type="completion",
        created_at=100.0,
        ttl=0.5,
        meta={"stream": True},
    )
    header, value = raw.split(b"\n", 1)
    assert json.loads(header) == ["cachekit/2", 100.0, 100.5, "completion", {"stream": True}]
    assert json.loads(value) == {"a": [1, 2.5, None]}
    entry = decode_entry(raw)
    assert (entry.value, entry.created_at, entry.expires_at, entry.call_type, entry.meta) == (
        {"a": [1, 2.5, None]},
        100.0,
        100.5,
        "completion",
        {"stream": True},
    )
    assert not entry.expired(100.499) and entry.expired(100.5)


def test_pydantic_value_stored_as_json_with_type_name() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        text: str

    entry = decode_entry(encode_entry(Answer(text="hi"), call_type="kv", created_at=1.0, ttl=None))
    assert entry.value == {"text": "hi"}
    assert entry.meta is not None and entry.meta["model"].endswith("Answer")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'["cachekit/2", 1.0, null, "kv", null',  # truncated header
        b'["cachekit/1", 1.0, null, "kv", null, 1]',  # the previous format
        b'["cachekit/3", 1.0, null, "kv", null]\n1',  # another version
        b'["cachekit/2", "yesterday", null, "kv", null]\n1',
        b'["cachekit/2", NaN, null, "kv", null]\n1',  # not JSON, and not a time
        b'["cachekit/2", 1.0, 1e999, "kv", null]\n1',  # not finite
        b'{"value": 1}\n1',  # foreign JSON
        b'["cachekit/2", 1.0, null, "kv", null] trailing\n1',
        b"\xff\xfe\x00garbage",
        pickle.dumps({"value": 1}),
    ],
)
def test_foreign_or_corrupt_bytes_raise_entry_error(raw: bytes) -> None:
    with pytest.raises(EntryError):
        decode_entry(raw)


@pytest.mark.parametrize(
    "payload",
    [b"1 trailing", b"", b"[" * 2000 + b"]" * 2000, b"\xff"],
    ids=["trailing", "empty", "deep", "not-utf8"],
)
def test_a_corrupt_value_raises_entry_error_when_read(payload: bytes) -> None:
    entry = decode_entry(b'["cachekit/2", 1.0, null, "kv", null]\n' + payload)
    with pytest.raises(EntryError):
        entry.value  # noqa: B018


def test_values_orjson_cannot_write_round_trip_through_the_fallback() -> None:
    value = {"big": 2**70, "surrogate": "a\ud800b", "nested": [1, {"x": None}]}
    entry = decode_entry(encode_entry(value, call_type="kv", created_at=1.0, ttl=None))
    assert entry.value == value


def test_a_value_nested_too_deep_is_refused_before_any_io() -> None:
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        encode_entry(deep, call_type="kv", created_at=1.0, ttl=None)


def test_unserialisable_value_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode_entry(object(), call_type="kv", created_at=1.0, ttl=None)


UNPICKLED: list[str] = []


def _record_unpickling() -> None:  # pragma: no cover - must never run
    UNPICKLED.append("code ran")


class _Payload:
    """Pickles fine; unpickling it would run ``_record_unpickling``."""

    def __reduce__(self) -> Any:
        return (_record_unpickling, ())


def test_corrupt_entry_is_a_miss_with_an_error_event(pm: Any) -> None:
    errors: list[Any] = []

    class Observer:
        @hookimpl
        def cachekit_on_error(self, event: Any) -> None:
            errors.append(event)

    pm.register(Observer())
    cache = Cache(plugins=pm)
    cache.set("k", "good")
    skey = "cachekit:v2:default:k"
    cache._engine.run(cache.backend.set(skey, pickle.dumps(_Payload()), None))
    assert cache.get("k") is None
    assert len(errors) == 1 and isinstance(errors[0].error, EntryError)
    assert errors[0].key == skey
    assert cache.stats().errors == 1
    assert UNPICKLED == []
