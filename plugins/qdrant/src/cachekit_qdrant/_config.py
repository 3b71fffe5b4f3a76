"""Options → :class:`QdrantSettings`, validated before any I/O (LiteLLM's names).

Where the points live, first match wins:

1. ``qdrant_api_base`` (or ``qdrant_location`` holding an ``http(s)://`` URL, or a
   ``qdrant-semantic://host:port/collection`` URL from ``Cache.from_url``): a Qdrant
   server, with ``qdrant_api_key`` when it needs one;
2. ``qdrant_path``: qdrant-client's embedded local mode persisted in that directory;
3. otherwise the embedded local mode in memory (``qdrant_location=":memory:"``).

``qdrant_quantization_config`` is ``None`` (no quantization), ``"binary"``,
``"scalar"`` or ``"product"`` (LiteLLM's three presets, see :func:`quantization`) or
a qdrant-client quantization model passed through. It applies when cachekit creates
the vector collection on a server; local mode has no quantization and ignores it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cachekit import ConfigurationError
from qdrant_client import models

__all__ = ["DEFAULT_COLLECTION", "QdrantSettings", "quantization", "settings_from_options"]

DEFAULT_COLLECTION = "cachekit"
MEMORY = ":memory:"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")
_PRESETS = ("binary", "scalar", "product")
_QUANTIZATION_MODELS = (
    models.BinaryQuantization,
    models.ScalarQuantization,
    models.ProductQuantization,
)


def _fail(message: str) -> ConfigurationError:
    return ConfigurationError(f"qdrant-semantic backend: {message}")


@dataclass(frozen=True)
class QdrantSettings:
    """Everything needed to reach Qdrant; immutable, and safe to print."""

    #: ``http(s)://host:port`` of a server, or ``None`` for local mode.
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    #: Local mode: ``":memory:"`` or a directory.
    location: str = MEMORY
    collection: str = DEFAULT_COLLECTION
    quantization: Any = None
    timeout: int | None = None
    #: Seconds between sweeps that delete expired points (at most one per interval).
    purge_interval: float = 60.0

    @property
    def local(self) -> bool:
        return self.api_base is None

    @property
    def values_collection(self) -> str:
        """The payload-only collection that holds the entries' bytes."""
        return f"{self.collection}_values"

    def describe(self) -> str:
        """Where this points, without credentials."""
        where = self.api_base if self.api_base is not None else f"local {self.location}"
        return f"{where} collection={self.collection}"


def quantization(preset: Any) -> Any:
    """``"binary"``/``"scalar"``/``"product"`` → qdrant-client's config (LiteLLM's presets:
    binary; scalar int8 at the 0.99 quantile; product x16; none forced into RAM)."""
    if preset is None or isinstance(preset, _QUANTIZATION_MODELS):
        return preset
    if preset == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=False))
    if preset == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=False
            )
        )
    if preset == "product":
        return models.ProductQuantization(
            product=models.ProductQuantizationConfig(
                compression=models.CompressionRatio.X16, always_ram=False
            )
        )
    raise _fail(
        f"qdrant_quantization_config must be one of {', '.join(_PRESETS)} "
        f"(or a qdrant_client.models quantization config), got {preset!r}"
    )


def _http_url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise _fail(f"{name} must be an http:// or https:// URL")
    return value.rstrip("/")


def _parse_url(url: str) -> dict[str, Any]:
    """``qdrant-semantic://`` (memory), ``qdrant-semantic:///dir`` (local path) or
    ``qdrant-semantic://host:port[/collection][?https=true&api_key=…]`` (a server)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "qdrant-semantic":
        raise _fail("url must look like qdrant-semantic://host:6333/collection")
    if rest in ("", MEMORY, "/" + MEMORY):
        return {}
    parts = urlsplit("x://" + rest)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    out: dict[str, Any] = {}
    if not parts.netloc:
        out["qdrant_path"] = unquote(parts.path)
    else:
        https = query.pop("https", "false").lower() in ("1", "true", "yes", "on")
        out["qdrant_api_base"] = f"{'https' if https else 'http'}://{parts.netloc}"
        collection = unquote(parts.path).strip("/")
        if collection:
            out["qdrant_collection_name"] = collection
    for name, value in query.items():
        key = name if name.startswith("qdrant_") else f"qdrant_{name}"
        if key not in ("qdrant_api_key", "qdrant_collection_name", "qdrant_timeout"):
            raise _fail(f"unknown URL option {name!r}")
        out[key] = value
    return out


def settings_from_options(options: dict[str, Any]) -> QdrantSettings:
    """Validate the factory's keyword options (``None`` means not given)."""
    given = {k: v for k, v in options.items() if v is not None}
    url = given.pop("url", None)
    if url is not None:
        for key, value in _parse_url(url).items():
            given.setdefault(key, value)
    api_base = given.pop("qdrant_api_base", None)
    location = given.pop("qdrant_location", None)
    path = given.pop("qdrant_path", None)
    if isinstance(location, str) and location.startswith(("http://", "https://")):
        if api_base is not None:
            raise _fail("give qdrant_api_base or an http(s) qdrant_location, not both")
        api_base, location = location, None
    targets = [
        n for n, v in (("qdrant_api_base", api_base), ("qdrant_path", path)) if v is not None
    ]
    if location is not None:
        targets.append("qdrant_location")
    if len(targets) > 1:
        raise _fail(f"give only one of {', '.join(targets)}")
    kwargs: dict[str, Any] = {}
    if api_base is not None:
        kwargs["api_base"] = _http_url(api_base, "qdrant_api_base")
    elif path is not None:
        if not isinstance(path, str) or not path:
            raise _fail("qdrant_path must be a directory path")
        kwargs["location"] = path
    elif location is not None and location != MEMORY:
        raise _fail(f"qdrant_location must be {MEMORY!r} or an http(s):// URL, got {location!r}")
    api_key = given.pop("qdrant_api_key", None)
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key:
            raise _fail("qdrant_api_key must be a non-empty string")  # never echo it
        if api_base is None:
            raise _fail("qdrant_api_key needs a server (qdrant_api_base)")
        kwargs["api_key"] = api_key
    collection = given.pop("qdrant_collection_name", DEFAULT_COLLECTION)
    if not isinstance(collection, str) or not _NAME.fullmatch(collection):
        raise _fail(
            f"qdrant_collection_name must be 1-200 letters, digits, '-' or '_', got {collection!r}"
        )
    kwargs["collection"] = collection
    kwargs["quantization"] = quantization(given.pop("qdrant_quantization_config", None))
    timeout = given.pop("qdrant_timeout", None)
    if timeout is not None:
        try:
            kwargs["timeout"] = int(timeout)
        except (TypeError, ValueError):
            raise _fail(f"qdrant_timeout must be whole seconds, got {timeout!r}") from None
        if kwargs["timeout"] <= 0 or isinstance(timeout, bool):
            raise _fail(f"qdrant_timeout must be whole seconds > 0, got {timeout!r}")
    interval = given.pop("qdrant_purge_interval", None)
    if interval is not None:
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not math.isfinite(interval)
            or interval < 0
        ):
            raise _fail(f"qdrant_purge_interval must be seconds >= 0, got {interval!r}")
        kwargs["purge_interval"] = float(interval)
    if given:
        raise _fail(f"unknown option(s) {', '.join(sorted(given))}")
    return QdrantSettings(**kwargs)
