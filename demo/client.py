"""A small OAuth client web app: authorization code + PKCE against the demo's own server.

It plays a separate application that happens to share the process: it only
talks to the authorization server and the polls API over HTTP, exactly as a
third-party client would, and keeps its tokens on its own server side.

The protected routes are called, and their answers kept for the page, only on
a POST or the callback: right after authorization, after a refresh or a
revocation, and on "Call the API again". One of the calls casts a vote, so a
GET of ``/client/`` only shows the kept answers: reloading the page votes nothing.

An authorization code arrives in a query string, which uvicorn's access log
prints when the response starts. The pages that receive one (the callback, the
by-hand page of the walkthrough (docs/walkthrough.md), the public client's page) read it,
then replace it with ``redacted`` in the request's scope, which is what the log
line reads. The callback redeems the code and redirects at once; the by-hand
page, ``/client/code`` (demo-web's second redirect URI), only shows it to copy
into the walkthrough's ``curl`` command and redeems nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo import dpop_client, oidc_client
from demo.render import page, see_other
from oauth_middleware.redaction import redact_scope
from oauth_middleware.redirects import add_params
from oauth_middleware.security import constant_time_equals, fingerprint, new_secret, pkce_s256

COOKIE = "demo_client"
#: Client-app sessions kept in memory; past this the oldest is dropped, so a loop of
#: cookie-less visits (each of which starts a session) cannot grow the process.
MAX_SESSIONS = 1000
CLIENT_ID = "demo-web"
SCOPE = "polls:results my_polls:my_stats polls:vote"


def _read_query(request: Request) -> dict[str, str]:
    """The query's parameters; then the code is blanked in the scope the access log reads."""
    params = dict(request.query_params)
    redact_scope(request.scope)
    return params


@dataclass
class ClientSession:
    state: str = ""
    verifier: str = ""
    tokens: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    #: The answers of the last round of API calls, shown until the next one.
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: "Sign in with OpenID Connect" (demo/oidc_client.py): pending, then its result.
    oidc: dict[str, Any] = field(default_factory=dict)
    #: The DPoP-bound call (demo/dpop_client.py): this session's key, then what it showed.
    dpop_key: dpop_client.ProofKey | None = None
    dpop: dict[str, Any] = field(default_factory=dict)


