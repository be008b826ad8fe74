"""A request body read ahead by the middleware and replayed to the app unchanged.

RFC 6750 §2.2 puts a token in a form-encoded body, so the middleware must read
the body before the app does. It reads at most a cap (a larger body is refused,
its rest left unread) and then hands the app the very messages it received, in
order, before passing on anything still to come.
"""

from __future__ import annotations

from starlette.types import Message, Receive


class ReplayedBody:
    """The request body read ahead for a form token, replayed to the app unchanged."""

    __slots__ = ("chunks", "receive")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.chunks: list[Message] = []

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or None when it is larger than ``limit`` (then left unread)."""
        size = 0
        while True:
            message = await self.receive()
            self.chunks.append(message)
            if message["type"] != "http.request":
                return None
            size += len(message.get("body", b""))
            if size > limit:
                return None
            if not message.get("more_body", False):
                return b"".join(m.get("body", b"") for m in self.chunks)

    async def __call__(self) -> Message:
        if self.chunks:
            return self.chunks.pop(0)
        return await self.receive()
