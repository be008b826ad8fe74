"""The device authorization endpoint (RFC 8628 §3.1-3.2): codes for a device without a browser.

The client authenticates as at ``token/`` (or names itself, when public) and must be
allowed the device grant; scopes are validated as at ``auth/`` and the resources it
names (RFC 8707) are bound to the request. It gets a ``device_code`` (256 bits, stored
as a digest) to poll ``token/`` with, and a ``user_code`` a person types at
``verification_uri`` — eight letters of RFC 8628 §6.1's base-20 alphabet, shown as
``WDJB-MJHT`` — plus ``verification_uri_complete`` carrying it, which only prefills the
page: the person still confirms (§5.4).

Each request stores a device code, so requests are counted per client id and caller
address (``ThrottlePolicy.device_requests`` per window, counted first, in the store):
past the allowance the answer is 429 ``slow_down`` with ``Retry-After`` and nothing is
stored. So a loop from one address stores at most ``device_requests`` codes per window
(and cannot evict its client's other waiting devices, which are capped at
``DEVICE_CODES_PER_CLIENT``); past ``device_requests_overall`` from every address, each
address is allowed one.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.errors import UnauthorizedClient
from oauth_middleware.limits import DEVICE_CODE_LIFETIME, DEVICE_INTERVAL
from oauth_middleware.policy import grantable_scopes
from oauth_middleware.resource_indicators import requested_audience
from oauth_middleware.server.boundary import FormEndpoint, logger
from oauth_middleware.server.client_auth import ClientAuthenticator
from oauth_middleware.server.client_documents import DocumentClients
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import Params
from oauth_middleware.server.grants.base import requested_scopes, resources
from oauth_middleware.server.grants.device_code import DEVICE_CODE
from oauth_middleware.server.grants.request import Prefetch
from oauth_middleware.server.responses import json_response
from oauth_middleware.server.throttle import Throttle, caller_address

#: Where a person enters the code, under the issuer.
VERIFICATION_PATH = "device"


def shown(user_code: str) -> str:
    """A user code as shown to a person: two groups of four (RFC 8628 §6.1)."""
    return f"{user_code[:4]}-{user_code[4:]}"


class DeviceAuthorizationEndpoint(FormEndpoint):
    def __init__(self, config: ServerConfig, *, documents: DocumentClients | None = None) -> None:
        super().__init__(config)
        self.throttle = Throttle(config.store, config.throttle, config.audit)
        self.clients = ClientAuthenticator(config.store, self.throttle, documents)

    async def answer(self, request: Request, params: Params) -> Response:
        client, read = await self.clients.authenticate_ahead(
            request, params, ahead=Prefetch().lookahead(params))
        if DEVICE_CODE not in self.config.grant_types or not client.allows(DEVICE_CODE):
            raise UnauthorizedClient("The client is not allowed to use the device grant.")
        scopes = await grantable_scopes(self.store, client, requested_scopes(params),
                                        snapshot=read.scopes)
        audience = requested_audience(client, resources(params), self.config.default_resource)
        await self.throttle.spend("device", client.client_id, caller_address(request.scope))
        codes = await self.store.device.create(
            client_id=client.client_id, client_generation=client.generation,
            scopes=tuple(sorted(scopes)), audience=tuple(sorted(audience)),
            lifetime=DEVICE_CODE_LIFETIME, interval=DEVICE_INTERVAL)
        logger.info("device authorization started for client %s", client.client_id)
        page = self.config.url(VERIFICATION_PATH)
        user_code = shown(codes.user_code)
        return json_response({
            "device_code": codes.device_code, "user_code": user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={quote(user_code)}",
            "expires_in": DEVICE_CODE_LIFETIME, "interval": DEVICE_INTERVAL,
        })
