"""Per-call controls and the TTL policy: validated before I/O, exact precedence."""

from __future__ import annotations

from typing import Any

import pytest
from cachekit import Cache, CacheControls, ConfigurationError
from cachekit._policy._controls import resolve_ttl


@pytest.mark.parametrize(
    "controls",
    [
        {"no-cache": "yes"},
        {"no-store": 1},
        {"ttl": -1},
        {"ttl": "10"},
        {"ttl": True},
        {"s-maxage": -0.1},
        {"namespace": "a:b"},
        {"unknown-control": True},
        {"nocache": True},
        ["no-cache"],
    ],
)
def test_bad_controls_raise_value_error(controls: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each control has its own message
        CacheControls.parse(controls)


def test_controls_parse_exactly() -> None:
    parsed = CacheControls.parse(
        {"no-cache": True, "no-store": False, "ttl": 0.5, "s-maxage": 10, "namespace": "n1"}
    )
    assert parsed == CacheControls(
        no_cache=True, no_store=False, ttl=0.5, s_maxage=10.0, namespace="n1"
    )
    assert CacheControls.parse(None) == CacheControls.parse({}) == CacheControls()


def test_ttl_precedence() -> None:
    assert resolve_ttl(1.5, 2.0, 3.0, 4.0) == 1.5
    assert resolve_ttl(None, 2.0, 3.0, 4.0) == 2.0
    assert resolve_ttl(None, None, 3.0, 4.0) == 3.0
    assert resolve_ttl(None, None, None, 4.0) == 4.0
    assert resolve_ttl(None, None, None, None) is None
    assert resolve_ttl(0.0, 2.0, None, None) == 0.0  # an explicit 0 is kept (do not store)


@pytest.mark.parametrize("bad", [-1, -0.001, "5", float("nan")])
def test_negative_or_bad_ttl_rejected_by_cache_and_aset(bad: Any) -> None:
    with pytest.raises(ValueError, match="ttl"):
        Cache(ttl=bad)
    with pytest.raises(ValueError, match="ttl"):
        Cache().set("k", 1, ttl=bad)


def test_bad_controls_rejected_before_any_io(pm: Any) -> None:
    from cachekit import AsyncBackend, hookimpl

    touched: list[str] = []

    class Tripwire(AsyncBackend):
        async def get(self, key: str) -> bytes | None:
            touched.append("get")
            return None

        async def set(self, key: str, value: bytes, ttl: float | None) -> None:
            touched.append("set")

        async def delete(self, key: str) -> bool:
            touched.append("delete")
            return False

        async def clear(self, prefix: str) -> int:
            return 0

    class Plugin:
        @hookimpl
        def cachekit_register_backends(self, register: Any) -> None:
            register("tripwire", Tripwire)

    pm.register(Plugin())
    cache = Cache("tripwire", plugins=pm)
    with pytest.raises(ConfigurationError):
        cache.get_cache(model="m", messages=[], cache={"ttl": -5})
    with pytest.raises(ConfigurationError):
        cache.add_cache({"r": 1}, model="m", messages=[], cache={"no-store": "no"})
    with pytest.raises(ConfigurationError):
        cache.set("k", 1, ttl=-1)
    assert touched == []
