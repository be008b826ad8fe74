"""Placeholder: replaced by the module that implements this endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.server.config import ServerConfig


class AuthorizationEndpoint:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    async def handle(self, request: Request) -> Response:
        return Response(status_code=501)
