"""Every hook of cachekit, declared and documented in one place.

Plugins are plain modules or objects whose functions are marked with
``@cachekit.hookimpl`` and whose names match the specs below. They are found
through the ``cachekit`` entry-point group (the value may be a module or an
object) or registered at run time with ``cache.plugins.register(obj)``.

Hooks are synchronous and cheap: they *register* things and *decide* things. I/O
lives in backend methods, which are async. The observer hooks are the one
exception: an observer may be ``async def``; cachekit awaits what is awaitable.

Call order follows pluggy: the most recently registered implementation runs
first. Unless a spec says "first result wins", every implementation runs.

Failures are contained: a plugin whose registration hook raises is reported
(logged, listed by ``cachekit backends``) and skipped; an observer that raises is
logged and never breaks the call it observes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from cachekit._engine._events import CacheEvent
    from cachekit._semantic._verify import SemanticPrompt

__all__ = [
    "PROJECT_NAME",
    "RegisterBackend",
    "RegisterUrlScheme",
    "hookimpl",
    "hookspec",
]

#: The entry-point group, the pluggy project name and the marker name are one name.
PROJECT_NAME = "cachekit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: ``register(name, factory)``: a factory is called with the backend's options as
#: keyword arguments and returns an :class:`cachekit.AsyncBackend`. It may be given as
#: a ``"module:attribute"`` string, imported only when a cache of that type is built.
RegisterBackend = Callable[[str, Callable[..., Any] | str], None]

#: ``register(scheme, parse)``: ``parse(url) -> {"type": ..., **options}``.
RegisterUrlScheme = Callable[[str, Callable[[str], dict[str, Any]]], None]


@hookspec
def cachekit_register_backends(register: RegisterBackend) -> None:
    """Register storage backend types.

    Call ``register(name, factory)`` once per type, e.g.
    ``register("s3", "cachekit_s3._backend:S3Backend")``. ``factory(**options)``
    must return an :class:`cachekit.AsyncBackend`. Its keyword parameters *are* the
    backend's options: the core passes it exactly the ``Cache(type=name, ...)``
    keywords it declares (LiteLLM names such as ``host``, ``s3_bucket_name``,
    ``disk_cache_dir``), refuses any other with an error listing them, and passes
    ``clock`` when it declares one. A factory with ``**options`` receives every
    option and must reject unknown ones itself (``ConfigurationError``).

    Give the factory as a ``"module:attribute"`` string (or a small function that
    imports lazily) so that registering the plugin — which happens whenever a
    process builds its first cache — imports none of the backend's client libraries.
    Registering a name twice is an error reported for the later plugin.

    Returns nothing. Every implementation runs; one that raises is reported and
    skipped.
    """


@hookspec
def cachekit_register_url_schemes(register: RegisterUrlScheme) -> None:
    """Register URL schemes for ``Cache.from_url``.

    Call ``register(scheme, parse)``; ``parse(url)`` returns ``Cache`` keyword
    arguments for the URL, including ``"type"`` (e.g. ``s3://bucket/prefix`` →
    ``{"type": "s3", "s3_bucket_name": "bucket", "s3_path": "prefix"}``). The core
    has already removed its own query options (``namespace``, ``ttl``, ``timeout``,
    ``l1_*``) from the URL it passes; :func:`cachekit.query_options` reads the rest of
    the query string (values as bool/int/float where they read as one, aliases
    renamed). Raise :class:`cachekit.ConfigurationError` for a
    URL the parser cannot read; never put credentials into an error message. Returns
    nothing; the first plugin to register a scheme keeps it.
    """


@hookspec
def cachekit_register_embedders(register: RegisterBackend) -> None:
    """Register text embedders for the semantic backends.

    Call ``register(name, factory)``; ``factory(**options)`` returns an async
    callable ``(texts: list[str]) -> list[list[float]]``. ``Cache(embedder="name")``
    selects one. Returns nothing; every implementation runs.
    """


@hookspec
def cachekit_key_params(call_type: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Adjust the request parameters that go into a cache key.

    ``call_type`` is the call family (``"completion"`` for ``acompletion`` too);
    ``params`` is the request's keyword arguments after the ``cache`` controls and
    the built-in deny-list (credentials, timeouts, headers, metadata…) were
    removed. Return a new dict to replace the params for the implementations that
    follow and for the digest, or ``None`` to leave them unchanged. Do not mutate
    ``params`` in place. Every implementation runs, each seeing the previous
    result. Keep in mind that dropping a parameter that changes the answer makes
    the cache serve wrong answers.
    """


