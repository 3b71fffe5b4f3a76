"""Holding a test server's requests: a provider call that stays in flight until the
test lets it finish, without sleeping (used by :class:`~cachekit.testing.OpenAIServer`)."""

from __future__ import annotations

import threading

__all__ = ["Holding"]


class Holding:
    """``hold()``/``release()``, ``arrivals`` and ``wait_for_requests(n)`` for a threaded server whose
    request handlers call :meth:`_arrive` before answering."""

    def __init__(self) -> None:
        self._arrived = 0
        self._arrival = threading.Condition()
        self._open = threading.Event()
        self._open.set()

    @property
    def arrivals(self) -> int:
        """Requests arrived since the last reset, held ones included (``count`` and
        ``requests`` see a request once it is answered)."""
        with self._arrival:
            return self._arrived

    def hold(self) -> None:
        """Keep requests that arrive from now on waiting until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        """Answer the held requests (and serve later ones at once)."""
        self._open.set()

    def wait_for_requests(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` requests have arrived since the last reset (held ones count);
        ``TimeoutError`` after ``timeout`` seconds (a guard against a hung test)."""
        with self._arrival:
            if not self._arrival.wait_for(lambda: self._arrived >= n, timeout):
                raise TimeoutError(f"{self._arrived} requests arrived, waited for {n}")

    def _forget_arrivals(self) -> None:
        with self._arrival:
            self._arrived = 0

    def _arrive(self) -> None:
        with self._arrival:
            self._arrived += 1
            self._arrival.notify_all()
        self._open.wait()
