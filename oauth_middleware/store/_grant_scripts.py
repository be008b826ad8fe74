"""Lua scripts of the grant family: issue, redeem, rotate, revoke (DESIGN decision 4).

Every script touches the keys of one hash tag only, hence one cluster slot: one grant's
keys, or a client's record and index, or a subject's index and its displaced set
(:mod:`..keys` says why each operation is safe split that way). The exception, ``ISSUE``,
runs on a single node only, where every key is on one server: it issues a grant and
revokes those its subject's cap displaces in one step, as the cluster's scripts cannot.
TTL arguments are milliseconds; ``0`` means "never expires".
Scripts never see a raw token: keys carry digests and values are records.
"""

from __future__ import annotations

from oauth_middleware.store._cascade import EventedCascade, cascaded
from oauth_middleware.store._events import Evented
from oauth_middleware.store._gateway import Script

#: How long a swept grant's tombstone stays (ms): far longer than a grant write can be
#: in flight (a socket timeout and one retry), short enough that tombstones stay few.
TOMBSTONE_MS = 60_000

# Shared Lua helpers, prepended to the scripts that write grant members.
_ADD_MEMBER = """
local function add_member(members, key, value, ttl)
  if ttl > 0 then
    redis.call('SET', key, value, 'PX', ttl)
  else
    redis.call('SET', key, value)
  end
  local existed = redis.call('EXISTS', members)
  redis.call('SADD', members, key)
  if ttl == 0 then
    redis.call('PERSIST', members)
  else
    local current = redis.call('PTTL', members)
    if existed == 0 or (current >= 0 and current < ttl) then
      redis.call('PEXPIRE', members, ttl)
    end
  end
end
"""

# Returns the member keys it deleted, so the caller's local cache can drop them at once.
# ``delete_all`` deletes the set and its keys (one slot: the grant's tag) a few hundred per
# DEL: one call for a grant's handful of members, and never past Lua's stack for unpack.
_REVOKE_GRANT = """
local function delete_all(members, keys)
  redis.call('DEL', members, unpack(keys, 1, math.min(#keys, 500)))
  for i = 501, #keys, 500 do
    redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys)))
  end
end
local function revoke_grant(members)
  local keys = redis.call('SMEMBERS', members)
  delete_all(members, keys)
  return keys
end
"""

# Writes a brand-new grant's members (KEYS from ``first_key``, each with its value and TTL
# in ARGV from ``first_arg``) and its member set, which lives as long as its longest-lived
# member (for ever when one never expires): fewer calls than ``add_member``, which must
# extend a set that exists. A resent script (lost reply) writes the same again.
_WRITE_NEW = """
local function write_new(members, first_key, first_arg)
  local keys, longest = {}, 0
  for i = first_key, #KEYS do
    local at = first_arg + 2 * (i - first_key)
    local ttl = tonumber(ARGV[at + 1])
    if ttl > 0 then
      redis.call('SET', KEYS[i], ARGV[at], 'PX', ttl)
    else
      redis.call('SET', KEYS[i], ARGV[at])
    end
    if ttl == 0 or longest < 0 then
      longest = -1
    elseif ttl > longest then
      longest = ttl
    end
    keys[#keys + 1] = KEYS[i]
  end
  redis.call('SADD', members, unpack(keys))
  if longest > 0 then
    redis.call('PEXPIRE', members, longest)
  end
end
"""

#: Reads one field of a record; nil when the value is not a JSON object. Single use is
#: decided by that field, never by a record's bytes: a record written by another
#: version (one field more or less) is consumed like any other.
_FIELD = """
local function field(raw, name)
  local ok, record = pcall(cjson.decode, raw)
  if ok and type(record) == 'table' then
    return record[name]
  end
  return nil
end
"""

#: KEYS: consumed, members, new1[, new2]; ARGV: state field, consumed_value, value1, ttl1[, ...]
#: Single use of a code (state field ``used``) or of a schema-0 refresh token
#: (``rotated``): when the state field is not true, marks the record consumed and
#: issues the new members. Returns 1 (won), 0 (gone: expired or revoked), or a list
#: of the keys it deleted (already consumed: the grant is revoked, RFC 6749 §4.1.2
#: and RFC 9700 §4.14.2).
#: The client library resends a command whose reply was lost (one retry, see
#: connection.py); the resent script finds its own new access token (a fresh
#: random key no other attempt can write) and answers 1 again instead of taking
#: its own first run for a replay and revoking the grant it just issued.
CONSUME_AND_ISSUE = Script(_ADD_MEMBER + _REVOKE_GRANT + _FIELD + """
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 1
end
if field(current, ARGV[1]) == true then
  return revoke_grant(KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
for i = 3, #KEYS do
  add_member(KEYS[2], KEYS[i], ARGV[2 * i - 3], tonumber(ARGV[2 * i - 2]))
end
return 1
""")

