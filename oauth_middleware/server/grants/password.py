"""The resource owner password credentials grant (RFC 6749 §4.3), off unless allowed.

It exists for oauthost parity and first-party apps. It runs only for clients
registered with it, on a server given a ``verify_password(username, password)``
hook. A wrong password, an unknown user and an inactive user (the hook returns
None for all three) give one identical ``invalid_grant``; failures are counted
per normalised username and caller address and throttled (§4.3.2: "the
authorization server MUST protect the endpoint against brute force attacks"),
so a guesser locks out only himself (:mod:`oauth_middleware.server.throttle`). The hook's
password hashing is the costly part: an attempt reserves its place in the caller's
allowance before the hook runs, so a caller already refused, or one firing many at
once, makes the hook hash no more than its allowance.
"""

from __future__ import annotations

from oauth_middleware.errors import InvalidGrant, UnauthorizedClient, UnusableUserId
from oauth_middleware.hooks import call_hook
from oauth_middleware.models import IssuedTokens
from oauth_middleware.policy import grantable_scopes
from oauth_middleware.server.grants.base import TokenGrant, requested_scopes, required
from oauth_middleware.server.grants.request import TokenRequest
from oauth_middleware.server.signed_in import usable
from oauth_middleware.server.throttle import normalised_username


class PasswordGrant(TokenGrant):
    GRANT_TYPE = "password"

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        params, client = request.params, request.client
        verify = self.config.verify_password
        if verify is None:  # unreachable: the server drops the grant without a hook (typing)
            raise UnauthorizedClient()
        username, password = required(params, "username"), required(params, "password")
        subject = normalised_username(username)
        audience = self.direct_audience(client, params)  # refused before any password check
        async with self.throttle.attempt("password", subject, request.address) as attempt:
            scopes = await grantable_scopes(self.store, client, requested_scopes(params),
                                            snapshot=request.scope_snapshot)
            user = await call_hook(verify, username, password)
            if user is None:
                await attempt.failed()
                raise InvalidGrant("The username or password is wrong.")
            await attempt.passed()  # judged by what failed meanwhile
        try:
            user = usable(user, "verify_password")
        except UnusableUserId as exc:  # the host's bug, not a wrong password
            raise InvalidGrant(exc.description) from None
        return await self.store.issue(self.new_tokens(client, subject=user, scopes=scopes,
                                                      audience=audience, jkt=request.dpop_jkt))
