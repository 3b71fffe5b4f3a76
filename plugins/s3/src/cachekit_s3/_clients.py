"""aioboto3 clients: one per event loop, opened without blocking the loop.

Why per loop: an aiobotocore client holds an aiohttp session, which belongs to the
loop that opened it, and a backend can be used from more than one loop over its life
(the sync face of ``Cache`` runs on a private loop thread). Each loop gets its own
long-lived aioboto3 session and client, opened on first use there and closed by
:meth:`LoopClients.aclose`; sessions are per loop too, so refreshable credentials
(whose locks bind to a loop) are never shared between loops.

Why a guard: a loop may end without anyone calling ``aclose()`` (a script calling
``asyncio.run()`` twice). Each client comes with a suspended async generator that
the loop finalises on shutdown, closing the client while the loop still runs.

Why a preload thread: importing aioboto3 takes ~0.5-1 s and botocore reads and
parses ~0.3 s of JSON (the S3 model, endpoint rules) before the first client
exists. That is blocking I/O, so it runs once per process in a daemon thread,
started when the first backend is constructed; the parsed data live in one
botocore loader shared by every session. What remains on the loop is the client
construction itself (~10 ms of CPU, once per loop). Opening runs as a task that a
timed-out caller does not cancel, so the next call finds the client ready.
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

__all__ = ["LoopClients", "preload"]

logger = logging.getLogger("cachekit.s3")

_CLOSE_TIMEOUT = 5.0


class _Runtime:
    """aioboto3, imported, and a botocore data loader with the S3 data parsed."""

    def __init__(self) -> None:
        import aioboto3  # type: ignore[import-untyped]
        import aiobotocore.session  # type: ignore[import-untyped]

        self._aioboto3: Any = aioboto3
        self._new_core: Callable[[], Any] = aiobotocore.session.get_session
        self._lock = threading.Lock()
        self.loader: Any = self._new_core().get_component("data_loader")
        warm = self.new_session(region_name="us-east-1")

        async def warm_up() -> None:
            # Placeholder keys: no credential lookup; a client sends nothing until used.
            async with warm.client(
                "s3", aws_access_key_id="warm-up", aws_secret_access_key="warm-up"
            ):
                pass

        asyncio.run(warm_up())

    def new_session(self, **options: Any) -> Any:
        """A fresh ``aioboto3.Session`` that shares the parsed botocore data."""
        with self._lock:
            core = self._new_core()
            core.register_component("data_loader", self.loader)
            session = self._aioboto3.Session(botocore_session=core, **options)
            # aioboto3 adds its data directory on every session: keep the list short.
            paths = self.loader.search_paths
            paths[:] = list(dict.fromkeys(paths))
        return session


_runtime: Future[_Runtime] | None = None
_runtime_lock = threading.Lock()


def _load(future: Future[_Runtime]) -> None:
    try:
        future.set_result(_Runtime())
    except BaseException as exc:  # handed to whoever waits; never an unhandled thread error
        future.set_exception(exc)


def preload() -> Future[_Runtime]:
    """Start loading aioboto3 in a daemon thread (once per process); return its future."""
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
    client_options)``; ``translate`` maps a failure to a cachekit error;
    ``configure`` is called with each new client (to register event handlers).
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
        preload()

    def __len__(self) -> int:
        """How many loops have a client open (or opening)."""
        return len(self._states)

    async def get(self) -> Any:
        """The current loop's client."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None and state.client is not None:
            return state.client
        return await self._open(loop)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> Any:
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
            task = state.opening = loop.create_task(self._connect(state))
        # A caller that times out must not abandon the opening half-way.
        return await asyncio.shield(task)

    async def _connect(self, state: _LoopClient) -> Any:
        try:
            session, options = await asyncio.to_thread(self._new_session)
            context = session.client("s3", **options)
            client = await context.__aenter__()
            self._configure(client)
        except Exception as exc:
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
