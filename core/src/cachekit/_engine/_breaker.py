"""A circuit breaker so a dead backend is not hammered (and costs ~nothing).

Closed: operations run. After ``threshold`` consecutive failures the breaker
opens: operations fail at once with :class:`BackendUnavailableError`, without
I/O, for ``cooldown`` seconds (doubling on each failed probe, up to
``max_cooldown``). Then it lets one probe through (half-open); a success closes
it, a failure opens it again. State changes are plain attribute writes, safe on
one event loop and good enough across threads (a race costs one extra probe).

:class:`DomainBreakers` keeps one breaker per *fault domain* of a backend (a Redis
Cluster's node, see :meth:`cachekit.AsyncBackend.fault_domain`), so one dead node
does not stop caching on the others. A domain is one part of a store that fails
over by itself, and its failover is only noticed by an operation that reaches it:
its breakers therefore probe at least every :data:`DOMAIN_MAX_COOLDOWN` seconds
(a probe is one operation of one caller), so caching resumes within that long of
the store reporting the part healthy again instead of after a doubled cooldown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

from cachekit.exceptions import ConfigurationError

__all__ = ["DOMAIN_MAX_COOLDOWN", "MAX_DOMAINS", "CircuitBreaker", "DomainBreakers"]

#: Longest time a fault domain's breaker stays open before its next probe, in seconds.
DOMAIN_MAX_COOLDOWN = 0.5
#: Most fault domains tracked at once (a Cluster has far fewer nodes); beyond it
#: breakers without failures are dropped first (they hold no state), then the oldest.
MAX_DOMAINS = 1024


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

    def with_cap(self, max_cooldown: float) -> CircuitBreaker:
        """A new, closed breaker with these settings, cooldowns capped at ``max_cooldown``."""
        return CircuitBreaker(
            threshold=self.threshold,
            cooldown=min(self.base_cooldown, max_cooldown),
            max_cooldown=min(self.max_cooldown, max_cooldown),
            clock=self._clock,
        )

    @property
    def idle(self) -> bool:
        """Closed with no failure counted: dropping it loses nothing."""
        return self._failures == 0 and not self._probing

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


class DomainBreakers:
    """One :class:`CircuitBreaker` per fault domain, made from a template on first use
    (cooldowns capped at :data:`DOMAIN_MAX_COOLDOWN`); at most ``limit`` at a time."""

    __slots__ = ("_breakers", "_template", "limit")

    def __init__(self, template: CircuitBreaker, *, limit: int = MAX_DOMAINS) -> None:
        self._template = template.with_cap(DOMAIN_MAX_COOLDOWN)
        self._breakers: dict[Hashable, CircuitBreaker] = {}
        self.limit = limit

    def __len__(self) -> int:
        return len(self._breakers)

    def get(self, domain: Hashable) -> CircuitBreaker:
        """The breaker of ``domain`` (a new, closed one the first time it is seen)."""
        breaker = self._breakers.get(domain)
        if breaker is None:
            if len(self._breakers) >= self.limit:
                self._evict()
            breaker = self._breakers[domain] = self._template.with_cap(DOMAIN_MAX_COOLDOWN)
        return breaker

    def _evict(self) -> None:
        idle = [domain for domain, breaker in self._breakers.items() if breaker.idle]
        for domain in idle or [next(iter(self._breakers))]:
            del self._breakers[domain]
