"""One HTTP request straight into an ASGI app, with bytes no HTTP client would send.

httpx refuses NUL bytes and non-ASCII in headers, re-encodes query strings and
logs every URL it requests; the fuzzing, size-limit and log-hygiene tests need
none of that, so they call the app as a server would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message

Headers = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The single value of ``name`` (latin-1), None when absent."""
        found = [v for k, v in self.headers if k.lower() == name.lower().encode()]
        assert len(found) <= 1, f"{name} sent {len(found)} times"
        return found[0].decode("latin-1") if found else None

    def header_list(self, name: str) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers
                if k.lower() == name.lower().encode()]


async def call(
    app: ASGIApp, method: str, path: str, *, query: bytes = b"", headers: Headers = (),
    body: bytes = b"", chunks: Sequence[bytes] | None = None, scheme: str = "https",
    disconnect: bool = False,
) -> RawResponse:
    """Send one request (``body`` in one message, or ``chunks`` streamed) and collect the
    answer; the app must answer completely. ``disconnect``: the body is announced to go
    on, then the client goes away (``http.disconnect``)."""
    pending = [*(chunks if chunks is not None else [body])]
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk,
                    "more_body": bool(pending) or disconnect}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": scheme, "server": ("testserver", 443), "client": ("127.0.0.1", 50000),
        "path": path, "raw_path": path.encode("utf-8", "surrogateescape"), "root_path": "",
        "query_string": query, "headers": [(b"host", b"testserver"), *headers],
    }
    await app(scope, receive, send)
    assert sent and sent[0]["type"] == "http.response.start", sent
    body_out = b"".join(m.get("body", b"") for m in sent[1:])
    assert not sent[-1].get("more_body", False), "the answer never ended"
    return RawResponse(sent[0]["status"], list(sent[0].get("headers", [])), body_out)
