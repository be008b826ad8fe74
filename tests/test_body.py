"""The body the middleware reads ahead for a form token, capped and replayed (RFC 6750 §2.2).

ASGI delivers a body in any number of ``http.request`` messages, each with
optional ``body`` (default empty) and ``more_body`` (default false) keys; the
cap holds over all of them together, and the app gets every message back as sent.
"""

from __future__ import annotations

import json

import pytest
from starlette.types import Message

from oauth_middleware.body import ReplayedBody
from oauth_middleware.store import NewTokens, TokenStore
from tests.apps import build_app
from tests.raw_asgi import call

FORM = (b"content-type", b"application/x-www-form-urlencoded")


def _inbox(*messages: Message) -> ReplayedBody:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    return ReplayedBody(receive)


async def test_a_body_with_optional_keys_left_out_is_read_whole_and_replayed_as_sent() -> None:
    first: Message = {"type": "http.request", "body": b"a=1&", "more_body": True}
    middle: Message = {"type": "http.request", "more_body": True}  # no body: empty
    last: Message = {"type": "http.request", "body": b"b=2"}  # no more_body: the end
    body = _inbox(first, middle, last)
    assert await body.read(100) == b"a=1&b=2"
    assert [await body() for _ in range(4)] == [first, middle, last, {"type": "http.disconnect"}]


async def test_the_cap_holds_over_all_chunks_together_and_the_rest_stays_unread() -> None:
    chunk: Message = {"type": "http.request", "body": b"x" * 10, "more_body": True}
    last: Message = {**chunk, "more_body": False}
    body = _inbox(chunk, chunk, chunk, last)
    assert await body.read(25) is None
    assert body.chunks == [chunk, chunk, chunk]  # up to the one that crossed the cap
    assert await body.receive() == last
    exact = _inbox(chunk, chunk, last)
    assert await exact.read(30) == b"x" * 30


async def test_a_disconnect_before_the_end_is_no_body() -> None:
    body = _inbox({"type": "http.request", "body": b"a=1", "more_body": True})
    assert await body.read(100) is None


@pytest.mark.rule("abuse.caps", "resource.form-body", "resource.app-not-called")
async def test_a_form_body_streamed_in_small_chunks_is_capped_on_its_total(
    store: TokenStore,
) -> None:
    app = build_app(store, max_body_size=64)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:vote"})))
    body = f"access_token={issued.access_token}&choice=1&pad=".encode().ljust(65, b"a")
    chunks = [body[i:i + 8] for i in range(0, len(body), 8)]
    refused = await call(app, "POST", "/polls/1/vote", headers=[FORM], chunks=chunks)
    assert refused.status == 413
    assert json.loads(refused.body)["error"] == "invalid_request"
    assert app.state.calls == []