@hookspec(firstresult=True)
def cachekit_entry_ttl(call_type: str, params: dict[str, Any], result: Any) -> float | None:
    """Choose the lifetime, in seconds, of an entry about to be stored.

    Called for LLM-call entries (not for the key-value API). Return a float
    (``0`` means "do not store") or ``None`` to have no opinion. **First result
    wins.** Precedence: a per-call ``cache={"ttl": ...}`` beats this hook, and this
    hook beats ``Cache(ttl=...)`` and the backend's default. A negative or
    non-numeric value is reported as an error event and ignored.
    """


@hookspec(firstresult=True)
def cachekit_semantic_verify(
    call_type: str, request: SemanticPrompt, candidate: SemanticPrompt, similarity: float
) -> bool | None:
    """Decide whether a semantic match may answer a request.

    Called once per semantic candidate: the exact key missed, the backend found the
    nearest indexed entry of the request's partition with cosine ``similarity`` at or
    above the threshold, and that entry was read and is live. ``call_type`` is the
    call family; ``request`` and ``candidate`` describe the two sides
    (``SemanticPrompt``: ``text``, the embedded prompt text; ``turns``, that text per
    message as ``(role, text)``; ``params``, the canonical parameters other than the
    conversation, equal on both sides; ``key``; ``embedder``). Do not mutate them.

    Return ``True`` to accept (the entry answers the call, a hit), ``False`` to reject
    (a miss: the provider is called and its fresh result stored), ``None`` for no
    opinion. **First result wins**; when no implementation has an opinion the match is
    accepted. An implementation that raises, or returns anything else, is reported as
    an error event (``PluginError``) and the candidate is rejected: an unverified match
    is never served.

    The core ships a default verifier (plugin name ``"cachekit._semantic._verify"``,
    ``trylast``) that rejects prompts differing in numbers, negations, names and
    identifiers, units, opposites or word order (and, under the lexical ``hash``
    embedder, in any content word). A plugin you register runs before it and its
    ``True``/``False`` is final (``None`` defers to it); to remove it, call
    ``cache.plugins.unregister(name="cachekit._semantic._verify")``.

    What is stored: so that the candidate's text can be shown here, semantic caches
    store each entry's prompt text (the text of its user/assistant turns, or the
    ``prompt``; not system messages, images or tool calls) in the entry's metadata,
    next to the answer. ``candidate.text`` is ``None`` for an entry stored without it
    (by an older cachekit); the default verifier rejects such a candidate.
    """


@hookspec
def cachekit_on_hit(event: CacheEvent) -> None:
    """Observe a cache hit. ``event`` also carries ``age_s``, when semantic ``similarity``,
    and for LLM calls what the hit saved (``tokens_saved``, ``prompt_tokens_saved``,
    ``completion_tokens_saved``, ``latency_saved_s``, ``cost_saved``; ``None`` when unknown).

    ``event.stale`` says whether the entry was past its freshness (its TTL): ``None``
    for a fresh hit; ``"while-revalidate"`` for a stale hit served while a background
    refresh runs (``cache={"stale-while-revalidate": s}``); ``"if-error"`` for a stale
    entry served because the provider raised (``cache={"stale-if-error": s}``;
    ``event.error`` is then the provider's exception, and the lookup before it was
    reported to ``cachekit_on_miss``).

    May be ``async def``. Every implementation runs; one that raises is logged and
    never breaks the call.
    """


@hookspec
def cachekit_on_miss(event: CacheEvent) -> None:
    """Observe a cache miss (including entries rejected as expired or by ``s-maxage``).

    May be ``async def``. Every implementation runs; one that raises is logged.
    """


@hookspec
def cachekit_on_store(event: CacheEvent) -> None:
    """Observe an entry being written. ``event.ttl_s`` is the lifetime it was given
    (its freshness; a backend keeps it longer by the entry's stale window);
    ``event.model`` the request's model for LLM-call entries. ``event.refresh`` is
    ``True`` when a background refresh wrote it.

    May be ``async def``. Every implementation runs; one that raises is logged.
    """


@hookspec
def cachekit_on_error(event: CacheEvent) -> None:
    """Observe a failure that cachekit absorbed: a backend error or timeout, a corrupt
    entry, a misbehaving hook. ``event.error`` is the exception (already mapped into
    :mod:`cachekit.exceptions`). ``event.refresh`` is ``True`` when a background
    refresh failed (``event.error`` is then the provider's exception; the stale entry
    stays).

    May be ``async def``. Every implementation runs; one that raises is logged.
    """
