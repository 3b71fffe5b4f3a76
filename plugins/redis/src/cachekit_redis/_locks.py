"""The redis backend's lock capability, for ``Cache(single_flight="distributed")``.

For an entry key ``K``, two keys share one Cluster hash slot (the tag ``{sf:K}``):

* ``{sf:K}:lock`` holds the leader's random token. Acquire is ``SET … NX PX lease``
  (the same script deletes the previous round's ``done`` list); renew is a
  compare-and-``PEXPIRE``; release a compare-and-delete that pushes one element onto
  ``done``. Only the token's holder can renew or release: a leader whose lease ran
  out never frees its successor's lock.
* ``{sf:K}:done`` wakes the waiters. Each blocks in ``BLMOVE done done RIGHT LEFT``,
  which moves the element from the tail back to the head of the same list: one push
  wakes every blocked waiter in turn (the server serves them in one pass), and the
  element stays, so a waiter that arrives just after the release (between its failed
  acquire and its wait) returns at once. The list expires shortly after the release.

A waiter first reads the lock's ``PTTL`` and blocks no longer than that: when a
leader dies (its lease is no longer renewed) the waiters wake as the lease ends,
re-read the entry, and one of them wins the next acquire. Neither key starts with
the entry's prefix, so ``clear``/``scan`` never see them, and both expire by
themselves.
"""

from __future__ import annotations

import secrets
from typing import Any

from cachekit_redis._semantic_scripts import LuaScript

__all__ = ["acquire", "lock_keys", "release", "renew", "wait_for_release"]

#: KEYS lock done; ARGV token lease_ms. 1 when taken.
_ACQUIRE = LuaScript(
    """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
)

#: KEYS lock; ARGV token lease_ms. 1 when the token still held the lock.
_RENEW = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
)

#: KEYS lock done; ARGV token linger_ms. 1 when the token held the lock (waiters woken).
_RELEASE = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
)

#: Waiters wake this long after the lease ends (the server's expiry is not instant).
_EXPIRY_SLACK = 0.005


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def lock_keys(name: str) -> tuple[str, str]:
    """The lock key and the wake-up list of entry key ``name`` (one hash slot)."""
    tag = "{sf:" + name + "}"
    return tag + ":lock", tag + ":done"


async def acquire(client: Any, name: str, lease: float) -> str | None:
    token = secrets.token_hex(16)
    won = await _ACQUIRE(client, list(lock_keys(name)), [token, _ms(lease)])
    return token if won else None


async def renew(client: Any, name: str, token: str, lease: float) -> bool:
    return bool(await _RENEW(client, [lock_keys(name)[0]], [token, _ms(lease)]))


async def release(client: Any, name: str, token: str, linger: float) -> bool:
    return bool(await _RELEASE(client, list(lock_keys(name)), [token, _ms(linger)]))


async def wait_for_release(client: Any, name: str, seconds: float) -> bool:
    """Block (on ``client``, a connection of the waiter's own) until the lock of
    ``name`` is released (``True``), its lease ends or ``seconds`` pass (``False``)."""
    lock, done = lock_keys(name)
    left_ms = await client.pttl(lock)
    if left_ms == -2:  # not held (released, or never taken)
        return True
    block = seconds if left_ms < 0 else min(seconds, left_ms / 1000 + _EXPIRY_SLACK)
    moved = await client.blmove(done, done, max(block, 0.001), "RIGHT", "LEFT")
    return moved is not None
