"""The examples accept plain HTTP from this machine only, however their issuer is spelled.

They used to turn debug mode on whenever their issuer was ``http://`` (the FastAPI
one) or named loopback (Flask, Django), written before plain HTTP from this machine
needed no flag. Debug mode accepts plain HTTP from anywhere: started with
``--host 0.0.0.0`` (a container, a VM) with the default issuer, each example served
tokens, client secrets and its API in the clear to the whole network.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tests.raw_asgi import RawResponse

#: In-process only: importing the Django example would configure Django's settings for the
#: whole test session (the docs pages configure their own).
EXAMPLES = ["examples.fastapi_app:app", "examples.flask_app:app"]
#: An ordinary remote client, addressing the server by the loopback name it was told.
REMOTE = ("203.0.113.9", 40000)


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


async def _call(app: Any, method: str, path: str, client: tuple[str, int],
                body: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = ()
                ) -> RawResponse:
    sent: list[dict[str, Any]] = []
    pending = [body]

    async def receive() -> dict[str, Any]:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "server": ("127.0.0.1", 8000),
             "client": client, "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": [(b"host", b"127.0.0.1:8000"), *headers]}
    await app(scope, receive, send)
    start = sent[0]
    return RawResponse(start["status"], list(start.get("headers", [])),
                       b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.mark.rule("transport.https", "transport.local-http")
@pytest.mark.parametrize("target", EXAMPLES)
async def test_an_example_refuses_plain_http_from_another_machine(
    target: str,
) -> None:
    app = _load(target)
    items = await _call(app, "GET", "/items", REMOTE,
                        headers=((b"authorization", b"Bearer whatever-token"),))
    token = await _call(app, "POST", "/oauth/token/", REMOTE,
                        b"grant_type=client_credentials&scope=items%3Aread",
                        ((b"content-type", b"application/x-www-form-urlencoded"),
                         (b"authorization", b"Basic ZXhhbXBsZS1zZXJ2aWNlOnNlY3JldA==")))
    for answer in (items, token):
        assert answer.status == 400, answer.body
        assert answer.body.startswith(b'{"error": "invalid_request", "error_description": '
                                      b'"HTTPS is required."'), answer.body
        assert answer.header("cache-control") == "no-store"
    assert items.header("www-authenticate") == (
        'Bearer realm="api", error="invalid_request", error_description="HTTPS is required."')

