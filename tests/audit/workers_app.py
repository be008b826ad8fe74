"""``uvicorn --factory tests.audit.workers_app:app``: the token endpoint with an audit trail,
a client cap of 3 grants (every issue past it displaces one) and each answer naming its
worker (``x-worker-pid``); reads ``REDIS_URL``."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from oauth_middleware.audit import AuditTrail
from oauth_middleware.store import TokenStore
from tests.cache_app import WorkerPid
from tests.server.token_harness import build_app

#: The client's own grants kept: the fourth issue displaces the oldest.
CAP = 3


def app() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"], max_grants_per_client=CAP)
    built = build_app(store, audit=AuditTrail(store))
    built.add_middleware(WorkerPid)
    return built
