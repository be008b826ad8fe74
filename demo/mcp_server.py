"""The demo's MCP server: ``/mcp`` (streamable HTTP), built with the official ``mcp`` SDK.

The middleware guards the one route ``POST /mcp`` (any valid token meant for this
resource); it cannot see which tool a JSON-RPC body calls, so each tool checks its own
scope against the token of the HTTP request that carries the call (:func:`require_scope`)
and answers the SDK's tool error (``isError``) without it. :class:`McpIdentity` hands the
middleware's verdict to the SDK as its own ``AuthenticatedUser``, so the SDK binds each
session to the (client, issuer, subject) that opened it: another token's holder who
presents the session id gets 404, as if the session did not exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken as McpAccessToken
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from demo.polls import POLLS
from oauth_middleware import (
    AccessToken,
    OAuthMiddleware,
    ProtectedResource,
    TokenStore,
    get_access_token,
)

#: What each tool needs; the middleware only requires a valid token for this resource.
TOOL_SCOPES = {"poll_results": "polls:results", "vote": "polls:vote"}


class McpIdentity:
    """ASGI: put the middleware's token where the SDK looks for the caller (``scope["user"]``)."""

    def __init__(self, app: ASGIApp, *, issuer: str) -> None:
        self.app = app
        self.issuer = issuer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token: AccessToken | None = scope.get("oauth")
        if scope["type"] == "http" and token is not None:
            scope["user"] = AuthenticatedUser(McpAccessToken(
                token=token.fingerprint,  # never the bearer value: the SDK keeps this object
                client_id=token.client_id, scopes=sorted(token.scopes),
                expires_at=None if token.expires_at is None else int(token.expires_at),
                # typed, so a user named "client:x" is never client x acting for itself
                subject=f"{token.subject_type}:{token.subject}",
                claims={"iss": self.issuer}))
        await self.app(scope, receive, send)


def require_scope(ctx: Context, scope: str) -> AccessToken:
    """The token of the request carrying this call, if it holds ``scope``; else a tool error."""
    request = ctx.request_context.request
    token = get_access_token(request) if isinstance(request, Request) else None
    if token is None or scope not in token.scopes:
        raise ToolError(f"insufficient_scope: this tool needs the {scope} scope")
    return token


def _poll(poll_id: int) -> tuple[str, list[str], dict[str, int]]:
    poll = POLLS.get(poll_id)
    if poll is None:
        raise ToolError("no such poll")
    return poll.question, poll.choices, poll.votes


def build_server() -> MCPServer:
    server = MCPServer("oauth_middleware demo polls")

    @server.tool()
    def poll_results(poll_id: int, ctx: Context) -> dict[str, object]:
        """A poll's question and its votes so far."""
        require_scope(ctx, TOOL_SCOPES["poll_results"])
        question, choices, votes = _poll(poll_id)
        return {"poll": poll_id, "question": question,
                "results": {c: votes.get(c, 0) for c in choices}}

    @server.tool()
    def vote(poll_id: int, choice: str, ctx: Context) -> dict[str, object]:
        """Vote for one of a poll's choices, as the user the token acts for."""
        token = require_scope(ctx, TOOL_SCOPES["vote"])
        _, choices, votes = _poll(poll_id)
        if choice not in choices:
            raise ToolError(f"choice must be one of {choices}")
        votes[choice] = votes.get(choice, 0) + 1
        return {"poll": poll_id, "voted": choice, "by": token.user}

    return server


class McpGuard:
    """ASGI: ``/mcp`` and its metadata path through their own middleware, the rest untouched.

    That middleware has the resource's identifier and ``require_audience``, and sees the
    metadata path, which it answers. Other paths skip it: it would drop the polls API's
    tokens (they name no audience) and blank their query tokens. Header tokens only at
    ``/mcp``: the MCP spec forbids query tokens.
    """

    def __init__(self, app: ASGIApp, *, store: TokenStore, resource: ProtectedResource) -> None:
        self.app = app
        self.guarded = OAuthMiddleware(app, store=store, scopes={"/mcp": []}, resource=resource,
                                       require_audience=True, form_body=False, query=False,
                                       debug=True)
        self.paths = frozenset({"/mcp", resource.metadata_path})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = scope["type"] in ("http", "websocket") and scope["path"] in self.paths
        await (self.guarded if guarded or scope["type"] == "lifespan" else self.app)(
            scope, receive, send)


class McpEndpoint:
    """``/mcp`` for a host app: its route, its guard, and the session manager its lifespan
    must run."""

    def __init__(self, *, store: TokenStore, base_url: str, issuer: str) -> None:
        self.server = build_server()
        origin = urlsplit(base_url)
        sdk_app = self.server.streamable_http_app(
            streamable_http_path="/mcp",
            # the SDK's DNS-rebinding check: only this demo's own host and origin
            transport_security=TransportSecuritySettings(
                allowed_hosts=[origin.netloc], allowed_origins=[f"{origin.scheme}://{origin.netloc}"]))
        endpoint = next(r.endpoint for r in sdk_app.routes if isinstance(r, Route))
        self.route = Route("/mcp", McpIdentity(endpoint, issuer=issuer))
        self.resource = ProtectedResource(
            f"{base_url}/mcp", authorization_servers=[issuer], name="Demo polls (MCP)",
            scopes=sorted(TOOL_SCOPES.values()))
        self.middleware = Middleware(McpGuard, store=store, resource=self.resource)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.server.session_manager.run():
            yield
