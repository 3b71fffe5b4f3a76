"""Option parsing: LiteLLM's names, URLs, environment fallbacks, clear errors before I/O.

These tests build backends without touching a server (options are checked in the
constructor; connections open on first use)."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest
from cachekit import Cache, ConfigurationError
from cachekit_redis import RedisBackend, RedisSettings, settings_from_options

SECRET = "pa55-w0rd/with:odd@chars"


def settings(environ: dict[str, str] | None = None, **options: Any) -> RedisSettings:
    return settings_from_options(options, environ or {})


def test_defaults_fail_fast_and_set_no_ttl() -> None:
    s = settings()
    assert (s.mode, s.host, s.port, s.db) == ("standalone", "localhost", 6379, 0)
    assert s.socket_connect_timeout is not None
    assert s.socket_connect_timeout <= 1.0
    assert s.socket_timeout is None  # Cache(timeout=) bounds every operation instead
    assert s.retries <= 1
    assert s.default_ttl is None  # no forced default TTL


def test_litellm_keywords() -> None:
    s = settings(host="redis.internal", port="6380", password=SECRET, default_in_redis_ttl=60)
    assert (s.host, s.port, s.password, s.default_ttl) == ("redis.internal", 6380, SECRET, 60.0)
    assert RedisBackend(host="h", default_in_redis_ttl=1.5).default_ttl == 1.5


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://h:1234/3", {"host": "h", "port": 1234, "db": 3, "ssl": False}),
        ("redis://h", {"host": "h", "port": 6379, "db": 0}),
        ("rediss://user:pw@h:6390/1", {"ssl": True, "username": "user", "password": "pw", "db": 1}),
        ("redis://[::1]:7000/0", {"host": "::1", "port": 7000}),
        ("unix:///run/redis.sock?db=2", {"unix_socket_path": "/run/redis.sock", "db": 2}),
        (
            "redis://h/0?socket_timeout=0.2&max_connections=20&health_check_interval=5&retries=0",
            {
                "socket_timeout": 0.2,
                "max_connections": 20,
                "health_check_interval": 5.0,
                "retries": 0,
            },
        ),
        ("rediss://h?ssl_cert_reqs=none&ssl_check_hostname=false", {"ssl": True}),
    ],
)
def test_standalone_urls(url: str, expected: dict[str, Any]) -> None:
    s = settings(url=url)
    assert s.mode == "standalone"
    for name, value in expected.items():
        assert getattr(s, name) == value, name


def test_url_percent_decodes_credentials() -> None:
    s = settings(url="redis://me:pa55-w0rd%2Fwith%3Aodd%40chars@h:1/0")
    assert (s.username, s.password) == ("me", SECRET)


def test_ssl_options_are_passed_and_imply_tls() -> None:
    s = settings(host="h", ssl_ca_certs="/etc/ca.pem", ssl_cert_reqs="required")
    assert s.ssl is True
    assert dict(s.ssl_options) == {"ssl_ca_certs": "/etc/ca.pem", "ssl_cert_reqs": "required"}


def test_cluster_from_litellm_startup_nodes() -> None:
    s = settings(redis_startup_nodes=[{"host": "a", "port": 7000}, {"host": "b", "port": "7001"}])
    assert (s.mode, s.nodes) == ("cluster", (("a", 7000), ("b", 7001)))
    assert settings(startup_nodes=["a:7000", ("b", 7001)]).nodes == (("a", 7000), ("b", 7001))


def test_cluster_url() -> None:
    s = settings(url="redis+cluster://:pw@a:7000,b:7001,[::1]:7002?max_connections=8")
    assert s.mode == "cluster"
    assert s.nodes == (("a", 7000), ("b", 7001), ("::1", 7002))
    assert (s.password, s.max_connections) == ("pw", 8)
    assert settings(url="rediss+cluster://a:7000").ssl is True


def test_sentinel_options_and_url() -> None:
    s = settings(
        sentinel_nodes=[("s1", 26379), ("s2", "26380")],
        service_name="mymaster",
        sentinel_password="sentinel-pw",
        password="master-pw",
    )
    assert (s.mode, s.nodes, s.service_name) == (
        "sentinel",
        (("s1", 26379), ("s2", 26380)),
        "mymaster",
    )
    assert (s.sentinel_password, s.password) == ("sentinel-pw", "master-pw")
    u = settings(url="redis+sentinel://:master-pw@s1,s2:26380/mymaster/2?sentinel_password=x")
    assert (u.nodes, u.service_name, u.db) == ((("s1", 26379), ("s2", 26380)), "mymaster", 2)
    assert (u.password, u.sentinel_password) == ("master-pw", "x")


# -- environment fallbacks, as LiteLLM reads them -------------------------------------
def test_env_host_port_password() -> None:
    env = {"REDIS_HOST": "envhost", "REDIS_PORT": "6400", "REDIS_PASSWORD": "envpw"}
    s = settings(env)
    assert (s.host, s.port, s.password) == ("envhost", 6400, "envpw")


def test_env_url_wins_over_env_host() -> None:
    env = {"REDIS_URL": "rediss://u:p@urlhost:1/4", "REDIS_HOST": "envhost", "REDIS_PORT": "2"}
    s = settings(env)
    assert (s.host, s.port, s.db, s.ssl, s.password) == ("urlhost", 1, 4, True, "p")


def test_explicit_options_win_over_environment() -> None:
    env = {"REDIS_URL": "redis://urlhost:1", "REDIS_PASSWORD": "envpw"}
    s = settings(env, host="explicit", password="mine")
    assert (s.host, s.port, s.password) == ("explicit", 6379, "mine")
    assert settings(env, url="redis://other:2").host == "other"


def test_env_password_fills_a_url_without_one() -> None:
    s = settings({"REDIS_PASSWORD": "envpw", "REDIS_USERNAME": "envuser"}, url="redis://h:1")
    assert (s.password, s.username) == ("envpw", "envuser")
    assert settings({"REDIS_PASSWORD": "envpw"}, url="redis://:urlpw@h:1").password == "urlpw"


def test_env_cluster_and_sentinel() -> None:
    cluster = settings({"REDIS_CLUSTER_NODES": '[{"host": "a", "port": 7000}]'})
    assert (cluster.mode, cluster.nodes) == ("cluster", (("a", 7000),))
    sentinel = settings(
        {
            "REDIS_SENTINEL_NODES": '[["s1", 26379]]',
            "REDIS_SERVICE_NAME": "svc",
            "REDIS_SENTINEL_PASSWORD": "spw",
        }
    )
    assert (sentinel.mode, sentinel.service_name, sentinel.sentinel_password) == (
        "sentinel",
        "svc",
        "spw",
    )


def test_real_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "from-env")
    monkeypatch.setenv("REDIS_PORT", "6501")
    assert RedisBackend().settings.host == "from-env"
    assert RedisBackend().settings.port == 6501


# -- through the core ---------------------------------------------------------------
def test_cache_from_url_passes_the_url_and_keeps_core_options(pm: pluggy.PluginManager) -> None:
    cache = Cache.from_url(
        "redis://:pw@127.0.0.1:6999/5?namespace=team-a&ttl=30&socket_timeout=0.25", plugins=pm
    )
    backend = cache.backend
    assert isinstance(backend, RedisBackend)
    assert (cache.namespace, cache.ttl) == ("team-a", 30.0)
    assert (backend.settings.port, backend.settings.db, backend.settings.socket_timeout) == (
        6999,
        5,
        0.25,
    )


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
        "redis+sentinel://127.0.0.1:26379/mymaster",
        "unix:///tmp/redis.sock",
    ],
)
def test_cache_from_url_other_schemes(pm: pluggy.PluginManager, url: str) -> None:
    assert isinstance(Cache.from_url(url, plugins=pm).backend, RedisBackend)


def test_cache_litellm_style(pm: pluggy.PluginManager) -> None:
    cache = Cache(type="redis", host="127.0.0.1", port=6999, password="x", plugins=pm)
    assert isinstance(cache.backend, RedisBackend)
    assert cache.backend.settings.port == 6999


# -- errors, before any I/O, without echoing secrets ---------------------------------
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"port": 0}, "port"),
        ({"port": "http"}, "port"),
        ({"port": 70000}, "port"),
        ({"url": "http://h"}, "scheme"),
        ({"url": "h:6379"}, "url"),
        ({"url": "redis://h/0?bogus=1"}, "bogus"),
        ({"url": "redis://h", "host": "h"}, "host/port"),
        ({"url": "redis://h", "startup_nodes": ["a:1"]}, "only one"),
        ({"startup_nodes": []}, "startup_nodes"),
        ({"startup_nodes": "[not json"}, "JSON"),
        ({"startup_nodes": [{"port": 1}]}, "node"),
        ({"url": "redis+cluster://a:1/2"}, "database"),
        ({"startup_nodes": ["a:1"], "db": 1}, "database 0"),
        ({"sentinel_nodes": [("s", 1)]}, "service_name"),
        ({"service_name": "svc"}, "sentinel"),
        ({"url": "unix://"}, "socket path"),
        ({"socket_timeout": 0}, "socket_timeout"),
        ({"socket_timeout": -1}, "socket_timeout"),
        ({"default_in_redis_ttl": 0}, "default_in_redis_ttl"),
        ({"max_connections": 0}, "max_connections"),
        ({"retries": 50}, "retries"),
        ({"ssl": "maybe"}, "ssl"),
        ({"host": ""}, "host"),
    ],
)
def test_bad_options_raise_configuration_error(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        RedisBackend(**options)


def test_unknown_keyword_is_named(pm: pluggy.PluginManager) -> None:
    with pytest.raises(ConfigurationError, match="hots"):
        Cache(type="redis", hots="typo", plugins=pm)


def test_secrets_are_never_echoed() -> None:
    backend = RedisBackend(
        url=f"redis://user:{SECRET.replace('/', '%2F').replace(':', '%3A').replace('@', '%40')}@h:1/0"
    )
    assert backend.settings.password == SECRET
    for text in (repr(backend), repr(backend.settings), backend.settings.describe()):
        assert SECRET not in text
        assert "pa55" not in text
    with pytest.raises(ConfigurationError) as info:
        RedisBackend(password=123)  # type: ignore[arg-type]
    assert "123" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        RedisBackend(url="redis://:hunter2@h/0?what=ever")
    assert "hunter2" not in str(info.value)


def test_redis_flush_size_is_accepted_for_litellm_compatibility() -> None:
    assert RedisBackend(host="h", redis_flush_size=100).settings.host == "h"
