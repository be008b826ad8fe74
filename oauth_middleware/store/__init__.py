"""The token store: every piece of OAuth state, in Redis (DESIGN decisions 1-5).

``TokenStore.from_url(url)`` talks to a Redis server; ``TokenStore.from_url(None)``
gives the embedded in-process store (fakeredis) driven through the same code,
scripts and key schema. ``__all__`` below is the package's contract; every other
name is internal.

Module map (data flows down; only ``_gateway`` imports redis-py):

* ``_store``: :class:`TokenStore`, the façade; one line per operation, delegating to
* the repositories, each owning its keys and Lua scripts:
  ``_grants`` (issue, codes, refresh rotation; scripts in ``_grant_scripts``),
  ``_tokens`` (resolve, look up, list), ``_revocation`` (one token, a grant, a user's
  or a client's grants), ``_clients`` (registry + its script), ``_scopes``,
  ``_consent`` (pending authorizations + scripts), ``_device`` (device authorization
  requests, RFC 8628), ``_pushed`` (pushed authorization requests, RFC 9126, through the
  consent scripts), ``_keys`` (sealed signing keys),
  ``_throttle`` (counters; scripts in ``_throttle_scripts``), ``_authn`` (the token
  family's one read per request),
  ``_documents`` (clients known by a metadata document, and their fetch state),
  ``_exchange`` (exchanged grants linked to their parents, revoked with them),
  ``_connected`` (a person's own grants, listed and revoked by that person);
  ``_events`` (the audit trail's bounded stream), ``_cascade`` (the events of grants a
  change takes with it: exchanged from a revoked one, displaced past a cap);
* shared by them: ``_minting`` (values and records of a new grant), ``_generations``
  (which refresh token a value is), ``_codec`` (records as JSON, versioned),
  ``_context`` (gateway + keys + clock), ``keys`` (the key schema, in its docstring);
* ``_gateway``: the Redis gateway (connection from every URL form in ``urls``,
  timeouts and the 503 mapping, pipelining, ``WAIT`` after durable writes (``durability``),
  the per-tick lookup batch, the invalidating local cache, the configuration check in
  ``health``, readiness checks and failure counts in ``monitoring``);
* ``_transfer``, ``_transfer_write``, ``_records``: export, import and copy (JSON lines).

Lifetimes and limits are in :mod:`oauth_middleware.limits`.
"""

from oauth_middleware.limits import (
    CODE_LIFETIME,
    MAX_LIFETIME,
    PENDING_LIFETIME,
    REFRESH_LIFETIME,
)
from oauth_middleware.store._authn import ClientRead, Lookahead, ScopeSnapshot
from oauth_middleware.store._context import Clock, Progress
from oauth_middleware.store._device import DeviceRequest
from oauth_middleware.store._events import Cascade, Cause, StreamEvent
from oauth_middleware.store._exchange import ChainFull
from oauth_middleware.store._gateway import StoreNotDurable, StoreRefused, StoreUnavailable
from oauth_middleware.store._gateway.health import RedisHealth, UnsafeRedis
from oauth_middleware.store._gateway.monitoring import CHECKS, StoreStats
from oauth_middleware.store._gateway.urls import RedisURLError
from oauth_middleware.store._keys import MAX_SIGNING_KEYS, KeyRecords, SealedKey
from oauth_middleware.store._minting import ClientRemoved, NewTokens
from oauth_middleware.store._store import TokenStore

__all__ = [
    "CHECKS",
    "CODE_LIFETIME",
    "MAX_LIFETIME",
    "MAX_SIGNING_KEYS",
    "PENDING_LIFETIME",
    "REFRESH_LIFETIME",
    "Cascade",
    "Cause",
    "ChainFull",
    "ClientRead",
    "ClientRemoved",
    "Clock",
    "DeviceRequest",
    "KeyRecords",
    "Lookahead",
    "NewTokens",
    "Progress",
    "RedisHealth",
    "RedisURLError",
    "ScopeSnapshot",
    "SealedKey",
    "StoreNotDurable",
    "StoreRefused",
    "StoreStats",
    "StoreUnavailable",
    "StreamEvent",
    "TokenStore",
    "UnsafeRedis",
]
