"""A circuit breaker so a dead backend is not hammered (and costs ~nothing).

Closed: operations run. After ``threshold`` consecutive failures the breaker
opens: operations fail at once with :class:`BackendUnavailableError`, without
I/O, for ``cooldown`` seconds (doubling on each failed probe, up to
``max_cooldown``). Then it lets one probe through (half-open); a success closes
it, a failure opens it again. State changes are plain attribute writes, safe on
one event loop and good enough across threads (a race costs one extra probe).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from cachekit.exceptions import ConfigurationError

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    __slots__ = (
        "_clock",
        "_cooldown",
        "_failures",
        "_open_until",
        "_probing",
        "base_cooldown",
        "max_cooldown",
        "threshold",
    )

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown: float = 2.0,
        max_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ConfigurationError(f"breaker threshold must be an int >= 1, got {threshold!r}")
        for name, value in (("cooldown", cooldown), ("max_cooldown", max_cooldown)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(
                    f"breaker {name} must be a non-negative number of seconds, got {value!r}"
                )
        if max_cooldown < cooldown:
            raise ConfigurationError("breaker max_cooldown must be >= cooldown")
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._failures >= self.threshold

    def blocked(self) -> bool:
        """Open and not yet due for a probe: an operation now would be refused."""
        return self._failures >= self.threshold and (
            self._probing or self._clock() < self._open_until
        )

    def allow(self) -> bool:
        """Whether an operation may run now (closed, or the one half-open probe)."""
        if self._failures < self.threshold:
            return True
        if self._probing or self._clock() < self._open_until:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        if self._failures:
            self._failures = 0
            self._cooldown = self.base_cooldown
        self._probing = False

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.threshold:
            if self._probing:  # the probe failed: back off further
                self._cooldown = min(self._cooldown * 2, self.max_cooldown)
            self._open_until = self._clock() + self._cooldown
        self._probing = False
