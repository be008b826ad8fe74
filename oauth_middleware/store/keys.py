"""Every Redis key the project uses (DESIGN decisions 2, 3 and 5).

No other module spells a key. ``P`` is the store's prefix (default ``om:``);
``{g}`` is a grant id inside a Redis Cluster hash tag, so every key of one
grant lives in one slot and the Lua scripts that rotate, redeem and revoke a
grant touch one slot only. ``<sha>`` is the SHA-256 hex digest of a raw
token, code or transaction id: raw values are never stored.

Only a grant's keys share a hash tag; other keys that change together do not.
A client record and the ``clients`` set, or a grant and its ``idx:user`` and
``idx:client`` entries, are written by one non-transactional pipeline across
slots (the index first, so revocation never misses a grant), and revocation
prunes the index in a later command. The store uses a plain, non-cluster Redis
client: on Redis Cluster, a cluster client would have to split those pipelines
by slot.

=============================  ======  ===============================  =================
key                            type    value                            TTL
=============================  ======  ===============================  =================
P client:<client_id>           string  JSON client (secret as a hash)   none
P clients                      set     every client id                  none
P scopes                       hash    identifier -> JSON title/enabled none
P at:{g}:<sha>                 string  JSON access token record         token lifetime
P rt:{g}:<sha>                 string  JSON refresh token record        refresh lifetime
P code:{g}:<sha>               string  JSON authorization code record   code lifetime
P members:{g}                  set     every key above of grant g       longest member
P idx:user:<sha(user)>         zset    grant id -> expiry (ms)          latest expiry
P idx:client:<client_id>       zset    grant id -> expiry (ms)          latest expiry
P txn:<sha>                    string  JSON pending authorization       consent lifetime
P throttle:<bucket>:<sha>      hash    count, ends (window end, ms)     throttle window
P cache:generation             string  random; only with local_cache    none
=============================  ======  ===============================  =================

A consent transaction, once taken, stays 60 s as ``taken:<attempt id>:<JSON>`` so
that a resent take by the same attempt still finds it (``scripts.TAKE_PENDING``).

Client ids are restricted to URL-safe characters at registration, so they are
safe inside a key; user ids are free text and appear only as a digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from oauth_middleware.security import digest

#: Prefix of every key unless the store is given another one.
DEFAULT_PREFIX = "om:"
#: Index score used for grants that never expire (ms; far beyond any real expiry).
NEVER_MS = 2**52


def _throttle(prefix: str, bucket: str, key: str) -> str:
    return f"{prefix}throttle:{bucket}:{digest(key)}"


#: Every token-family request names two counters of its client, so recent names are kept
#: (bounded: 4096 names of keys up to ``_MEMO_KEY`` characters; longer keys are not kept).
_throttle_memo = lru_cache(maxsize=4096)(_throttle)
_MEMO_KEY = 128


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def client(self, client_id: str) -> str:
        return f"{self.prefix}client:{client_id}"

    @property
    def clients(self) -> str:
        return f"{self.prefix}clients"

    @property
    def scopes(self) -> str:
        return f"{self.prefix}scopes"

    def access(self, grant_id: str, sha: str) -> str:
        return f"{self.prefix}at:{{{grant_id}}}:{sha}"

    def refresh(self, grant_id: str, sha: str) -> str:
        return f"{self.prefix}rt:{{{grant_id}}}:{sha}"

    def code(self, grant_id: str, sha: str) -> str:
        return f"{self.prefix}code:{{{grant_id}}}:{sha}"

    def members(self, grant_id: str) -> str:
        return f"{self.prefix}members:{{{grant_id}}}"

    def user_index(self, user: str) -> str:
        return f"{self.prefix}idx:user:{digest(user)}"

    def client_index(self, client_id: str) -> str:
        return f"{self.prefix}idx:client:{client_id}"

    def subject_index(self, subject: str, subject_type: str) -> str:
        """Client-credentials grants are indexed under the client, user grants under the user."""
        if subject_type == "client":
            return self.client_index(subject)
        return self.user_index(subject)

    def pending(self, sha: str) -> str:
        return f"{self.prefix}txn:{sha}"

    def throttle(self, bucket: str, key: str) -> str:
        if len(key) > _MEMO_KEY:
            return _throttle(self.prefix, bucket, key)
        return _throttle_memo(self.prefix, bucket, key)

    @property
    def access_prefix(self) -> str:
        """Prefix shared by every access-token key (the local cache tracks it)."""
        return f"{self.prefix}at:"

    @property
    def tracked_prefixes(self) -> tuple[str, ...]:
        """What the local cache keeps, and Redis invalidates: access tokens, clients, the
        scope registry (none is a prefix of another, as Redis requires). Not throttle
        counters: unauthenticated requests write them, and every write of a tracked key
        is a message to every worker."""
        return (self.access_prefix, f"{self.prefix}client:", self.scopes)

    @property
    def cache_generation(self) -> str:
        """A random value the local cache compares to notice a swapped database."""
        return f"{self.prefix}cache:generation"

    @property
    def access_pattern(self) -> str:
        """SCAN pattern matching every access-token key."""
        return f"{self.prefix}at:*"

    def is_access(self, key: str) -> bool:
        return key.startswith(f"{self.prefix}at:{{")
