"""The server-side half of the ``redis-semantic`` mirror index: four Lua scripts.

Every partition (one per ``(partition, dimension)``) owns four keys that share a
Cluster hash tag, so each script touches one slot:

``h`` (hash)
    entry key → ``b"<deadline ms>:<float32 vector bytes>"``; the source of truth.
    The deadline is server time (``TIME``) plus the lifetime; ``0`` means none.
``x`` (sorted set)
    entry key → deadline, for the keys that have one: expired entries are purged a
    few at a time by every write.
``s`` (stream)
    the change feed: one record ``k=<entry key>`` per write or removal, trimmed to
    about ``max(1000, HLEN h)`` records. Readers never take vectors from it: they
    read the current ones with ``HMGET``, so a record only says "look again".
``g`` (string)
    the partition's generation token, created with the partition. A reader that
    sees another token (the partition expired, or was deleted by hand) reloads.

A reader keeps a cursor (the last stream ID it applied). ``SYNC`` returns the
changes after it in one round trip; if the cursor's own record was trimmed away,
records after it may be lost too, so it answers ``reset`` and the reader reloads
the hash (``HSCAN``) from a ``SNAPSHOT`` position. The four keys expire together
with the partition's longest-lived entry (a partition holding an entry without a
lifetime persists).

Scripts run by ``EVALSHA`` with an ``EVAL`` fallback on ``NOSCRIPT``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

__all__ = ["INDEX", "REMOVE", "SNAPSHOT", "SYNC", "STREAM_MIN_LEN", "LuaScript"]

#: The stream keeps at least this many records (and at least one per entry).
STREAM_MIN_LEN = 1000


class LuaScript:
    """A script run by SHA, loading itself on ``NOSCRIPT`` (no client state kept)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS h x s g; ARGV ttl_ms ('' = none), generation token, stream min length,
#: then key, vector pairs. Returns the server time in ms.
INDEX = LuaScript(
    _NOW
    + """
local h, x, s, g = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl = ARGV[1]
local existed = redis.call('EXISTS', g) == 1
if not existed then redis.call('SET', g, ARGV[2]) end
local deadline = 0
if ttl ~= '' then deadline = now + tonumber(ttl) end
local stamp = string.format('%.0f', deadline) .. ':'
for i = 4, #ARGV, 2 do
  local key = ARGV[i]
  redis.call('HSET', h, key, stamp .. ARGV[i + 1])
  if deadline > 0 then redis.call('ZADD', x, deadline, key) else redis.call('ZREM', x, key) end
end
local expired = redis.call('ZRANGEBYSCORE', x, '-inf', now, 'LIMIT', 0, 64)
if #expired > 0 then
  redis.call('HDEL', h, unpack(expired))
  redis.call('ZREM', x, unpack(expired))
end
local maxlen = math.max(tonumber(ARGV[3]), redis.call('HLEN', h))
for i = 4, #ARGV, 2 do
  redis.call('XADD', s, 'MAXLEN', '~', maxlen, '*', 'k', ARGV[i])
end
local all = {h, x, s, g}
if ttl == '' then
  for _, k in ipairs(all) do redis.call('PERSIST', k) end
else
  local current = -2
  if existed then current = redis.call('PTTL', g) end
  if current ~= -1 then
    local want = tonumber(ttl)
    if current > want then want = current end
    for _, k in ipairs(all) do redis.call('PEXPIRE', k, want) end
  end
end
return now
"""
)

#: KEYS h s g; ARGV cursor, known generation ('' = none), max records.
#: Returns {now, 'reset'} or {now, 'ok', last_id, records_read, keys, records}.
SYNC = LuaScript(
    _NOW
    + """
local h, s, g = KEYS[1], KEYS[2], KEYS[3]
local cursor = ARGV[1]
local gen = redis.call('GET', g) or ''
if gen ~= ARGV[2] then return {now, 'reset'} end
if cursor ~= '0-0' and #redis.call('XRANGE', s, cursor, cursor) == 0 then
  return {now, 'reset'}
end
local entries = redis.call('XRANGE', s, '(' .. cursor, '+', 'COUNT', tonumber(ARGV[3]))
if #entries == 0 then return {now, 'ok', cursor, 0, {}, {}} end
local seen, keys = {}, {}
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'k' and not seen[fields[i + 1]] then
      seen[fields[i + 1]] = true
      keys[#keys + 1] = fields[i + 1]
    end
  end
end
local records = {}
if #keys > 0 then records = redis.call('HMGET', h, unpack(keys)) end
return {now, 'ok', entries[#entries][1], #entries, keys, records}
"""
)

#: KEYS s g. Returns {now, generation or '', last stream id or '0-0'}.
SNAPSHOT = LuaScript(
    _NOW
    + """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {now, redis.call('GET', KEYS[2]) or '', id}
"""
)

#: KEYS h x s; ARGV stream min length, then entry keys. Returns how many were indexed.
REMOVE = LuaScript(
    """
local h, x, s = KEYS[1], KEYS[2], KEYS[3]
local removed = 0
local maxlen = math.max(tonumber(ARGV[1]), redis.call('HLEN', h))
for i = 2, #ARGV do
  if redis.call('HDEL', h, ARGV[i]) == 1 then
    removed = removed + 1
    redis.call('ZREM', x, ARGV[i])
    redis.call('XADD', s, 'MAXLEN', '~', maxlen, '*', 'k', ARGV[i])
  end
end
return removed
"""
)
