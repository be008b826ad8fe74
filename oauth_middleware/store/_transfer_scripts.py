"""The two Lua scripts that move one key: read it whole with its expiry, write it whole.

Each touches one key, so each is atomic for that key (no value without its TTL,
no key half written, however the process dies) and runs on whichever node holds
it. Both read the time from Redis (``TIME``): the clock keys expire by.
"""

from __future__ import annotations

#: KEYS[1] -> {type, pttl, now (ms), values}; {'none'} once the key is gone (expired or
#: deleted between SCAN and the read: a revoked token is not exported).
READ = """
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind == 'none' then return {'none'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local value = {}
if kind == 'string' then value = {redis.call('GET', key)}
elseif kind == 'set' then value = redis.call('SMEMBERS', key)
elseif kind == 'hash' then value = redis.call('HGETALL', key)
elseif kind == 'zset' then value = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
end
return {kind, tostring(redis.call('PTTL', key)), tostring(now), value}
"""

#: KEYS[1]; ARGV: mode ('skip' or 'replace'), type, expires_at (ms, '0': never), values.
#: -> 'written' (new key), 'replaced' (a string, or a key of another type, overwritten),
#: 'merged' (members added to a collection), 'kept' (the target's
#: value stays), 'expired' (its time has passed: nothing written).
#: A collection merged into an existing one lives as long as the longer-lived of the two.
#: Values go in chunks: Lua's ``unpack`` has a limit of a few thousand.
WRITE = """
local key, mode, kind, expires = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if expires > 0 and expires <= now then return 'expired' end
local present = redis.call('TYPE', key)['ok']
if present ~= 'none' and (mode ~= 'replace') and (kind == 'string' or present ~= kind) then
  return 'kept'
end
local outcome = 'written'
if present ~= 'none' and (kind == 'string' or present ~= kind) then
  redis.call('DEL', key)
  present, outcome = 'none', 'replaced'
end
local old = -2
if present ~= 'none' then old = redis.call('PTTL', key) end
local function each(command, flag)
  for i = 4, #ARGV, 1000 do
    local last = math.min(i + 999, #ARGV)
    if flag then redis.call(command, key, flag, unpack(ARGV, i, last))
    else redis.call(command, key, unpack(ARGV, i, last)) end
  end
end
if kind == 'string' then redis.call('SET', key, ARGV[4])
elseif kind == 'set' then each('SADD')
elseif kind == 'zset' and mode == 'replace' then each('ZADD')
elseif kind == 'zset' then each('ZADD', 'NX')
elseif mode == 'replace' then each('HSET')
else
  for i = 4, #ARGV, 2 do redis.call('HSETNX', key, ARGV[i], ARGV[i + 1]) end
end
if old == -2 then
  if expires > 0 then redis.call('PEXPIREAT', key, expires) end
  return outcome
end
if expires == 0 then
  redis.call('PERSIST', key)
elseif old >= 0 and expires > now + old then
  redis.call('PEXPIREAT', key, expires)
end
return 'merged'
"""
