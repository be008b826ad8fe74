"""Pending consent decisions: server-side transactions, single use (RFC 6749 §10.12).

They expire through Redis TTL; nothing ever cleans them up.
"""

from __future__ import annotations

from oauth_middleware.limits import MAX_PENDING, PENDING_LIFETIME, TAKEN_LIFETIME
from oauth_middleware.models import PendingAuthorization
from oauth_middleware.security import digest, new_secret
from oauth_middleware.store._codec import dump, load
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._gateway import Script, evalsha

#: KEYS: pending, the user's pending index; ARGV: record, TTL ms, transaction digest,
#: cap, key prefix of the user's transactions, now ms. Returns how many it dropped.
#: Stores a pending consent and keeps the user's live ones at most ``cap``: the index
#: forgets transactions that expired, then drops the oldest (record and entry) until
#: the new one fits. Scores only grow, so "oldest" holds within one millisecond too.
PUT_PENDING = Script("""
local index, ttl, cap = KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[4])
for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  if redis.call('EXISTS', ARGV[5] .. member) == 0 then
    redis.call('ZREM', index, member)
  end
end
local over = redis.call('ZCARD', index) - cap + 1
if over > 0 then
  for _, member in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do
    redis.call('DEL', ARGV[5] .. member)
  end
  redis.call('ZREMRANGEBYRANK', index, 0, over - 1)
else
  over = 0
end
local score = tonumber(ARGV[6])
local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= score then
  score = tonumber(last[2]) + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', index, score, ARGV[3])
if redis.call('PTTL', index) < ttl then
  redis.call('PEXPIRE', index, ttl)
end
return over
""")

#: KEYS: pending, the user's pending index; ARGV: attempt id, tombstone TTL ms,
#: transaction digest.
#: Takes a pending consent once (what GETDEL did), leaving a short-lived tombstone
#: ``taken:<attempt>:<record>`` instead of nothing: when the client library resends
#: the command after a lost reply, the same attempt gets its record again, while
#: every other attempt finds the transaction gone. Whatever the outcome, the
#: transaction leaves the user's index: it no longer counts against the cap.
#: The tombstone is the script's first write: a full Redis refuses a script's first
#: write that needs memory, and with it the whole take, so a decision refused for lack
#: of memory leaves its form usable (a ZREM first would let the SET through).
TAKE_PENDING = Script("""
local value = redis.call('GET', KEYS[1])
local mark = 'taken:' .. ARGV[1] .. ':'
local taken = value and string.sub(value, 1, 6) == 'taken:'
if value and not taken then
  redis.call('SET', KEYS[1], mark .. value, 'PX', tonumber(ARGV[2]))
end
redis.call('ZREM', KEYS[2], ARGV[3])
if not value then
  return false
end
if taken then
  if string.sub(value, 1, #mark) == mark then
    return string.sub(value, #mark + 1)
  end
  return false
end
return value
""")


class Consent:
    """One user's pending authorizations, under that user's hash tag."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys

    async def put_pending(
        self, pending: PendingAuthorization, *, lifetime: int = PENDING_LIFETIME,
        cap: int = MAX_PENDING,
    ) -> str:
        """Store a pending authorization; returns its transaction id (stored only as a digest).

        One script stores it and, past ``cap`` live transactions of the same user,
        drops the oldest: concurrent requests cannot overshoot the cap.
        """
        txn_id, user = new_secret(), pending.user
        sha = digest(txn_id)
        names = [self._keys.pending(user, sha), self._keys.pending_index(user)]
        args = [dump(pending), ttl_ms(lifetime), sha, cap, self._keys.pending_prefix(user),
                self._ctx.now_ms()]
        await self._gateway.one(evalsha(PUT_PENDING, names, args), PUT_PENDING)
        return txn_id

    async def take_pending(self, txn_id: str, *, user: str) -> PendingAuthorization | None:
        """Fetch and retire ``user``'s transaction in one atomic step: a decision can be
        made once, and a resend of the same attempt (a lost reply) still gets its record.
        Another user's transaction id finds nothing: keys live under their user."""
        sha = digest(txn_id)
        names = [self._keys.pending(user, sha), self._keys.pending_index(user)]
        args = [new_secret(), ttl_ms(TAKEN_LIFETIME), sha]
        raw = await self._gateway.one(evalsha(TAKE_PENDING, names, args), TAKE_PENDING)
        return None if raw is None else load(PendingAuthorization, raw)
