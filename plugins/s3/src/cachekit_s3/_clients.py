"""aiobotocore clients: one per event loop, opened without blocking the loop.

Why aiobotocore and not aioboto3: aioboto3's S3 client *is* aiobotocore's client, but
each aioboto3 release pins one old aiobotocore (hence one old botocore), which cannot
be installed beside current boto3 (litellm needs ``boto3>=1.43.117``). aiobotocore
follows botocore closely, so depending on it alone lets cachekit-s3 share one botocore
with boto3, litellm and the rest of an application.

Why per loop: an aiobotocore client holds an aiohttp session, which belongs to the
loop that opened it, and a backend can be used from more than one loop over its life
(the sync face of ``Cache`` runs on a private loop thread). Each loop gets its own
long-lived botocore session and client, opened on first use there (or by
:meth:`LoopClients.connect`) and closed by :meth:`LoopClients.aclose`; sessions are
per loop too, so refreshable credentials (whose locks bind to a loop) are never
shared between loops.

Why a guard: a loop may end without anyone calling ``aclose()`` (a script calling
``asyncio.run()`` twice). Each client comes with a suspended async generator that
the loop finalises on shutdown, closing the client while the loop still runs.

Why a preload thread: importing aiobotocore, botocore and aiohttp takes ~0.5-1 s and
botocore reads and parses ~0.3 s of JSON (the S3 model, endpoint rules, paginators)
before the first client exists. That is blocking work, so it runs once per process in
a daemon thread, started when the first backend is constructed; the parsed data live
in one botocore loader shared by every session. What remains per loop is the client
itself: its options (built in a worker thread), its construction (~10 ms of CPU on the
loop), credentials, its operation models and its aiohttp session and TLS context (see
:mod:`cachekit_s3._warmup`). :meth:`LoopClients.connect` does all of it, so that
operations only look the client up; opening runs as a task that a timed-out caller
does not cancel, so the next call finds the client ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future
from typing import Any

from cachekit import CacheKitError

from cachekit_s3._warmup import open_http_session, warm_models

__all__ = ["LoopClients", "preload"]

logger = logging.getLogger("cachekit.s3")

_CLOSE_TIMEOUT = 5.0


class _Runtime:
    """aiobotocore, imported, and a botocore data loader with the S3 data parsed."""

    def __init__(self) -> None:
        import aiobotocore.session  # type: ignore[import-untyped]

        self._new_core: Callable[[], Any] = aiobotocore.session.get_session
        self.loader: Any = self._new_core().get_component("data_loader")
        asyncio.run(self._warm_up())

    async def _warm_up(self) -> None:
        """Build (and close) one throwaway client so that every module a client needs is
        imported and the S3 model, endpoint rules and paginators sit in the shared loader.
        Placeholder keys: no credential lookup; nothing is sent."""
        session = self.new_session(
            aws_access_key_id="warm-up", aws_secret_access_key="warm-up", region_name="us-east-1"
        )
        async with session.create_client("s3") as client:
            client.get_paginator("list_objects_v2")  # loads paginators-1 (used by clear)
            await open_http_session(client)  # imports aiohttp's client side

    def new_session(
        self,
        *,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        region_name: str | None = None,
    ) -> Any:
        """A fresh ``AioSession`` that shares the parsed botocore data. Explicit keys are
        set on the session (as ``boto3.Session`` does); without them the session uses the
        AWS credential chain when its first client is created."""
        session = self._new_core()
        session.register_component("data_loader", self.loader)
        if aws_access_key_id is not None and aws_secret_access_key is not None:
            session.set_credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
        if region_name is not None:
            session.set_config_variable("region", region_name)
        return session


_runtime: Future[_Runtime] | None = None
_runtime_lock = threading.Lock()


def _load(future: Future[_Runtime]) -> None:
    try:
        future.set_result(_Runtime())
    except BaseException as exc:  # handed to whoever waits; never an unhandled thread error
        future.set_exception(exc)


def preload() -> Future[_Runtime]:
    """Start loading aiobotocore in a daemon thread (once per process); return its future."""
    global _runtime
    with _runtime_lock:
        if _runtime is None or (_runtime.done() and _runtime.exception() is not None):
            _runtime = Future()
            threading.Thread(
                target=_load, args=(_runtime,), name="cachekit-s3-preload", daemon=True
            ).start()
        return _runtime


class _LoopClient:
    """The client of one event loop, the task opening it, and its shutdown guard."""

    __slots__ = ("client", "context", "guard", "opening")

    def __init__(self) -> None:
        self.client: Any = None
        self.context: Any = None
        self.opening: asyncio.Task[Any] | None = None
        self.guard: AsyncGenerator[None, None] | None = None

    async def close(self) -> None:
        """Close the client (on its own loop), waiting for an opening in progress."""
        opening, self.opening = self.opening, None
        if opening is not None and not opening.done():
            with contextlib.suppress(Exception):
                await opening
        guard, self.guard = self.guard, None
        if guard is not None:
            await guard.aclose()  # its ``finally`` closes the client
        else:
            await self.close_client()

    async def close_client(self) -> None:
        context, self.context, self.client = self.context, None, None
        if context is not None:
            await context.__aexit__(None, None, None)


class LoopClients:
    """Hands out the current loop's S3 client, opening it on first use.

    ``prepare`` runs in a worker thread and returns ``(session_options,
    client_options)`` (keyword arguments of ``_Runtime.new_session`` and of
    ``session.create_client("s3", ...)``); ``translate`` maps a failure to a
    cachekit error; ``configure`` is called with each new client (to register event
    handlers). Constructing one starts the process-wide preload.
    """

    def __init__(
        self,
        prepare: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
        translate: Callable[[BaseException], CacheKitError],
        configure: Callable[[Any], None] = lambda client: None,
    ) -> None:
        self._prepare = prepare
        self._translate = translate
        self._configure = configure
        self._states: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._lock = threading.Lock()
        #: Clients constructed over this object's life (one per loop that used it).
        self.constructed = 0
        preload()

    def __len__(self) -> int:
        """How many loops have a client open (or opening)."""
        return len(self._states)

    async def get(self) -> Any:
        """The current loop's client: a dict lookup once :meth:`connect` has run here,
        otherwise :meth:`connect` first."""
        state = self._states.get(asyncio.get_running_loop())
        if state is not None and state.client is not None:
            return state.client
        return await self.connect()

    async def connect(self) -> Any:
        """Open the current loop's client (idempotent): wait for the preload, build the
        options in a worker thread, construct the client, resolve credentials and open
        its HTTP session. Concurrent callers share one opening."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None and state.client is not None:
            return state.client
        with self._lock:
            state = self._states.get(loop)
            if state is None:
                for stale in [lp for lp in self._states if lp.is_closed()]:
                    del self._states[stale]  # its loop is gone: nothing left to close with
                state = self._states[loop] = _LoopClient()
        if state.client is not None:
            return state.client
        task = state.opening
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = state.opening = loop.create_task(self._open(state))
        # A caller that times out must not abandon the opening half-way.
        return await asyncio.shield(task)

    async def _open(self, state: _LoopClient) -> Any:
        context: Any = None
        client: Any = None
        try:
            session, options = await asyncio.to_thread(self._new_session)
            context = session.create_client("s3", **options)
            client = await context.__aenter__()
            self.constructed += 1
            self._configure(client)
            await asyncio.to_thread(warm_models, client)
            await open_http_session(client)
        except BaseException as exc:
            if client is not None:  # built but not usable: do not leak its connections
                with contextlib.suppress(Exception):
                    await context.__aexit__(None, None, None)
            if not isinstance(exc, Exception):
                raise
            raise self._translate(exc) from exc
        state.context, state.client = context, client
        state.guard = self._guard(asyncio.get_running_loop(), state)
        await state.guard.__anext__()
        return client

    async def _guard(
        self, loop: asyncio.AbstractEventLoop, state: _LoopClient
    ) -> AsyncGenerator[None, None]:
        """Closes the client when its loop shuts down without ``aclose()``.

        ``asyncio.run()``, ``asyncio.Runner`` and anyio finalise suspended async
        generators (``loop.shutdown_asyncgens()``) while the loop still runs, so a
        script that calls ``asyncio.run()`` several times leaves no open connections
        (and no "Unclosed client session" warnings) behind.
        """
        try:
            yield
        finally:
            with self._lock:
                if self._states.get(loop) is state:
                    del self._states[loop]
            state.guard = None
            await state.close_client()

    def _new_session(self) -> tuple[Any, dict[str, Any]]:
        runtime = preload().result()
        session_options, client_options = self._prepare()
        return runtime.new_session(**session_options), client_options

    async def aclose(self) -> None:
        """Close every loop's client: this loop's directly, a running loop's through
        ``run_coroutine_threadsafe``; a closed loop's client cannot be closed any more."""
        with self._lock:
            states = list(self._states.items())
            self._states.clear()
        current = asyncio.get_running_loop()
        for loop, state in states:
            if state.client is None and state.opening is None:
                continue
            try:
                if loop is current:
                    await state.close()
                elif loop.is_running() and not loop.is_closed():
                    done = asyncio.run_coroutine_threadsafe(state.close(), loop)
                    await asyncio.wait_for(asyncio.wrap_future(done), _CLOSE_TIMEOUT)
                else:
                    logger.debug("s3: the loop of a client is not running; dropping it unclosed")
            except Exception:
                logger.warning("s3: closing a client failed", exc_info=True)