class DemoClient:
    """The client app's routes, its secret and its HTTP connection to the server."""

    def __init__(self, *, base_url: str, secret: str, signing_key: bytes,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.redirect_uri = f"{self.base_url}/client/callback"
        #: Where the walkthrough (docs/walkthrough.md) sends the code, to copy it by hand.
        self.by_hand_uri = f"{self.base_url}/client/code"
        self.secret = secret
        self.transport = transport
        self._signer = URLSafeSerializer(signing_key, salt="demo-client")
        self._sessions: dict[str, ClientSession] = {}
        self.openid = oidc_client.OpenIDSignIn(self, CLIENT_ID)

    @property
    def routes(self) -> list[Route]:
        return [Route("/client/", self.home), Route("/client/login", self.login),
                Route("/client/callback", self.callback),
                Route("/client/code", self.by_hand),
                Route("/client/refresh", self.refresh, methods=["POST"]),
                Route("/client/revoke", self.revoke, methods=["POST"]),
                Route("/client/call", self.call, methods=["POST"]),
                Route("/client/dpop", self.dpop, methods=["POST"]),
                Route("/client/spa", self.spa), *self.openid.routes]

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, transport=self.transport, timeout=10)

    def _session(self, request: Request) -> tuple[str, ClientSession]:
        try:
            sid = str(self._signer.loads(request.cookies.get(COOKIE, "")))
        except BadSignature:
            sid = new_secret()
        session = self._sessions.get(sid)
        if session is None:
            session = self._sessions[sid] = ClientSession()
            while len(self._sessions) > MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
        return sid, session

    def _bind(self, response: Response, sid: str) -> Response:
        response.set_cookie(COOKIE, self._signer.dumps(sid), httponly=True, samesite="lax",
                            path="/client")
        return response

    async def home(self, request: Request) -> Response:
        sid, session = self._session(request)
        context = {"tokens": self._shown(session.tokens), "calls": session.calls,
                   "error": session.error, "client_id": CLIENT_ID, "scope": SCOPE,
                   "oidc": oidc_client.shown(session), "oidc_scope": oidc_client.SCOPE,
                   "dpop": session.dpop}
        return self._bind(page(request, "client.html", context), sid)

    async def login(self, request: Request) -> Response:
        sid, session = self._session(request)
        session.state, session.verifier, session.error = new_secret(), new_secret(), ""
        url = add_params(f"{self.base_url}/oauth/auth/", {
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": self.redirect_uri,
            "scope": SCOPE, "state": session.state,
            "code_challenge": pkce_s256(session.verifier), "code_challenge_method": "S256",
        })
        return self._bind(see_other(url), sid)

    async def callback(self, request: Request) -> Response:
        params = _read_query(request)
        sid, session = self._session(request)
        expected, session.state = session.state, ""
        if not expected or not constant_time_equals(params.get("state", ""), expected):
            session.error = "The state did not match: this answer was not for this browser."
        elif "error" in params:
            session.error = f"The server answered {params['error']}."
        else:
            await self._token_request(session, {
                "grant_type": "authorization_code", "code": params.get("code", ""),
                "redirect_uri": self.redirect_uri, "code_verifier": session.verifier})
        return self._bind(see_other("/client/"), sid)

    async def by_hand(self, request: Request) -> Response:
        """The walkthrough's by-hand flow: show the code (or error) to copy; redeem nothing."""
        params = _read_query(request)
        return page(request, "code.html", {
            "code": params.get("code", ""), "state": params.get("state", ""),
            "error": params.get("error", ""), "redirect_uri": self.by_hand_uri})

    async def call(self, request: Request) -> Response:
        """Call the protected routes again with the current token (votes once more)."""
        sid, session = self._session(request)
        await self._call_api(session)
        return self._bind(see_other("/client/"), sid)

    async def dpop(self, request: Request) -> Response:
        """Trade the refresh token for a DPoP-bound access token and call the API with it."""
        sid, session = self._session(request)
        refresh_token = session.tokens.get("refresh_token")
        if refresh_token:
            session.dpop_key = session.dpop_key or dpop_client.ProofKey()
            async with self._http() as http:
                session.dpop, rotated = await dpop_client.bound_call(
                    http, session.dpop_key, self.base_url, refresh_token,
                    (CLIENT_ID, self.secret))
            if rotated:  # a confidential client's refresh token stays a bearer one (§5)
                session.tokens = {**session.tokens, "refresh_token": rotated}
        return self._bind(see_other("/client/"), sid)

    async def refresh(self, request: Request) -> Response:
        sid, session = self._session(request)
        if session.tokens.get("refresh_token"):
            await self._token_request(session, {"grant_type": "refresh_token",
                                                "refresh_token": session.tokens["refresh_token"]})
        return self._bind(see_other("/client/"), sid)

    async def revoke(self, request: Request) -> Response:
        sid, session = self._session(request)
        token = session.tokens.get("refresh_token") or session.tokens.get("access_token")
        if token:
            async with self._http() as http:
                await http.post("/oauth/revoke/", data={"token": token},
                                auth=(CLIENT_ID, self.secret))
            session.error = "Revoked: the token no longer opens the protected routes."
            session.tokens = {**session.tokens, "revoked": True}
            await self._call_api(session)
        return self._bind(see_other("/client/"), sid)

    async def spa(self, request: Request) -> Response:
        shown = str(request.query_params)
        _read_query(request)
        return page(request, "spa.html", {"request_query": shown})

    async def _token_request(self, session: ClientSession, data: dict[str, str]) -> None:
        async with self._http() as http:
            answer = await http.post("/oauth/token/", data=data, auth=(CLIENT_ID, self.secret))
        body = answer.json()
        if answer.status_code == 200:
            session.tokens, session.error = body, ""
            await self._call_api(session)
        else:
            session.error = f"The token endpoint answered {answer.status_code} {body.get('error')}."

    async def _call_api(self, session: ClientSession) -> None:
        """Call the protected routes the three ways the seed documents; keep the answers."""
        token = session.tokens.get("access_token")
        if not token:
            return
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        bearer = {"Authorization": f"Bearer {token}"}
        calls: list[tuple[str, str, str, dict[str, Any]]] = [
            ("header", "GET", "/polls/1/results", {"headers": bearer}),
            ("form body", "POST", "/polls/1/vote",
             {"content": f"choice=header&access_token={token}", "headers": form}),
            ("query", "GET", "/polls/1/stats", {"params": {"access_token": token}}),
            ("header", "GET", "/api/me", {"headers": bearer}),
        ]
        shown = []
        async with self._http() as http:
            for how, method, path, kwargs in calls:
                answer = await http.request(method, path, **kwargs)
                shown.append({"how": how, "method": method, "path": path,
                              "status": answer.status_code, "body": answer.text,
                              "challenge": answer.headers.get("www-authenticate", "")})
        session.calls = shown

    @staticmethod
    def _shown(tokens: dict[str, Any]) -> dict[str, Any]:
        """What the page may show: fingerprints, never the tokens themselves."""
        if not tokens:
            return {}
        return {"access": fingerprint(tokens.get("access_token", "")),
                "refresh": fingerprint(tokens["refresh_token"]) if tokens.get("refresh_token")
                else None,
                "scope": tokens.get("scope"), "expires_in": tokens.get("expires_in"),
                "revoked": tokens.get("revoked", False)}
