"""Helpers of the audit tests: a server with a trail, the stream as events, secret checks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette

from oauth_middleware.audit import AuditTrail, Event
from oauth_middleware.store import TokenStore
from tests.server.authorize_harness import WEB_REDIRECT
from tests.server.token_harness import build_app
from tests.store_helpers import redis_of

#: A code request of the seeded ``web`` client at ``auth/``.
WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read polls:vote", "state": "s"}


def audited_app(store: TokenStore, trail: AuditTrail, **options: Any) -> Starlette:
    return build_app(store, audit=trail, **options)


async def events(store: TokenStore) -> list[Event]:
    """Every event of the stream, oldest first."""
    page, found = await AuditTrail(store).page(count=1000)
    assert found is None or len(page) < 1000
    return list(reversed(page))


async def raw_stream(store: TokenStore) -> str:
    """The whole stream as Redis holds it, serialized, for grepping."""
    redis: Any = redis_of(store)
    entries = await redis.xrange(store.keys.events)
    return json.dumps([[i.decode(), {k.decode(): v.decode() for k, v in f.items()}]
                       for i, f in entries])


def assert_absent(secrets: Iterable[str], *texts: str) -> None:
    for secret in secrets:
        assert secret, "a test secret must not be empty"
        for text in texts:
            assert secret not in text


def log_text(records: Iterable[logging.LogRecord]) -> str:
    return "\n".join(f"{r.getMessage()} {getattr(r, 'audit_event', '')}" for r in records)
