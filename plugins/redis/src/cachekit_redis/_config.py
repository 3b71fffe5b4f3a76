"""Options → :class:`RedisSettings`: validated before any I/O, LiteLLM's names.

Where the connection target comes from, first match wins:

1. explicit options: ``url`` (``redis://``, ``rediss://``, ``unix://``,
   ``redis+cluster://``, ``redis+sentinel://``), ``startup_nodes`` /
   ``redis_startup_nodes`` (Cluster), ``sentinel_nodes`` + ``service_name``
   (Sentinel), or ``host``/``port``;
2. the environment, as LiteLLM reads it: ``REDIS_URL``, ``REDIS_CLUSTER_NODES``
   (JSON list of ``{"host", "port"}``), ``REDIS_SENTINEL_NODES`` (JSON list of
   ``[host, port]``) + ``REDIS_SERVICE_NAME``, ``REDIS_HOST``/``REDIS_PORT``;
3. ``localhost:6379``.

Credentials and TLS fill in the same way: an explicit option beats the URL, which
beats ``REDIS_PASSWORD``/``REDIS_USERNAME``/``REDIS_SSL``/``REDIS_SENTINEL_PASSWORD``.
Passwords are kept out of ``repr`` and out of every error message.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from cachekit import ConfigurationError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_HEALTH_CHECK_INTERVAL",
    "DEFAULT_RETRIES",
    "DEFAULT_SOCKET_TIMEOUT",
    "RedisSettings",
    "settings_from_options",
]

Mode = Literal["standalone", "cluster", "sentinel"]
Node = tuple[str, int]

#: Fail fast: a dead Redis must cost at most the core's per-operation timeout.
DEFAULT_CONNECT_TIMEOUT = 0.5
#: No per-socket read/write timeout by default: ``Cache(timeout=)`` already bounds
#: every operation, and redis-py's socket timeout costs two timers (one of them a
#: Task) per command, about a tenth of a local round trip. Set it when using the
#: backend without a ``Cache`` timeout.
DEFAULT_SOCKET_TIMEOUT: float | None = None
#: One immediate retry (no backoff): a pooled connection that died while Redis
#: restarted is replaced on the same call instead of failing it.
DEFAULT_RETRIES = 1
#: PING a connection idle for this long before reusing it.
DEFAULT_HEALTH_CHECK_INTERVAL = 30.0

_SSL_OPTIONS = (
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
)
_BOOL_OPTIONS = frozenset({"ssl", "ssl_check_hostname", "coalesce_reads"})
_INT_OPTIONS = frozenset({"db", "max_connections", "retries", "scan_count", "redis_flush_size"})
_FLOAT_OPTIONS = frozenset(
    {"socket_timeout", "socket_connect_timeout", "health_check_interval", "default_in_redis_ttl"}
)
_POSITIVE_OPTIONS = frozenset({"socket_timeout", "socket_connect_timeout", "default_in_redis_ttl"})
#: Query parameters a URL may carry (the core already took namespace/ttl/timeout).
_URL_OPTIONS = frozenset(
    {
        "db",
        "username",
        "password",
        "ssl",
        "max_connections",
        "socket_timeout",
        "socket_connect_timeout",
        "health_check_interval",
        "retries",
        "client_name",
        "default_in_redis_ttl",
        "scan_count",
        "coalesce_reads",
        "service_name",
        "sentinel_username",
        "sentinel_password",
        *_SSL_OPTIONS,
    }
)
_SCHEMES = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
}


@dataclass(frozen=True)
class RedisSettings:
    """Everything needed to build a client; immutable and safe to print."""

    mode: Mode = "standalone"
    host: str = "localhost"
    port: int = 6379
    unix_socket_path: str | None = None
    #: Cluster startup nodes or Sentinel nodes.
    nodes: tuple[Node, ...] = ()
    service_name: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False
    ssl_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    max_connections: int | None = None
    socket_timeout: float | None = DEFAULT_SOCKET_TIMEOUT
    socket_connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    health_check_interval: float = DEFAULT_HEALTH_CHECK_INTERVAL
    retries: int = DEFAULT_RETRIES
    client_name: str | None = None
    scan_count: int = 1000
    coalesce_reads: bool = True
    default_ttl: float | None = None

    def describe(self) -> str:
        """Where this points, without credentials (for errors and ``repr``)."""
        scheme = "rediss" if self.ssl else "redis"
        if self.mode == "cluster":
            return f"{scheme}+cluster://{_join_nodes(self.nodes)}"
        if self.mode == "sentinel":
            return f"{scheme}+sentinel://{_join_nodes(self.nodes)}/{self.service_name}/{self.db}"
        if self.unix_socket_path is not None:
            return f"unix://{self.unix_socket_path}?db={self.db}"
        return f"{scheme}://{_host_text(self.host)}:{self.port}/{self.db}"


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _join_nodes(nodes: tuple[Node, ...]) -> str:
    return ",".join(f"{_host_text(h)}:{p}" for h, p in nodes)


def _fail(message: str) -> ConfigurationError:
    return ConfigurationError(f"redis backend: {message}")


# -- scalar coercion -----------------------------------------------------------------
def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
    raise _fail(f"{name} must be true or false, got {value!r}")


def _as_int(name: str, value: Any, *, minimum: int = 0) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    if number is None or number < minimum:
        raise _fail(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def _as_float(name: str, value: Any, *, positive: bool = False) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0 or (positive and number == 0):
        kind = "a positive" if positive else "a non-negative"
        raise _fail(f"{name} must be {kind} number of seconds, got {value!r}")
    return number


def _as_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        # Never echo the value: this may be a password.
        raise _fail(f"{name} must be a non-empty string")
    return value


def _as_port(name: str, value: Any) -> int:
    port: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value)
    if port is None or not 1 <= port <= 65535:
        raise _fail(f"{name} must be an integer TCP port (1-65535), got {value!r}")
    return port


def _coerce(name: str, value: Any) -> Any:
    """Coerce one scalar option (from a keyword or a URL query) to its type."""
    if name in _BOOL_OPTIONS:
        return _as_bool(name, value)
    if name in _INT_OPTIONS:
        return _as_int(name, value, minimum=1 if name in ("max_connections", "scan_count") else 0)
    if name in _FLOAT_OPTIONS:
        return _as_float(name, value, positive=name in _POSITIVE_OPTIONS)
    if name == "ssl_min_version":
        return value
    return _as_str(name, value)


# -- nodes -----------------------------------------------------------------------
def _parse_node(text: str, default_port: int, what: str) -> Node:
    text = text.strip()
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise _fail(f"{what}: a node has no host in {text!r}")
    return unquote(host), _as_port(f"the port in {what}", port_text) if port_text else default_port


def _nodes(value: Any, what: str, default_port: int) -> tuple[Node, ...]:
    """Accept ``[{"host": h, "port": p}]``, ``[(h, p)]``, ``["h:p"]``, ``"h:p,h:p"`` or JSON."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except ValueError:
                raise _fail(f"{what} is not valid JSON") from None
        else:
            value = [part for part in stripped.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise _fail(f"{what} must be a non-empty list of nodes, got {value!r}")
    nodes: list[Node] = []
    for item in value:
        if isinstance(item, str):
            nodes.append(_parse_node(item, default_port, what))
        elif isinstance(item, Mapping) and "host" in item:
            host = _as_str(f"{what} host", item["host"])
            nodes.append((host, _as_port(f"{what} port", item.get("port", default_port))))
        elif isinstance(item, list | tuple) and len(item) == 2:
            nodes.append((_as_str(f"{what} host", item[0]), _as_port(f"{what} port", item[1])))
        else:
            raise _fail(f"{what}: cannot read node {item!r} (use {{'host': h, 'port': p}})")
    return tuple(nodes)


# -- URLs --------------------------------------------------------------------------
def _parse_url(url: str) -> dict[str, Any]:
    """Split a Redis URL into options (the same names as the keywords)."""
    if isinstance(url, str) and url[:5].lower() == "unix:" and url[5:7] != "//":
        url = "unix://" + url[5:]  # unix:/path, as urllib writes unix:///path back
    if not isinstance(url, str) or "://" not in url:
        raise _fail("url must look like redis://host:port/db")
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise _fail(f"unsupported URL scheme {scheme!r}; use one of {', '.join(_SCHEMES)}")
    mode, tls = _SCHEMES[scheme]
    parts = urlsplit("x://" + rest)  # a neutral scheme so any netloc parses
    out: dict[str, Any] = {"mode": mode}
    if tls:
        out["ssl"] = True
    netloc = parts.netloc
    userinfo, at, hostinfo = netloc.rpartition("@")
    if not at:
        userinfo, hostinfo = "", netloc
    if userinfo:
        user, colon, password = userinfo.partition(":")
        if user:
            out["username"] = unquote(user)
        if colon and password:
            out["password"] = unquote(password)
    path = unquote(parts.path)
    if scheme == "unix":
        if not path:
            raise _fail("unix:// URL needs a socket path: unix:///path/to/redis.sock")
        out["unix_socket_path"] = path
    elif mode == "standalone":
        if hostinfo:
            host, port = _parse_node(hostinfo, 6379, "url")
            out["host"], out["port"] = host, port
        if path.strip("/"):
            out["db"] = path.strip("/")
    elif mode == "cluster":
        if not hostinfo:
            raise _fail("redis+cluster:// URL needs at least one node: redis+cluster://h1:p1,h2:p2")
        out["nodes"] = _nodes(hostinfo, "url", 6379)
        if path.strip("/"):
            raise _fail("redis+cluster:// URLs take no database path (Cluster has only db 0)")
    else:  # sentinel: redis+sentinel://[user:pw@]s1:26379,s2:26379/service[/db]
        if not hostinfo:
            raise _fail("redis+sentinel:// URL needs sentinel nodes: redis+sentinel://h:26379/name")
        out["nodes"] = _nodes(hostinfo, "url", 26379)
        segments = [s for s in path.split("/") if s]
        if len(segments) > 2:
            raise _fail("redis+sentinel:// URL path is /service_name[/db]")
        if segments:
            out["service_name"] = segments[0]
        if len(segments) == 2:
            out["db"] = segments[1]
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _URL_OPTIONS:
            allowed = ", ".join(sorted(_URL_OPTIONS))
            raise _fail(f"unknown URL option {name!r}; known: {allowed}")
        out[name] = value
    return out


# -- the entry point -------------------------------------------------------------------
def settings_from_options(
    options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> RedisSettings:
    """Build :class:`RedisSettings` from backend options (``None`` = not given) and the
    environment. Raises :class:`cachekit.ConfigurationError`; does no I/O."""
    env = os.environ if environ is None else environ
    given = {k: v for k, v in options.items() if v is not None}
    cluster_nodes = given.pop("startup_nodes", None)
    legacy_nodes = given.pop("redis_startup_nodes", None)
    if cluster_nodes is not None and legacy_nodes is not None:
        raise _fail("give startup_nodes or redis_startup_nodes, not both")
    cluster_nodes = cluster_nodes if cluster_nodes is not None else legacy_nodes
    sentinel_nodes = given.pop("sentinel_nodes", None)
    url = given.pop("url", None)

    explicit_targets = [
        name
        for name, present in (
            ("url", url is not None),
            ("startup_nodes", cluster_nodes is not None),
            ("sentinel_nodes", sentinel_nodes is not None),
        )
        if present
    ]
    if len(explicit_targets) > 1:
        raise _fail(f"give only one of {', '.join(explicit_targets)}")
    if explicit_targets and ("host" in given or "port" in given):
        raise _fail(f"host/port cannot be combined with {explicit_targets[0]}")

    target: dict[str, Any] = {}
    if url is not None:
        target = _parse_url(url)
    elif cluster_nodes is not None:
        target = {"mode": "cluster", "nodes": _nodes(cluster_nodes, "startup_nodes", 6379)}
    elif sentinel_nodes is not None:
        target = {"mode": "sentinel", "nodes": _nodes(sentinel_nodes, "sentinel_nodes", 26379)}
    elif "host" not in given and "port" not in given:
        target = _target_from_env(env)

    # Explicit keyword options beat what the URL (or environment target) said.
    merged: dict[str, Any] = {**target, **given}
    if "password" not in merged and env.get("REDIS_PASSWORD"):
        merged["password"] = env["REDIS_PASSWORD"]
    if "username" not in merged and env.get("REDIS_USERNAME"):
        merged["username"] = env["REDIS_USERNAME"]
    if "ssl" not in merged and env.get("REDIS_SSL"):
        merged["ssl"] = env["REDIS_SSL"]
    if "sentinel_password" not in merged and env.get("REDIS_SENTINEL_PASSWORD"):
        merged["sentinel_password"] = env["REDIS_SENTINEL_PASSWORD"]
    sentinel = merged.get("mode") == "sentinel"
    if sentinel and "service_name" not in merged and env.get("REDIS_SERVICE_NAME"):
        merged["service_name"] = env["REDIS_SERVICE_NAME"]
    return _build(merged)


def _target_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    if env.get("REDIS_URL"):
        return _parse_url(env["REDIS_URL"])
    if env.get("REDIS_CLUSTER_NODES"):
        return {
            "mode": "cluster",
            "nodes": _nodes(env["REDIS_CLUSTER_NODES"], "REDIS_CLUSTER_NODES", 6379),
        }
    if env.get("REDIS_SENTINEL_NODES"):
        nodes = _nodes(env["REDIS_SENTINEL_NODES"], "REDIS_SENTINEL_NODES", 26379)
        return {"mode": "sentinel", "nodes": nodes}
    target: dict[str, Any] = {}
    if env.get("REDIS_HOST"):
        target["host"] = env["REDIS_HOST"]
    if env.get("REDIS_PORT"):
        target["port"] = env["REDIS_PORT"]
    if env.get("REDIS_DB"):
        target["db"] = env["REDIS_DB"]
    return target


def _build(raw: dict[str, Any]) -> RedisSettings:
    mode: Mode = raw.pop("mode", "standalone")
    kwargs: dict[str, Any] = {"mode": mode}
    host = raw.pop("host", None)
    port = raw.pop("port", None)
    if host is not None:
        kwargs["host"] = _as_str("host", host)
    if port is not None:
        kwargs["port"] = _as_port("port", port)
    if "unix_socket_path" in raw:
        kwargs["unix_socket_path"] = raw.pop("unix_socket_path")
    if "nodes" in raw:
        kwargs["nodes"] = raw.pop("nodes")
    ssl_options = {name: _coerce(name, raw.pop(name)) for name in _SSL_OPTIONS if name in raw}
    raw.pop("redis_flush_size", None)  # LiteLLM's write buffer; cachekit never buffers
    renames = {"default_in_redis_ttl": "default_ttl"}
    for name, value in raw.items():
        kwargs[renames.get(name, name)] = _coerce(name, value)
    if ssl_options:
        kwargs["ssl_options"] = ssl_options
    if not kwargs.get("ssl") and any(k != "ssl_check_hostname" for k in ssl_options):
        kwargs["ssl"] = True  # giving certificates means TLS
    settings = RedisSettings(**kwargs)
    _check(settings)
    return settings


def _check(s: RedisSettings) -> None:
    if s.mode == "cluster":
        if s.db != 0:
            raise _fail("Redis Cluster has only database 0")
        if s.unix_socket_path is not None:
            raise _fail("Redis Cluster cannot use a unix socket")
    if s.mode == "sentinel" and not s.service_name:
        raise _fail("Sentinel needs service_name (the monitored master's name)")
    if s.mode != "sentinel" and (s.service_name or s.sentinel_password or s.sentinel_username):
        raise _fail(
            "service_name/sentinel_* options need sentinel_nodes or a redis+sentinel:// URL"
        )
    if s.unix_socket_path is not None and s.ssl:
        raise _fail("TLS is not available over a unix socket")
    if s.retries > 10:
        raise _fail("retries above 10 would defeat failing fast; use 0-10")