#: Drops members that expired and, past ``keep`` access tokens (keys that start with
#: ``prefix``), deletes those closest to expiry, never-expiring ones last, and among
#: equals the oldest first (by their record's ``issued_at``: tokens issued within one
#: millisecond have the same PTTL); returns the keys it deleted.
_PRUNE = """
local function prune(members, prefix, keep)
  local live = {}
  for _, key in ipairs(redis.call('SMEMBERS', members)) do
    local ttl = redis.call('PTTL', key)
    if ttl == -2 then
      redis.call('SREM', members, key)
    elseif string.sub(key, 1, #prefix) == prefix then
      local issued = tonumber(field(redis.call('GET', key) or '', 'issued_at')) or 0
      if ttl < 0 then
        ttl = math.huge
      end
      live[#live + 1] = {key, ttl, issued}
    end
  end
  local deleted = {}
  if #live > keep then
    table.sort(live, function(a, b)
      return a[2] < b[2] or (a[2] == b[2] and a[3] < b[3])
    end)
    for i = 1, #live - keep do
      redis.call('DEL', live[i][1])
      redis.call('SREM', members, live[i][1])
      deleted[#deleted + 1] = live[i][1]
    end
  end
  return deleted
end
"""

#: KEYS: refresh record, members, new access token;
#: ARGV: digest, new record, record ttl, access value, access ttl, access key prefix,
#: access tokens to keep (``limits.GRANT_ACCESS_TOKENS``).
#: Rotates a grant's refresh token (schema 1, RFC 6749 §6, RFC 9700 §4.14.2): when the
#: record's ``digest`` is the presented token's, the record is rewritten in place for
#: the new token and the new access token joins the grant, after :data:`_PRUNE` made
#: room. The caller only presents a token it read as current, so a digest that
#: differs means a concurrent rotation won: a replay, and the grant is revoked.
#: Returns {1, evicted keys...} (won), {0} (gone) or {2, deleted keys...} (replay).
#: A resent script (lost reply) finds its own new access token and answers {1}.
ROTATE_REFRESH = Script(_ADD_MEMBER + _REVOKE_GRANT + _FIELD + _PRUNE + """
local current = redis.call('GET', KEYS[1])
if not current then
  return {0}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {1}
end
local digest = field(current, 'digest')
if type(digest) ~= 'string' then
  return {0}
end
local out
if digest ~= ARGV[1] then
  out = {2}
  for _, key in ipairs(revoke_grant(KEYS[2])) do
    out[#out + 1] = key
  end
  return out
end
out = {1}
for _, key in ipairs(prune(KEYS[2], ARGV[6], tonumber(ARGV[7]) - 1)) do
  out[#out + 1] = key
end
add_member(KEYS[2], KEYS[1], ARGV[2], tonumber(ARGV[3]))
add_member(KEYS[2], KEYS[3], ARGV[4], tonumber(ARGV[5]))
return out
""")

#: KEYS: members, key. Deletes one member (an access token), leaving the grant.
REMOVE_MEMBER = Script("""
redis.call('SREM', KEYS[1], KEYS[2])
return redis.call('DEL', KEYS[2])
""")

# Records the latest expiry of a grant in a user or client index, prunes expired grants
# and lets the index itself expire with its last grant. "Now" is Redis's clock (TIME), the
# one its keys expire by: the caller passes the grant's TTL, never an expiry from its own
# clock, so a process whose clock runs ahead cannot prune other hosts' live grants, nor
# one running behind let the index expire before its own grants. The score is that now
# (to the microsecond, so grants of one lifetime are evicted in the order they were
# issued) plus the TTL, at most "never". An entry is pruned a second after its score, as
# the index outlives its last entry by a second: a member's own expiry is taken a little
# later than this TIME, never earlier. PEXPIREAT gets whole milliseconds as an integer
# string: a float such as 1e+23 (a score an older version could store) is refused by
# PEXPIREAT and would fail every later grant of this index.
_INDEX_ADD = """
local function redis_now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local function index_add(index, grant, ttl_ms, never_ms, now)
  local never = tonumber(never_ms)
  local ttl = tonumber(ttl_ms)
  local expiry = never
  if ttl ~= 0 then
    expiry = math.min(now + ttl, never)
  end
  local current = redis.call('ZSCORE', index, grant)
  if (not current) or tonumber(current) < expiry then
    redis.call('ZADD', index, string.format('%.3f', expiry), grant)
  end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', string.format('(%d', math.floor(now) - 1000))
  local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if top[2] then
    local latest = math.min(math.floor(tonumber(top[2])), never)
    redis.call('PEXPIREAT', index, string.format('%d', latest + 1000))
  end
end
"""

