"""The device authorization grant at the token endpoint (RFC 8628 §3.4-3.5): polling.

The device polls with its ``device_code`` until the person decided at the device page
(:mod:`oauth_middleware.server.device`). Each poll is one script
(``store._device.POLL``): it answers ``authorization_pending`` and records the poll's
time, or ``slow_down`` and raises the interval by 5 s when the device polled sooner
than its interval, ``access_denied``, ``expired_token``, and takes an approved request
exactly once, so of N concurrent polls after approval one gets tokens and the others
``invalid_grant``. A device code is bound to its client: another client's poll finds
nothing and changes nothing. Public clients may poll (a TV has no secret, §3.4).
"""

from __future__ import annotations

from typing import Final

from oauth_middleware.errors import (
    AuthorizationPending,
    DeviceAccessDenied,
    ExpiredToken,
    InvalidGrant,
    PollTooFast,
)
from oauth_middleware.limits import DEVICE_SLOW_DOWN
from oauth_middleware.models import IssuedTokens
from oauth_middleware.server.grants.base import TokenGrant, logger, required
from oauth_middleware.server.grants.request import Prefetch, TokenRequest

#: RFC 8628 §3.4's ``grant_type``.
DEVICE_CODE: Final = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceCodeGrant(TokenGrant):
    GRANT_TYPE = DEVICE_CODE
    PUBLIC = True
    PREFETCH = Prefetch(requested_scopes=False)

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        client = request.client
        poll = await self.store.device.poll(required(request.params, "device_code"),
                                            client.client_id, step=DEVICE_SLOW_DOWN,
                                            client_generation=client.generation)
        if poll.outcome == "pending":
            raise AuthorizationPending()
        if poll.outcome == "slow_down":
            raise PollTooFast(f"Polling too fast: wait {poll.interval} seconds between polls.")
        if poll.outcome == "denied":
            raise DeviceAccessDenied("The user denied this device.")
        if poll.outcome == "expired":
            raise ExpiredToken()
        if poll.outcome != "approved":
            raise InvalidGrant("The device code is invalid, expired or used.")
        scopes = await self.still_available(request, poll.scopes)
        audience = frozenset(poll.audience)
        logger.info("device code approved by its user redeemed by client %s", client.client_id)
        return await self.store.issue(self.new_tokens(
            client, subject=poll.subject, scopes=scopes, audience=audience,
            grant_audience=audience))
