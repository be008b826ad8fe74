"""The client app's "Sign in with OpenID Connect" (OpenID Connect Core 1.0 §3.1): a relying party.

It finds the demo's provider by discovery (Discovery 1.0 §4), signs in with code + PKCE
+ ``nonce``, checks the authorization response's ``iss`` (RFC 9207), validates the ID
token as §3.1.3.7 says (with joserfc: the signature against the keys at ``jwks_uri``,
``iss``, ``aud``/``azp``, ``exp``, ``iat``, ``nonce``), then asks UserInfo, whose ``sub``
must be the ID token's (§5.3.2). Everything goes over HTTP, as for any other relying
party; the tokens stay on the client app's server side, the page shows claims only.

"Sign out everywhere" is RP-Initiated Logout 1.0 §2: the client forgets the sign-in, then
sends the browser to ``end_session_endpoint`` with the ID token as ``id_token_hint``, a
registered ``post_logout_redirect_uri`` and a ``state`` it checks when the user comes back.
A failure at any step is shown on the page, never a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo.render import see_other
from oauth_middleware.redaction import redact_scope
from oauth_middleware.redirects import add_params
from oauth_middleware.security import constant_time_equals, new_secret, pkce_s256

if TYPE_CHECKING:
    from demo.client import ClientSession, DemoClient

SCOPE = "openid profile email phone"
#: Seconds of clock difference tolerated on ``exp`` and ``iat``.
LEEWAY = 60


class SignInFailed(Exception):
    """A step of the sign-in refused: the message is shown on the page."""


class OpenIDSignIn:
    """The relying party's routes, sharing the client app's session and secret."""

    def __init__(self, client: DemoClient, client_id: str) -> None:
        self.client = client
        self.client_id = client_id
        self.issuer = f"{client.base_url}/oauth"
        self.redirect_uri = f"{client.base_url}/client/oidc/callback"
        self.signed_out_uri = f"{client.base_url}/client/oidc/signed-out"

    @property
    def routes(self) -> list[Route]:
        return [Route("/client/oidc/login", self.login),
                Route("/client/oidc/callback", self.callback),
                Route("/client/oidc/logout", self.logout, methods=["POST"]),
                Route("/client/oidc/signed-out", self.signed_out)]

    async def login(self, request: Request) -> Response:
        sid, session = self.client._session(request)
        state, nonce, verifier = new_secret(), new_secret(), new_secret()
        try:
            meta = await self._metadata()
            endpoint = meta["authorization_endpoint"]
        except (SignInFailed, KeyError):
            session.oidc = {"error": "The provider could not be found by discovery."}
            return self.client._bind(see_other("/client/"), sid)
        session.oidc = {"state": state, "nonce": nonce, "verifier": verifier}
        url = add_params(endpoint, {
            "response_type": "code", "client_id": self.client_id, "scope": SCOPE,
            "redirect_uri": self.redirect_uri, "state": state, "nonce": nonce,
            "code_challenge": pkce_s256(verifier), "code_challenge_method": "S256"})
        return self.client._bind(see_other(url), sid)

    async def callback(self, request: Request) -> Response:
        params = dict(request.query_params)
        redact_scope(request.scope)  # the code is no line for the access log
        sid, session = self.client._session(request)
        pending = session.oidc
        expected = pending.get("state", "")
        if not expected or not constant_time_equals(params.get("state", ""), expected):
            # a link from anywhere can land here: it neither ends a pending sign-in nor
            # wipes the one shown
            session.oidc = {**pending, "error": "The state did not match: this answer was "
                                                "not for this browser."}
            return self.client._bind(see_other("/client/"), sid)
        session.oidc = {}  # this state is used up, whatever follows
        try:
            session.oidc = await self._finish(pending, params)
        except SignInFailed as exc:
            session.oidc = {"error": str(exc)}
        except (httpx.HTTPError, KeyError):
            session.oidc = {"error": "The provider could not be reached, or answered "
                                     "without what discovery promised."}
        return self.client._bind(see_other("/client/"), sid)

    async def logout(self, request: Request) -> Response:
        """Forget the sign-in here, then end the provider's session (with the ID token)."""
        sid, session = self.client._session(request)
        id_token = session.oidc.get("id_token")
        if not id_token:
            return self.client._bind(see_other("/client/"), sid)
        try:
            meta = await self._metadata()
            endpoint = meta["end_session_endpoint"]
        except (SignInFailed, KeyError):
            session.oidc = {"error": "The provider offers no sign-out now."}
            return self.client._bind(see_other("/client/"), sid)
        state = new_secret()
        session.oidc = {"logout_state": state}
        url = add_params(endpoint, {
            "id_token_hint": id_token, "post_logout_redirect_uri": self.signed_out_uri,
            "state": state})
        return self.client._bind(see_other(url), sid)

    async def signed_out(self, request: Request) -> Response:
        """Back from ``end_session/``: said so only when the ``state`` is the one we sent."""
        sid, session = self.client._session(request)
        expected = session.oidc.get("logout_state", "")
        came = request.query_params.get("state", "")
        if expected and constant_time_equals(came, expected):
            session.oidc = {"signed_out": True}
        else:
            session.oidc = {**session.oidc,
                            "error": "A sign-out answer that was not for this browser."}
        return self.client._bind(see_other("/client/"), sid)

    async def _finish(self, pending: dict[str, Any], params: dict[str, str]
                      ) -> dict[str, Any]:
        meta = await self._metadata()
        if params.get("iss") != meta["issuer"]:  # RFC 9207 §2.4: another server answered
            raise SignInFailed("The answer did not come from the demo's provider (iss).")
        if "error" in params:
            raise SignInFailed(f"The provider answered {params['error']}.")
        async with self.client._http() as http:
            answer = await http.post(meta["token_endpoint"], data={
                "grant_type": "authorization_code", "code": params.get("code", ""),
                "redirect_uri": self.redirect_uri, "code_verifier": pending["verifier"]},
                auth=(self.client_id, self.client.secret))
            tokens = _json(answer, "The token endpoint")
            if "id_token" not in tokens:
                raise SignInFailed("The token endpoint answered no ID token.")
            jwks = _json(await http.get(meta["jwks_uri"]), "jwks_uri")
            claims = self._validated(tokens["id_token"], jwks, meta, pending["nonce"])
            info = _json(await http.get(meta["userinfo_endpoint"], headers={
                "Authorization": f"Bearer {tokens['access_token']}"}), "UserInfo")
        if info.get("sub") != claims["sub"]:  # §5.3.2: else the answer is not this user's
            raise SignInFailed("UserInfo answered for another subject than the ID token.")
        return {"claims": claims, "userinfo": info, "id_token": tokens["id_token"]}

    def _validated(self, id_token: str, jwks: dict[str, Any], meta: dict[str, Any],
                   nonce: str) -> dict[str, Any]:
        """The ID token's claims, checked as Core 1.0 §3.1.3.7 says, or SignInFailed."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        try:
            token = jwt.decode(id_token, KeySet.import_key_set(jwks),  # type: ignore[arg-type]
                               algorithms=["RS256"])  # what demo-web registered (the default)
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY, iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": self.client_id}, sub={"essential": True},
                exp={"essential": True}, iat={"essential": True},
                nonce={"essential": True, "value": nonce}).validate(token.claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise SignInFailed(f"The ID token was refused ({type(exc).__name__}).") from None
        claims = dict(token.claims)
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audience) > 1 and claims.get("azp") != self.client_id:
            raise SignInFailed("The ID token was issued to several clients, not to us (azp).")
        return claims

    async def _metadata(self) -> dict[str, Any]:
        """The provider's discovery document, its ``issuer`` checked (Discovery 1.0 §4.3)."""
        try:
            async with self.client._http() as http:
                meta = _json(await http.get(
                    f"{self.issuer}/.well-known/openid-configuration"), "Discovery")
        except httpx.HTTPError:
            raise SignInFailed("The provider could not be reached.") from None
        if meta.get("issuer") != self.issuer:
            raise SignInFailed("The discovery document names another issuer.")
        return meta


def _json(answer: httpx.Response, what: str) -> dict[str, Any]:
    """A 200 JSON object, or SignInFailed naming who answered what."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise SignInFailed(f"{what} answered {answer.status_code} {error or ''}".rstrip() + ".")
    return body


def shown(session: ClientSession) -> dict[str, Any]:
    """What the page shows of the sign-in: claims and UserInfo, never the ID token."""
    return {key: value for key, value in session.oidc.items()
            if key in ("claims", "userinfo", "error", "signed_out")}