#: KEYS: index; ARGV: grant id, TTL ms of its longest-lived member (0: never), "never" ms
#: (``keys.NEVER_MS``). Indexes a grant (see ``_INDEX_ADD``).
INDEX_ADD = Script(_INDEX_ADD + """
index_add(KEYS[1], ARGV[1], ARGV[2], ARGV[3], redis_now())
return 1
""")

#: Whose grant it is, read from the first record among its member ``keys``: {client id,
#: subject, subject type}, '' for each when no member is left.
_OWNER = """
local function owner(keys)
  for _, key in ipairs(keys) do
    local ok, record = pcall(cjson.decode, redis.call('GET', key) or '')
    if ok and type(record) == 'table' and type(record['client_id']) == 'string' then
      return {record['client_id'], tostring(record['subject']), tostring(record['subject_type'])}
    end
  end
  return {'', '', ''}
end
"""

#: KEYS: members, tombstone, key1[, key2 ...]; ARGV: value1, ttl1[, value2, ttl2 ...]
#: Writes a new grant's members (RFC 6749 §4-5), unless a sweep has left the grant's
#: tombstone (``SWEEP_GRANT``): its client was removed, or its subject logged out, after
#: the issuer indexed it and before this write arrived (on a cluster the index and the
#: grant are on different nodes, in no fixed order). Returns 1, or 0 when refused.
WRITE_GRANT = Script(_WRITE_NEW + """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
write_new(KEYS[1], 3, 1)
return 1
""")

#: KEYS: client, client index; ARGV: check ("1" or "0"), generation, grant id, index TTL ms
#: (0: never; see ``_INDEX_ADD``), never ms.
#: Indexes a new grant under its client, but only while the client is registered with the
#: generation the issuer authenticated (``check`` "0": no client check, for tokens of no
#: registered client); both keys carry the client's hash tag. Removing a client deletes its
#: record first, so every issue either ran this before that, and is indexed for the
#: removal's sweep to find, or is refused: returns 1 (indexed) or 0 (client gone).
_CLIENT_STANDS = """
local function client_stands(key, check, expected)
  if check ~= '1' then
    return true
  end
  local raw = redis.call('GET', key)
  if not raw then
    return false
  end
  local ok, client = pcall(cjson.decode, raw)
  local generation = ok and type(client) == 'table' and client['generation'] or ''
  return type(generation) == 'string' and generation == expected
end
"""
CLIENT_INDEX = Script(_INDEX_ADD + _CLIENT_STANDS + """
if not client_stands(KEYS[1], ARGV[1], ARGV[2]) then
  return 0
end
index_add(KEYS[2], ARGV[3], ARGV[4], ARGV[5], redis_now())
return 1
""")

#: KEYS: subject index, its displaced set (``keys.displaced``); ARGV: grant id, index TTL ms,
#: never ms, cap, evictions at most (``limits.ISSUE_EVICTIONS``).
#: Indexes a new grant under its subject and, past ``cap`` entries, moves those with the
#: lowest score (the earliest expiry by Redis's clock), never the grant just added and at
#: most ``most`` of them, into the displaced set, in the same step: an index within the cap
#: stays within it however many issue at once. Returns the displaced grant ids, which the
#: issuer then revokes (their keys are in other slots) and only then drops from the
#: displaced set, so a displaced grant is always in one of the two: a sweep of the subject
#: (``revoke_user``) walks both, and an interrupted issuer leaves nothing alive unindexed.
_SUBJECT_ADD = """
local function subject_add(index, out_key, grant, ttl_ms, never_ms, cap, most, now)
  index_add(index, grant, ttl_ms, never_ms, now)
  local out = {}
  local over = math.min(redis.call('ZCARD', index) - tonumber(cap), tonumber(most))
  if over <= 0 then
    return out
  end
  for _, entry in ipairs(redis.call('ZRANGE', index, 0, over, 'WITHSCORES')) do
    out[#out + 1] = entry
  end
  local displaced = {}
  for i = 1, #out, 2 do
    if over > 0 and out[i] ~= grant then
      redis.call('ZREM', index, out[i])
      redis.call('ZADD', out_key, out[i + 1], out[i])
      displaced[#displaced + 1] = out[i]
      over = over - 1
    end
  end
  local top = redis.call('ZRANGE', out_key, -1, -1, 'WITHSCORES')
  if top[2] then
    local latest = math.min(math.floor(tonumber(top[2])), tonumber(never_ms))
    redis.call('PEXPIREAT', out_key, string.format('%d', math.max(latest, now) + 1000))
  end
  return displaced
end
"""
SUBJECT_INDEX = Script(_INDEX_ADD + _SUBJECT_ADD + """
return subject_add(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], redis_now())
""")

