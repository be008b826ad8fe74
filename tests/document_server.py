"""A real HTTPS server on loopback serving client metadata documents, and misbehaving on cue.

Runs in the test's event loop (``asyncio.start_server`` with TLS from :mod:`tests.ca`);
its certificate names ``client.test`` and ``other.test``, which :meth:`DocumentServer.resolve`
maps to 127.0.0.1 (recording every lookup). Each path answers its :class:`Reply`; a
stalling reply sends its head and one byte, then holds the connection until the client
goes or the test ends. Every request is recorded with its ``Host`` and the TLS SNI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

from oauth_middleware.server import ClientMetadataPolicy
from tests.ca import TestAuthority

NAMES = ("client.test", "other.test")


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    #: Send the head and one byte of the body, then nothing more.
    stall: bool = False
    #: Send the body in 1 KiB chunks without Content-Length.
    chunked: bool = False


@dataclass(frozen=True)
class Seen:
    path: str
    host: str | None


class DocumentServer:
    def __init__(self, authority: TestAuthority) -> None:
        self.authority = authority
        self.routes: dict[str, Reply] = {}
        self.requests: list[Seen] = []
        self.sni: list[str | None] = []
        self.lookups: list[str] = []
        #: Set when a stalled reply saw its client close the connection.
        self.abandoned = asyncio.Event()
        self._released = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> DocumentServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.authority.server_cert, self.authority.server_key)
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment,misc,unused-ignore]
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str, host: str = NAMES[0]) -> str:
        return f"https://{host}:{self.port}{path}"

    def document(self, path: str, host: str = NAMES[0], *, headers: dict[str, str] | None = None,
                 **fields: Any) -> str:
        """Serve a valid document at ``path`` (``fields`` replace or add members; None drops
        one); returns its URL, the client id."""
        url = self.url(path, host)
        body: dict[str, Any] = {"client_id": url, "client_name": "Doc Client",
                                "redirect_uris": [f"https://{host}/cb"],
                                "grant_types": ["authorization_code", "refresh_token"],
                                "response_types": ["code"], "token_endpoint_auth_method": "none"}
        body.update(fields)
        body = {k: v for k, v in body.items() if v is not None}
        self.routes[path] = Reply(json.dumps(body).encode(), headers={
            "content-type": "application/json", **(headers or {})})
        return url

    def fetches(self, path: str) -> int:
        return sum(1 for seen in self.requests if seen.path == path)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host in NAMES:
            return ["127.0.0.1"]
        raise OSError(f"no such test host {host}")

    def policy(self, **options: Any) -> ClientMetadataPolicy:
        """A policy that reaches this server only: its names, its CA, loopback allowed."""
        context = ssl.create_default_context(cafile=str(self.authority.ca_file))
        options.setdefault("allowed_networks", ("127.0.0.1/32",))
        return ClientMetadataPolicy(resolver=self.resolve, tls_context=context, **options)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            self.requests.append(Seen(path, headers.get("host")))
            await self._answer(reader, writer, self.routes.get(path, Reply(
                b"not found", 404, {"content-type": "text/plain"})))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      reply: Reply) -> None:
        fields = {**reply.headers, "connection": "close"}
        if reply.chunked:
            fields["transfer-encoding"] = "chunked"
        elif not reply.stall:
            fields["content-length"] = str(len(reply.body))
        head = f"HTTP/1.1 {reply.status} X\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        if reply.stall:
            writer.write(reply.body[:1])
            await writer.drain()
            gone = asyncio.ensure_future(reader.read())
            released = asyncio.ensure_future(self._released.wait())
            done, pending = await asyncio.wait({gone, released},
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if gone in done:
                self.abandoned.set()
            return
        if reply.chunked:
            for start in range(0, len(reply.body), 1024):
                chunk = reply.body[start:start + 1024]
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(reply.body)
        await writer.drain()
