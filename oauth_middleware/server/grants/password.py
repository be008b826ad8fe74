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

from oauth_middleware.errors import InvalidGrant, UnauthorizedClient
from oauth_middleware.hooks import call_hook
from oauth_middleware.models import Client, IssuedTokens
from oauth_middleware.server.form import Params
from oauth_middleware.server.grants.base import Grant, requested_scopes, required
from oauth_middleware.server.throttle import normalised_username
from oauth_middleware.store.authn import ClientRead
from oauth_middleware.toolbox import grantable_scopes


class PasswordGrant(Grant):
    GRANT_TYPE = "password"

    async def issue(
        self, client: Client, params: Params, read: ClientRead, address: str
    ) -> IssuedTokens:
        verify = self.config.verify_password
        if verify is None:  # unreachable: the server drops the grant without a hook (typing)
            raise UnauthorizedClient()
        username, password = required(params, "username"), required(params, "password")
        subject = normalised_username(username)
        async with self.throttle.attempt("password", subject, address) as attempt:
            scopes = await grantable_scopes(self.store, client, requested_scopes(params),
                                            snapshot=read.scopes)
            user = await call_hook(verify, username, password)
            if user is None:
                await attempt.failed()
                raise InvalidGrant("The username or password is wrong.")
            await attempt.passed()  # judged by what failed meanwhile
        return await self.store.issue(self.new_tokens(client, subject=user, scopes=scopes))