#: KEYS: client, client index, own index; ARGV: as ``ISSUE``'s first seven, then the ids
#: of grants swept already that the client index still names (``_sweep``: a previous
#: issue's displaced grants; none or up to ``limits.DEFERRED_UNINDEX``).
#: ``CLIENT_INDEX`` and ``SUBJECT_INDEX`` as one step for a client acting for itself
#: (client credentials), whose two indexes share the client's hash tag: nothing is indexed
#: unless the client stands. The grants past the cap leave the own index only: the client
#: index, which a sweep of the client's grants walks (``revoke_client_tokens``), keeps
#: them until the issuer has revoked them, so no displaced set is needed to keep them in
#: reach; the issuer's next issue drops them from it here. Returns {indexed, displaced}.
INDEXES = Script(_INDEX_ADD + _CLIENT_STANDS + """
if #ARGV > 7 then
  redis.call('ZREM', KEYS[2], unpack(ARGV, 8))
end
if not client_stands(KEYS[1], ARGV[1], ARGV[2]) then
  return {0, {}}
end
local now = redis_now()
index_add(KEYS[2], ARGV[3], ARGV[4], ARGV[5], now)
index_add(KEYS[3], ARGV[3], ARGV[4], ARGV[5], now)
local over = math.min(redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[6]), tonumber(ARGV[7]))
local displaced = {}
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, over)) do
    if #displaced < over and old ~= ARGV[3] then
      displaced[#displaced + 1] = old
    end
  end
  redis.call('ZREM', KEYS[3], unpack(displaced))
end
return {1, displaced}
""")

#: Past ``cap`` entries of a subject's index, revokes those with the lowest score (the
#: earliest expiry by Redis's clock), never ``grant`` (the one just added) and at most
#: ``most`` of them, there and then: their keys, their entries here and in their client's
#: index (``heads``: what the members, children and client index keys of an id start
#: with). For a single node only, where every key is on this server: a cluster moves them
#: to the displaced set instead (``SUBJECT_INDEX``). Returns {deleted keys, revoked grant
#: ids, the ids exchanged from each (RFC 8693), for the caller to revoke in turn, and
#: {grant, client, subject, subject type} of each, for their audit events (``_cascade``)}.
_DISPLACE = """
local function displace(index, grant, cap, most, heads)
  local deleted, revoked, children, gone = {}, {}, {}, {}
  local over = math.min(redis.call('ZCARD', index) - tonumber(cap), tonumber(most))
  if over <= 0 then
    return {deleted, revoked, children, gone}
  end
  for _, old in ipairs(redis.call('ZRANGE', index, 0, over)) do
    if over > 0 and old ~= grant then
      local members = heads[1] .. old .. '}'
      local keys = redis.call('SMEMBERS', members)
      local whose = owner(keys)
      local client = whose[1]
      gone[#gone + 1] = {old, whose[1], whose[2], whose[3]}
      delete_all(members, keys)
      for _, key in ipairs(keys) do
        deleted[#deleted + 1] = key
      end
      redis.call('ZREM', index, old)
      if client ~= '' then
        redis.call('ZREM', heads[3] .. client .. '}', old)
      end
      revoked[#revoked + 1] = old
      children[#children + 1] = redis.call('ZRANGE', heads[2] .. old .. '}', 0, -1)
      over = over - 1
    end
  end
  return {deleted, revoked, children, gone}
end
"""

