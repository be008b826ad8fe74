"""``uvicorn --factory tests.admin.demo_server:create_app``: the demo on a real Redis.

The browser test starts it with ``REDIS_URL`` (the session's redis-server, so the
test can inspect the store) and ``DEMO_PORT`` (so the demo's URLs name its port).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from demo.app import create_app as create_demo
from oauth_middleware import TokenStore


def create_app() -> Starlette:
    base_url = f"http://127.0.0.1:{os.environ['DEMO_PORT']}"
    return create_demo(base_url=base_url, store=TokenStore.from_url(os.environ["REDIS_URL"]))
