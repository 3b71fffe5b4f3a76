"""``wrap(client)``: the same OpenAI client, with its answers cached.

**What the wrapped client is.** An instance of a subclass of the client's own class
(``CachedOpenAI(OpenAI)``, ``CachedAsyncAzureOpenAI(AsyncAzureOpenAI)``…, one per
client class, made once), so ``isinstance(wrapped, type(client))`` holds and typed
code keeps working. It is not a copy: it *shares the client's state* (the same
instance ``__dict__``), so the API key, ``base_url``, timeouts, retries and the
HTTP connection pool are the client's own, changes made to either are seen by both,
and closing either closes both. The subclass only overrides:

* the resources holding cached methods (``chat``, ``completions``, ``embeddings``,
  ``audio``, ``responses``): :class:`~cachekit_openai._resources.CachedResource`
  proxies whose cached methods go through ``cache.cached(...)`` (or the global
  ``cachekit.cached``), everything else being the client's own resource;
* every other resource (``files``, ``models``, ``beta``…) and
  ``with_raw_response``/``with_streaming_response``: the client's own, so they are
  never cached (a raw response is an HTTP response, not an answer to store);
* ``copy``/``with_options``: the client's copy, wrapped the same way.

Nothing about the original client changes: it stays uncached.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import cachekit
import openai
from cachekit import Cache, ConfigurationError

from cachekit_openai._methods import METHODS, Method, client_key_params, enabled_methods
from cachekit_openai._resources import CachedResource
from cachekit_openai._sdk import provider_function

__all__ = ["CachedClient", "wrap"]

Client = openai.OpenAI | openai.AsyncOpenAI
ClientT = TypeVar("ClientT", bound=Client)

#: Overridden by :class:`CachedClient` itself (never delegated to the original).
_OWN_NAMES = frozenset({"copy", "with_options"})


class _Wrapping:
    """What one ``wrap`` call decided, and the cached resources built from it."""

    __slots__ = ("_lock", "_resources", "cache", "call_types", "methods", "original")

    def __init__(
        self, original: Client, cache: Cache | None, call_types: Iterable[str] | str | None
    ) -> None:
        self.original = original
        self.cache = cache
        self.call_types = call_types
        self.methods = enabled_methods(call_types)
        self._lock = threading.Lock()
        self._resources: dict[str, CachedResource] = {}

    def resource(self, name: str) -> Any:
        """The wrapped client's ``name``: a cached resource, or the client's own."""
        if not any(m.path[0] == name for m in self.methods):
            return getattr(self.original, name)
        found = self._resources.get(name)
        if found is None:
            with self._lock:
                found = self._resources.get(name)
                if found is None:
                    found = self._resources[name] = self._build((name,))
        return found

    def _build(self, path: tuple[str, ...]) -> CachedResource:
        target: Any = self.original
        for part in path:
            target = getattr(target, part)
        depth = len(path)
        methods = {m.attr: self._cached(m, target) for m in self.methods if m.path == path}
        below = {
            m.path[depth] for m in self.methods if len(m.path) > depth and m.path[:depth] == path
        }
        children = {name: self._build((*path, name)) for name in sorted(below)}
        return CachedResource(target, methods, children)

    def _cached(self, method: Method, resource: Any) -> Callable[..., Any]:
        original = self.original
        marker = dict(method.marker)

        def key_params() -> dict[str, Any]:
            return {**client_key_params(original), **marker}

        is_async = isinstance(original, openai.AsyncOpenAI)
        call_type = method.call_type(is_async)
        cache = self.cache
        decorate = (
            cachekit.cached(call_type, key_params=key_params)
            if cache is None
            else cache.cached(call_type, key_params=key_params)
        )
        return decorate(provider_function(getattr(resource, method.attr), is_async))


class CachedClient:
    """The mixin of every wrapped client class (see the module docstring)."""

    __slots__ = ()
    _cachekit_wrapping: _Wrapping

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{type(self).__name__} is made by cachekit_openai.wrap(client); "
            "build the plain client and wrap it"
        )

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        """The client's ``copy``/``with_options``, wrapped like this client."""
        wrapping = self._cachekit_wrapping
        copied = wrapping.original.copy(*args, **kwargs)
        return _wrap(_Wrapping(copied, wrapping.cache, wrapping.call_types))

    with_options = copy

    def __repr__(self) -> str:
        wrapping = self._cachekit_wrapping
        names = ", ".join(m.name for m in wrapping.methods) or "-"
        return f"<cachekit_openai.wrap({wrapping.original!r}), cached: {names}>"


