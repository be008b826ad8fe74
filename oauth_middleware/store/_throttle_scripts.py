"""Lua scripts of the brute-force counters (RFC 6749 §2.3.1, §10.10; RFC 9700 §4.16).

Each touches one subject's counters, which share a hash tag (one cluster slot).
"""

from __future__ import annotations

from oauth_middleware.store._gateway import Script

# Throttle counters (hashes ``count``, ``ends``: the window's end in the store's ms). A
# counter is created with its TTL of one window by the script that counts, so no counter
# ever lives without one, and Redis forgets it unaided; the window itself ends by the
# store's clock (so tests move time instead of sleeping).
_COUNTERS = """
local function count_failure(key, now, window)
  local ends = tonumber(redis.call('HGET', key, 'ends') or '0')
  if ends <= now then
    ends = now + window
    redis.call('DEL', key)
    redis.call('HSET', key, 'ends', ends)
    redis.call('PEXPIRE', key, window)
  end
  return redis.call('HINCRBY', key, 'count', 1), ends
end
local function read_counter(key, now)
  local state = redis.call('HMGET', key, 'count', 'ends')
  local ends = tonumber(state[2]) or 0
  if ends <= now then
    return 0, 0
  end
  return tonumber(state[1]) or 0, ends
end
"""

#: KEYS: counters (of one subject: one slot); ARGV: now ms, window ms.
#: Counts one failure in each counter, in a window that starts at the counter's
#: first failure and is never extended. Returns {failures in the window, window end
#: in ms} per counter, flattened: the new counts, from which the caller decides
#: (count first, then judge).
COUNT_FAILURE = Script(_COUNTERS + """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local result = {}
for _, key in ipairs(KEYS) do
  local count, ends = count_failure(key, now, window)
  result[#result + 1] = count
  result[#result + 1] = ends
end
return result
""")

#: KEYS: (subject, address) counter, subject counter, (subject, address) attempts in
#: flight (one slot); ARGV: now ms, hold ms, attempt id, failures allowed per address,
#: subject failures past which an address is allowed one.
#: Reserves a place for one attempt before its secret is checked: refused when the
#: address's failures in the window and its attempts in flight together reach its
#: allowance, so however many attempts arrive at once, at most the allowance reach
#: the check. Each attempt is a member scored by when its hold ends (the store's
#: clock): one that is never ended (a crashed worker) stops counting then, and the
#: set never holds more than the allowance. A resent reservation (lost reply) finds
#: its own member. Returns {1 reserved or 0 refused, failures, window end ms}.
RESERVE_ATTEMPT = Script(_COUNTERS + """
local now = tonumber(ARGV[1])
local failures, ends = read_counter(KEYS[1], now)
local overall = read_counter(KEYS[2], now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZSCORE', KEYS[3], ARGV[3]) then
  return {1, failures, ends}
end
local allowance = tonumber(ARGV[4])
if overall >= tonumber(ARGV[5]) then
  allowance = 1
end
if failures + redis.call('ZCARD', KEYS[3]) >= allowance then
  return {0, failures, ends}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return {1, failures, ends}
""")

#: KEYS: as RESERVE_ATTEMPT's; ARGV: attempt id, now ms, window ms ("0": not a failure).
#: Ends an attempt: frees its place and, for a failure, counts it in both counters (as
#: COUNT_FAILURE does), in one step. Returns {count, window end ms} of each counter
#: after it, flattened (0, 0 for a counter without a window running).
END_ATTEMPT = Script(_COUNTERS + """
redis.call('ZREM', KEYS[3], ARGV[1])
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local result = {}
for i = 1, 2 do
  local count, ends
  if window > 0 then
    count, ends = count_failure(KEYS[i], now, window)
  else
    count, ends = read_counter(KEYS[i], now)
  end
  result[#result + 1] = count
  result[#result + 1] = ends
end
return result
""")
