"""RFC 9728 protected-resource metadata, its ``resource_metadata`` challenge, the audience check."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from oauth_middleware import (
    AUTO,
    AccessToken,
    OAuth,
    OAuthMiddleware,
    ProtectedResource,
    RequireScopes,
    TokenStore,
    oauth_required,
)
from oauth_middleware.error_response import render
from oauth_middleware.errors import MissingToken
from oauth_middleware.settings_checks import ConfigurationError
from tests.servers import UvicornProcess

RESOURCE = "https://api.example.com/mcp"
METADATA_URL = "https://api.example.com/.well-known/oauth-protected-resource/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
ISSUER = "https://api.example.com/oauth"
#: What every challenge of a resource must end with: the configured URL, exactly.
POINTER = f', resource_metadata="{METADATA_URL}"'
OTHER = "https://other.example.com/mcp"


class AudienceVerifier:
    """Tokens from a dict: ``<name>`` -> a token with those scopes and that audience."""

    TOKENS: ClassVar[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
        "mine": (frozenset({"tools:call"}), frozenset({RESOURCE})),
        "mine-and-other": (frozenset({"tools:call"}), frozenset({OTHER, RESOURCE})),
        "other": (frozenset({"tools:call"}), frozenset({OTHER})),
        "other-no-scope": (frozenset(), frozenset({OTHER})),
        "unbound": (frozenset({"tools:call"}), frozenset()),
        "no-scope": (frozenset(), frozenset({RESOURCE})),
    }

    async def resolve(self, token: str) -> AccessToken | None:
        found = self.TOKENS.get(token)
        if found is None:
            return None
        return AccessToken(grant_id="g", client_id="c", subject="alice", scopes=found[0],
                           audience=found[1])


async def tools(request: Request) -> Response:
    return PlainTextResponse("tools")


@oauth_required("tools:call")
async def decorated(request: Request) -> Response:
    return PlainTextResponse("decorated")


async def open_page(request: Request) -> Response:
    token = request.scope.get("oauth")
    return PlainTextResponse("anonymous" if token is None else token.subject)


def _app(**options: Any) -> Starlette:
    app = Starlette(routes=[Route("/mcp", tools, methods=["GET", "POST"]),
                            Route("/decorated", decorated), Route("/open", open_page)])
    options.setdefault("scopes", {"/mcp": "tools:call"})
    app.add_middleware(OAuthMiddleware, verifier=AudienceVerifier(), resource=RESOURCE,
                       **options)
    return app


def _client(app: Any, host: str = "api.example.com") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url=f"https://{host}")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.rule("resource.metadata-content", "resource.metadata-identifier-exact",
                  "resource.metadata-served")
async def test_metadata_names_the_resource_its_issuer_the_route_scopes_and_enabled_sources(
) -> None:
    store = TokenStore.from_url(None)
    oauth = OAuth(store=store, issuer=ISSUER,
                  resource=ProtectedResource(RESOURCE, name="Polls MCP",
                                             documentation="https://api.example.com/docs"))
    app = Starlette(routes=[Route("/mcp", tools), Route("/polls/{poll_id}/results", tools),
                            Route("/decorated", decorated)])
    oauth.protect(app, scopes={"/mcp": ["tools:call", "tools:list"],
                               "/polls/{poll_id}/results": AUTO}, query=False)
    # A spoofed Host changes nothing: every URL comes from configuration.
    async with _client(app, host="evil.example") as client:
        response = await client.get(METADATA_PATH, headers={"Host": 'evil.example"x'})
    assert response.status_code == 200
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["tests:tools", "tools:call", "tools:list"],
        "bearer_methods_supported": ["header", "body"],
        "resource_name": "Polls MCP",
        "resource_documentation": "https://api.example.com/docs",
        # a store-backed resource checks DPoP proofs (RFC 9728 §2, RFC 9449 §7)
        "dpop_signing_alg_values_supported": ["ES256", "ES384", "PS256", "RS256", "Ed25519"],
    }
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.rule("resource.metadata-served")
async def test_metadata_is_served_without_a_token_even_where_every_path_is_protected() -> None:
    app = _app(scopes={"/{path:path}": "tools:call"})
    async with _client(app) as client:
        got = await client.get(METADATA_PATH)
        head = await client.head(METADATA_PATH)
        posted = await client.post(METADATA_PATH, headers=_bearer("mine"))
        other = await client.get("/.well-known/oauth-protected-resource/other")
        redacted = await client.get(METADATA_PATH + "?access_token=s3cret-value")
        preflight = await client.options(METADATA_PATH, headers={
            "Origin": "https://inspector.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "mcp-protocol-version"})
    assert got.status_code == 200 and got.json()["resource"] == RESOURCE
    assert got.json()["scopes_supported"] == ["tools:call"]
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    assert posted.json() == {"error": "invalid_request",
                             "error_description": "The method is not allowed here."}
    assert posted.headers["cache-control"] == "no-store"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api.example.com") as plain_client:
        plain = await plain_client.get(METADATA_PATH)
    assert plain.status_code == 400 and plain.json()["error_description"] == "HTTPS is required."
    # Another resource's metadata is no business of this one: the mapping decides.
    assert other.status_code == 401 and other.headers["www-authenticate"].endswith(POINTER)
    assert redacted.status_code == 200 and redacted.json() == got.json()
    assert preflight.status_code == 204 and preflight.content == b""
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] == "GET, HEAD"
    assert preflight.headers["access-control-allow-headers"] == "*"


@pytest.mark.rule("resource.metadata-served")
async def test_an_app_route_at_the_metadata_path_is_served_by_the_app_not_hidden() -> None:
    async def own(request: Request) -> Response:
        return JSONResponse({"own": True})

    app = Starlette(routes=[Route(METADATA_PATH, own), Route("/mcp", tools)])
    app.add_middleware(OAuthMiddleware, verifier=AudienceVerifier(), resource=RESOURCE,
                       scopes={"/mcp": "tools:call"})
    async with _client(app) as client:
        response = await client.get(METADATA_PATH)
    assert response.status_code == 200 and response.json() == {"own": True}


@pytest.mark.rule("resource.metadata-served")
async def test_other_well_known_paths_reach_the_app_which_answers_404() -> None:
    app = _app()
    async with _client(app) as client:
        root = await client.get("/.well-known/oauth-protected-resource")
        other = await client.get("/.well-known/oauth-protected-resource/mcp/x")
    assert root.status_code == 404 and other.status_code == 404
    assert "resource" not in root.text and "resource" not in other.text


@pytest.mark.parametrize(("identifier", "url"), [
    ("https://h.example/mcp", "https://h.example/.well-known/oauth-protected-resource/mcp"),
    ("https://h.example", "https://h.example/.well-known/oauth-protected-resource"),
    ("https://h.example/", "https://h.example/.well-known/oauth-protected-resource"),
    ("https://h.example:8443/a/b/",
     "https://h.example:8443/.well-known/oauth-protected-resource/a/b/"),
    ("http://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"),
    ("https://h.example/a%20b", "https://h.example/.well-known/oauth-protected-resource/a%20b"),
])
@pytest.mark.rule("resource.metadata-served")
def test_the_well_known_suffix_goes_between_the_host_and_the_path(identifier: str,
                                                                   url: str) -> None:
    resource = ProtectedResource(identifier)
    assert resource.metadata_url == url
    assert resource.metadata_path == httpx.URL(url).path


@pytest.mark.parametrize(("value", "message"), [
    ("http://api.example.com/mcp", "is not https"),
    ("https://api.example.com/mcp#top", "has a fragment"),
    ("https://api.example.com/mcp?tenant=1", "has a query"),
    ("https://user@api.example.com/mcp", "has user information"),
    ('https://api.example.com/a"b', "a character a URL may not hold"),
    ("https://api.example.com/a\\b", "a character a URL may not hold"),
    ("https://api.example.com/a\r\nX-Evil: 1", "a character a URL may not hold"),
    ("https://api.example.com/é", "a character a URL may not hold"),
    ("/mcp", "has no host"),
    ("https://api.example.com/" + "a" * 2100, "is too long"),
    ("", "pass an absolute https URL"),
    (42, "pass the resource's URL"),
])
@pytest.mark.rule("resource.metadata-identifier-exact")
def test_a_resource_identifier_that_is_no_https_url_is_refused_at_construction(
    value: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        OAuthMiddleware(Starlette(), verifier=AudienceVerifier(), resource=value)  # type: ignore[arg-type]


def test_other_resource_options_are_checked_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="require_audience=True needs resource="):
        OAuthMiddleware(Starlette(), verifier=AudienceVerifier(), require_audience=True)
    with pytest.raises(ConfigurationError, match="one string, not a list"):
        ProtectedResource(RESOURCE, authorization_servers=ISSUER)
    with pytest.raises(ConfigurationError, match=r"authorization_servers='http://as\.example'"):
        ProtectedResource(RESOURCE, authorization_servers=["http://as.example"])
    with pytest.raises(ConfigurationError, match="short printable name"):
        ProtectedResource(RESOURCE, name="two\nlines")
    with pytest.raises(ConfigurationError, match="require_audience='yes'"):
        OAuthMiddleware(Starlette(), verifier=AudienceVerifier(), resource=RESOURCE,
                        require_audience="yes")  # type: ignore[arg-type]


@pytest.mark.rule("resource.metadata-content")
async def test_scopes_the_app_checks_itself_are_advertised_beside_the_mapping() -> None:
    """An MCP server's tools all sit behind one route: their scopes come from ``scopes=``."""
    resource = ProtectedResource(RESOURCE, authorization_servers=[ISSUER],
                                 scopes=["polls:vote", "polls:results", "tools:call"])
    app = Starlette(routes=[Route("/mcp", tools, methods=["POST"])])
    app.add_middleware(OAuthMiddleware, verifier=AudienceVerifier(), resource=resource,
                       scopes={"/mcp": ["tools:call"]})
    async with _client(app) as client:
        document = (await client.get(METADATA_PATH)).json()
    assert document["scopes_supported"] == ["polls:results", "polls:vote", "tools:call"]
    with pytest.raises(ConfigurationError, match=r"scopes='polls:vote' is wrong"):
        ProtectedResource(RESOURCE, scopes="polls:vote")
    with pytest.raises(ConfigurationError, match=r"scopes=\['a b'\] is wrong"):
        ProtectedResource(RESOURCE, scopes=["a b"])
    with pytest.raises(ConfigurationError, match=r"scopes=\['say \"hi\"'\] is wrong"):
        ProtectedResource(RESOURCE, scopes=['say "hi"'])