#: KEYS: members, tombstone, client, client index, subject index, key1[, key2 ...];
#: ARGV: check, generation, grant id, index TTL ms, never ms, cap, evictions at most,
#: members head, children head, client index head (``keys.Keys.heads``),
#: value1, ttl1[, value2, ttl2 ...].
#: ``WRITE_GRANT``, ``CLIENT_INDEX`` and ``SUBJECT_INDEX`` as one step, for a single node
#: (every key on one server; a cluster runs the three), which revokes what the cap
#: displaces in the same step (``_DISPLACE``), as before cluster support: nothing is
#: written when the tombstone exists or the client does not stand. Returns {written,
#: indexed, deleted keys, displaced grant ids, the ids exchanged from each, whose each
#: was}.
ISSUE = Script(_WRITE_NEW + _INDEX_ADD + _CLIENT_STANDS + _REVOKE_GRANT + _OWNER + _DISPLACE
               + """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {0, 1, {}, {}, {}, {}}
end
if not client_stands(KEYS[3], ARGV[1], ARGV[2]) then
  return {1, 0, {}, {}, {}, {}}
end
write_new(KEYS[1], 6, 11)
local now = redis_now()
index_add(KEYS[4], ARGV[3], ARGV[4], ARGV[5], now)
index_add(KEYS[5], ARGV[3], ARGV[4], ARGV[5], now)
local gone = displace(KEYS[5], ARGV[3], ARGV[6], ARGV[7], {ARGV[8], ARGV[9], ARGV[10]})
return {1, 1, gone[1], gone[2], gone[3], gone[4]}
""")

#: KEYS: members, tombstone, children; ARGV: tombstone TTL ms. Deletes every key of the
#: grant, leaves its tombstone (``WRITE_GRANT`` then refuses a write of it that arrives
#: late), and says whose grant it was (``_OWNER``), read before deleting, and which grants
#: were exchanged from it (``children``, read after: a link that comes later finds its
#: subject token gone, :mod:`._exchange`): {client id, subject, subject type, deleted keys,
#: children}, so a sweep of one index prunes the grant from the other index too, and
#: revokes its children next.
SWEEP_GRANT = Script(_REVOKE_GRANT + _OWNER + """
local keys = redis.call('SMEMBERS', KEYS[1])
local whose = owner(keys)
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
delete_all(KEYS[1], keys)
return {whose[1], whose[2], whose[3], keys, redis.call('ZRANGE', KEYS[3], 0, -1)}
""")

#: KEYS: members, tombstone; ARGV: tombstone TTL ms, user id, client id ('' = any client).
#: ``SWEEP_GRANT`` for a person revoking their own grant (the connected-apps page): it
#: sweeps only when every live record of the grant names that user as a *user* (a client
#: acting for itself never is one, whatever its id) and, when given, that client. The
#: check and the sweep are one step in the grant's slot; a grant of anyone else is left
#: untouched, tombstone included. Returns 0 (not theirs, or gone) or SWEEP_GRANT's reply.
SWEEP_OWNED = Script(_REVOKE_GRANT + """
local found = false
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local ok, record = pcall(cjson.decode, redis.call('GET', key) or '')
  if ok and type(record) == 'table' and type(record['client_id']) == 'string' then
    local kind = record['subject_type']
    if record['subject'] ~= ARGV[2] or (kind ~= nil and kind ~= 'user')
        or (ARGV[3] ~= '' and record['client_id'] ~= ARGV[3]) then
      return 0
    end
    found = record['client_id']
  end
end
if not found then
  return 0
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return {found, ARGV[2], 'user', revoke_grant(KEYS[1])}
""")

# The same scripts appending their audit event on one server (``_events.Evented``); the
# Lua after each name tells the change made (1) from a replay refused (2) by the reply ``r``.
#: Issued: written and indexed.
_ISSUED = "(tonumber(r[1]) == 1 and tonumber(r[2]) == 1) and 1 or 0"
ISSUE_EVENTED = Evented(ISSUE, _ISSUED)
#: Issuing, and the grants it displaced past the cap (``_cascade``), each its event.
ISSUE_CASCADED = EventedCascade(ISSUE, "r[6]", _ISSUED)
#: 1 won; a list of deleted keys: a replay.
CONSUME_AND_ISSUE_EVENTED = Evented(
    CONSUME_AND_ISSUE, "(r == 1) and 1 or (type(r) == 'table' and 2 or 0)")
#: ``{1, ...}`` won, ``{2, ...}`` a replay.
ROTATE_REFRESH_EVENTED = Evented(ROTATE_REFRESH, "tonumber(r[1])")
#: Revoking one access token: 1 when it was there.
REMOVE_MEMBER_EVENTED = Evented(REMOVE_MEMBER, "(tonumber(r) == 1) and 1 or 0")
#: Revoking a grant: always recorded (a grant already gone is revoked all the same).
SWEEP_GRANT_EVENTED = Evented(SWEEP_GRANT, "1")
#: Sweeping a grant that went with another change (``_cascade``): its event, if it was
#: there.
SWEEP_GRANT_CASCADED = cascaded(SWEEP_GRANT, "{{__grant, r[1], r[2], r[3]}}")