def _delegated(name: str) -> property:
    def get(self: CachedClient) -> Any:
        return self._cachekit_wrapping.resource(name)

    return property(get, doc=f"The client's ``{name}`` (cached methods cached).")


_classes: dict[type, type[CachedClient]] = {}
_classes_lock = threading.Lock()


def _cached_class(cls: type) -> type[CachedClient]:
    """``CachedX(CachedClient, X)``, made once per client class ``X``."""
    with _classes_lock:
        made = _classes.get(cls)
        if made is None:
            made = _classes[cls] = _make_class(cls)
        return made


def _make_class(cls: type) -> type[CachedClient]:
    """Every ``cached_property`` of ``X`` (its resources, ``with_raw_response``…)
    becomes a property answered by the wrapping, so the shared ``__dict__`` never
    holds a resource bound to the wrapped client."""
    names = {
        name
        for klass in cls.__mro__
        for name, attr in vars(klass).items()
        if isinstance(attr, functools.cached_property) and name not in _OWN_NAMES
    }
    names.update(m.path[0] for m in METHODS)  # whatever kind of attribute the SDK makes them
    namespace: dict[str, Any] = {
        "__slots__": ("_cachekit_wrapping",),
        "__module__": __name__,
        "__qualname__": f"Cached{cls.__name__}",
        "__doc__": f"A ``{cls.__qualname__}`` whose answers are cached (``cachekit_openai.wrap``).",
    }
    namespace.update({name: _delegated(name) for name in sorted(names)})
    return cast("type[CachedClient]", type(f"Cached{cls.__name__}", (CachedClient, cls), namespace))


def _wrap(wrapping: _Wrapping) -> Any:
    """A ``CachedX`` instance sharing ``wrapping.original``'s state."""
    original = wrapping.original
    wrapped: Any = object.__new__(_cached_class(type(original)))
    wrapped.__dict__ = original.__dict__  # shared state, not a copy
    wrapped._cachekit_wrapping = wrapping
    return wrapped


def wrap(
    client: ClientT,
    cache: Cache | None = None,
    *,
    call_types: Iterable[str] | str | None = None,
) -> ClientT:
    """``client`` with its answers cached in ``cache`` (``None``: the global cache,
    ``cachekit.enable_cache``, looked up at each call; none enabled: uncached).

    ``client`` is an ``openai.OpenAI``, ``AsyncOpenAI``, ``AzureOpenAI`` or
    ``AsyncAzureOpenAI`` (or a subclass). ``call_types`` restricts what is cached to
    some of ``"chat"`` (``chat.completions.create``), ``"parse"``
    (``chat.completions.parse``), ``"completions"`` (``completions.create``),
    ``"embeddings"``, ``"transcriptions"`` (``audio.transcriptions.create``) and
    ``"responses"`` (``responses.create``); ``None`` caches them all. Bad arguments
    raise ``cachekit.ConfigurationError`` (a ``ValueError``) before any I/O.

    Wrapping a wrapped client wraps its original again with the new settings.
    """
    if isinstance(client, CachedClient):
        client = cast("ClientT", client._cachekit_wrapping.original)
    if not isinstance(client, openai.OpenAI | openai.AsyncOpenAI):
        raise ConfigurationError(
            "cachekit_openai.wrap expects an openai.OpenAI, AsyncOpenAI, AzureOpenAI or "
            f"AsyncAzureOpenAI client, got {type(client).__name__}"
        )
    if cache is not None and not isinstance(cache, Cache):
        raise ConfigurationError(
            f"cache must be a cachekit.Cache or None (the global cache), got {type(cache).__name__}"
        )
    wrapping = _Wrapping(client, cache, call_types)  # validates call_types
    return cast("ClientT", _wrap(wrapping))