@pytest.mark.rule("resource.metadata-challenge", "resource.insufficient-scope")
async def test_every_refusal_of_the_middleware_points_to_the_metadata() -> None:
    app = _app()
    spoofed = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    async with _client(app, host="evil.example") as client:
        missing = await client.get("/mcp", headers=spoofed)
        invalid = await client.get("/mcp", headers={**spoofed, **_bearer("garbage")})
        scope = await client.get("/mcp", headers={**spoofed, **_bearer("no-scope")})
        twice = await client.get("/mcp?access_token=mine", headers={**spoofed,
                                                                   **_bearer("mine")})
        preflight = await client.options("/mcp", headers={
            **spoofed, "Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
    assert missing.status_code == 401 and missing.json() == {
        "error_description": "A bearer token is required."}
    assert missing.headers["www-authenticate"] == f'Bearer realm="api"{POINTER}'
    assert invalid.status_code == 401 and invalid.json()["error"] == "invalid_token"
    assert invalid.headers["www-authenticate"].startswith('Bearer realm="api", error="invalid')
    assert invalid.headers["www-authenticate"].endswith(POINTER)
    assert scope.status_code == 403 and scope.json()["error"] == "insufficient_scope"
    assert f'scope="tools:call"{POINTER}' in scope.headers["www-authenticate"]
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
    assert twice.headers["www-authenticate"].endswith(POINTER)
    # A preflight no CORS layer answered gets the refusal of a request without a token.
    assert preflight.status_code == 401
    assert preflight.headers["www-authenticate"] == f'Bearer realm="api"{POINTER}'


@pytest.mark.rule("resource.metadata-challenge")
async def test_the_decorator_and_require_scopes_point_to_the_metadata_too() -> None:
    api = FastAPI()

    @api.get("/fastapi")
    async def fastapi_route(token: Annotated[AccessToken, Depends(RequireScopes("tools:call"))]
                            ) -> dict[str, str]:
        return {"subject": token.subject}

    api.add_middleware(OAuthMiddleware, verifier=AudienceVerifier(), resource=RESOURCE)
    async with _client(_app()) as client:
        plain = await client.get("/decorated")
        dropped = await client.get("/decorated", headers=_bearer("garbage"))
        short = await client.get("/decorated", headers=_bearer("no-scope"))
    async with _client(api) as client:
        fast = await client.get("/fastapi")
        fast_short = await client.get("/fastapi", headers=_bearer("no-scope"))
    for response in (plain, fast):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == f'Bearer realm="api"{POINTER}'
        assert response.json() == {"error_description": "A bearer token is required."}
    assert dropped.status_code == 401 and dropped.json()["error"] == "invalid_token"
    assert dropped.headers["www-authenticate"].endswith(POINTER)
    for response in (short, fast_short):
        assert response.status_code == 403 and response.json()["scope"] == "tools:call"
        assert response.headers["www-authenticate"].endswith(f'scope="tools:call"{POINTER}')


@pytest.mark.rule("resource.metadata-challenge")
async def test_without_a_resource_no_challenge_names_metadata_and_none_is_served() -> None:
    app = Starlette(routes=[Route("/mcp", tools)])
    app.add_middleware(OAuthMiddleware, verifier=AudienceVerifier(),
                       scopes={"/mcp": "tools:call"})
    async with _client(app) as client:
        missing = await client.get("/mcp")
        metadata = await client.get(METADATA_PATH)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
    assert metadata.status_code == 404


def test_the_challenge_quotes_the_metadata_url_whatever_it_holds() -> None:
    refusal = render(MissingToken(), "api", 'https://h/"a\\b\r\nX-Evil: 1')
    challenge = dict(refusal.headers)[b"www-authenticate"]
    assert challenge == b'Bearer realm="api", resource_metadata="https://h/\\"a\\\\bX-Evil: 1"'


@pytest.mark.rule("resource.audience", "resource.invalid-token")
async def test_a_token_meant_for_another_resource_is_an_invalid_token() -> None:
    async with _client(_app()) as client:
        mine = await client.get("/mcp", headers=_bearer("mine"))
        both = await client.get("/mcp", headers=_bearer("mine-and-other"))
        other = await client.get("/mcp", headers=_bearer("other"))
        other_no_scope = await client.get("/mcp", headers=_bearer("other-no-scope"))
        unbound = await client.get("/mcp", headers=_bearer("unbound"))
        open_other = await client.get("/open", headers=_bearer("other"))
        decorated_other = await client.get("/decorated", headers=_bearer("other"))
    assert mine.status_code == 200 and mine.text == "tools"
    assert both.status_code == 200
    for refused in (other, other_no_scope, decorated_other):
        assert refused.status_code == 401 and refused.json() == {
            "error": "invalid_token",
            "error_description": "The access token is not meant for this resource."}
        assert refused.headers["www-authenticate"].endswith(POINTER)
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # No audience recorded (this server's own tokens, for now): accepted by default.
    assert unbound.status_code == 200
    # On an unlisted route the foreign token is dropped, not taken for the user.
    assert open_other.status_code == 200 and open_other.text == "anonymous"


@pytest.mark.rule("resource.audience")
async def test_require_audience_refuses_a_token_that_names_none() -> None:
    async with _client(_app(require_audience=True)) as client:
        unbound = await client.get("/mcp", headers=_bearer("unbound"))
        mine = await client.get("/mcp", headers=_bearer("mine"))
    assert unbound.status_code == 401 and unbound.json() == {
        "error": "invalid_token", "error_description": "The access token names no audience."}
    assert unbound.headers["www-authenticate"].endswith(POINTER)
    assert mine.status_code == 200


@pytest.mark.rule("resource.metadata-content")
async def test_a_resource_given_to_protect_is_another_resource_of_the_same_issuer() -> None:
    oauth = OAuth(store=TokenStore.from_url(None), issuer=ISSUER, resource=RESOURCE)
    app = Starlette(routes=[Route("/files", tools)])
    oauth.protect(app, scopes={"/files": "files:read"},
                  resource="https://api.example.com/files")
    async with _client(app) as client:
        response = await client.get("/.well-known/oauth-protected-resource/files")
        mcp = await client.get(METADATA_PATH)
    assert response.status_code == 200 and response.json() == {
        "resource": "https://api.example.com/files", "authorization_servers": [ISSUER],
        "scopes_supported": ["files:read"],
        "bearer_methods_supported": ["header", "body", "query"],
        "dpop_signing_alg_values_supported": ["ES256", "ES384", "PS256", "RS256", "Ed25519"]}
    assert mcp.status_code == 404


async def _socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


def uvicorn_app() -> Starlette:
    """Factory for ``uvicorn --factory tests.test_resource_metadata:uvicorn_app``."""
    app = _app(scopes={"/mcp": "tools:call", "/ws": "tools:call"})
    app.router.routes.append(WebSocketRoute("/ws", _socket))
    return app


@pytest.mark.rule("resource.metadata-challenge", "resource.metadata-identifier-exact",
                  "resource.websocket-http-refusal")
async def test_over_uvicorn_a_spoofed_host_changes_neither_the_pointer_nor_the_document(
) -> None:
    with UvicornProcess("tests.test_resource_metadata:uvicorn_app", "--factory",
                        "--workers", "2", "--proxy-headers",
                        "--forwarded-allow-ips", "127.0.0.1") as server:
        spoofed = {"Host": "evil.example", "X-Forwarded-Host": "evil.example",
                   "X-Forwarded-Proto": "https", "Forwarded": "host=evil.example"}
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = await client.get("/mcp", headers=spoofed)
            document = await client.get(METADATA_PATH, headers=spoofed)
            other = await client.get("/mcp", headers={**spoofed, **_bearer("other")})
        # The websocket client sends its own Host; a second one is refused by uvicorn's
        # h11 parser (httptools lets it through), so the socket is spoofed by proxy headers.
        forwarded = {name: value for name, value in spoofed.items() if name != "Host"}
        with pytest.raises(InvalidStatus) as socket_refusal:
            async with ws_connect(server.url.replace("http://", "ws://") + "/ws",
                                  additional_headers=forwarded, open_timeout=10):
                pass
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == f'Bearer realm="api"{POINTER}'
    assert document.status_code == 200 and document.json()["resource"] == RESOURCE
    assert other.status_code == 401 and other.json()["error"] == "invalid_token"
    assert other.headers["www-authenticate"].endswith(POINTER)
    handshake = socket_refusal.value.response
    assert handshake.status_code == 401
    assert handshake.headers["WWW-Authenticate"] == f'Bearer realm="api"{POINTER}'


def test_require_audience_without_a_resource_names_the_option_to_add() -> None:
    message = ("OAuthMiddleware: require_audience=True needs resource='https://...': the "
               "audience is checked against the resource's identifier")
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        OAuthMiddleware(Starlette(), verifier=AudienceVerifier(), require_audience=True)


async def _asgi(app: Any, method: str, path: str, scheme: str = "https",
                headers: tuple[tuple[bytes, bytes], ...] = ()) -> list[dict[str, Any]]:
    """What ``app`` sends for one request, message by message (no client in between to
    drop a HEAD answer's body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": scheme, "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "server": ("api.example.com", 443),
             "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"api.example.com"), *headers]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.rule("resource.metadata-served")
async def test_head_of_the_metadata_sends_its_headers_and_no_body_also_when_refused() -> None:
    app = _app()
    got = await _asgi(app, "GET", METADATA_PATH)
    head = await _asgi(app, "HEAD", METADATA_PATH)
    assert got[0]["status"] == head[0]["status"] == 200
    assert head[0]["headers"] == got[0]["headers"]
    assert json.loads(got[1]["body"])["resource"] == RESOURCE
    assert head[1]["body"] == b""
    plain_get = await _asgi(app, "GET", METADATA_PATH, scheme="http")
    plain_head = await _asgi(app, "HEAD", METADATA_PATH, scheme="http")
    assert plain_get[0]["status"] == plain_head[0]["status"] == 400
    assert json.loads(plain_get[1]["body"])["error_description"] == "HTTPS is required."
    assert plain_head[1]["body"] == b""


@pytest.mark.rule("resource.metadata-served")
async def test_a_get_with_preflight_headers_gets_the_metadata_not_a_preflight_answer() -> None:
    async with _client(_app()) as client:
        got = await client.get(METADATA_PATH, headers={
            "Origin": "https://inspector.example", "Access-Control-Request-Method": "GET"})
    assert got.status_code == 200 and got.json()["resource"] == RESOURCE
    assert got.headers["content-type"] == "application/json"


@pytest.mark.rule("resource.metadata-served")
async def test_metadata_is_served_in_front_of_an_app_without_routes() -> None:
    """Only routes of the app can shadow the document; a bare ASGI app has none."""
    inner = PlainTextResponse("the app", status_code=418)
    app = OAuthMiddleware(inner, verifier=AudienceVerifier(), resource=RESOURCE)
    async with _client(app) as client:
        got = await client.get(METADATA_PATH)
        elsewhere = await client.get("/elsewhere")
    assert got.status_code == 200 and got.json()["resource"] == RESOURCE
    assert elsewhere.status_code == 418 and elsewhere.text == "the app"


@pytest.mark.rule("resource.metadata-challenge")
async def test_a_decorated_endpoint_called_by_another_points_its_refusal_to_the_metadata(
) -> None:
    """The middleware cannot see a decorated endpoint another endpoint calls: the
    decorator refuses itself, with the same pointer to the metadata."""
    async def relay(request: Request) -> Response:
        answer: Response = await decorated(request)
        return answer

    app = Starlette(routes=[Route("/relay", relay)])
    app.add_middleware(OAuthMiddleware, verifier=AudienceVerifier(), resource=RESOURCE)
    async with _client(app) as client:
        plain = await client.get("/relay")
        short = await client.get("/relay", headers=_bearer("no-scope"))
    assert plain.status_code == 401
    assert plain.json() == {"error_description": "A bearer token is required."}
    assert plain.headers["www-authenticate"] == f'Bearer realm="api"{POINTER}'
    assert short.status_code == 403 and short.json()["scope"] == "tools:call"
    assert short.headers["www-authenticate"].endswith(f'scope="tools:call"{POINTER}')
