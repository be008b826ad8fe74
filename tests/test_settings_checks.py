"""Misconfiguration fails at start, naming the option, its value and the fix (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message

from oauth_middleware import AUTO, OAuthMiddleware
from oauth_middleware.admin import AdminApp
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.servers import UvicornProcess

KEY = "k" * 32
ISSUER = "https://auth.example/oauth"


async def page(request: Request) -> Response:
    return PlainTextResponse("page")


def _app(store: TokenStore, scopes: dict[str, Any], *routes: Any) -> Starlette:
    routes = routes or (Route("/polls/{poll_id}/stats", page),
                        Route("/polls/{poll_id}/vote", page, methods=["POST"]))
    return Starlette(routes=list(routes), middleware=[
        Middleware(OAuthMiddleware, store=store, scopes=scopes, debug=True)])


async def _startup(app: Any) -> tuple[list[Message], BaseException | None]:
    """Drive the lifespan startup as an ASGI server does: what the app sent, what it raised."""
    sent: list[Message] = []
    incoming = [{"type": "lifespan.startup"}]

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    except Exception as exc:
        return sent, exc
    return sent, None


async def test_a_scope_key_matching_no_route_fails_the_startup_naming_the_key(
    store: TokenStore,
) -> None:
    app = _app(store, {"/polls/{poll_id}/stat": "polls:stats"})  # typo: "stat"
    sent, raised = await _startup(app)
    message = ("OAuthMiddleware: scopes key '/polls/{poll_id}/stat' matches no route of the "
               "app, so it protects nothing: fix the path (or method) to one of the app's "
               "routes, e.g. '/polls/{poll_id}/stats', '/polls/{poll_id}/vote'")
    assert sent == [{"type": "lifespan.startup.failed", "message": message}]
    assert isinstance(raised, ConfigurationError) and str(raised) == message


async def test_a_scope_key_matching_no_route_refuses_the_first_request_without_lifespan(
    store: TokenStore,
) -> None:
    app = _app(store, {"POST /polls/{poll_id}/stats": "polls:stats"})  # the route is GET only
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with pytest.raises(ConfigurationError, match=re.escape(
                "scopes key 'POST /polls/{poll_id}/stats' matches no route")):
            await client.get("/polls/1/stats")


@pytest.mark.parametrize("key", [
    "/polls/{poll_id}/stats",      # the template itself
    "/polls/{id}/stats",           # another parameter name, same paths
    "/polls/7/stats",              # one concrete path of the route
    "GET /polls/{poll_id}/stats",
    "POST /polls/{poll_id}/vote",
    "/static/app.js",              # under a mount whose routes are not known
])
async def test_a_scope_key_that_matches_a_route_starts_and_protects_it(
    store: TokenStore, key: str, tmp_path: Path,
) -> None:
    app = _app(store, {key: "polls:stats"}, Route("/polls/{poll_id}/stats", page),
               Route("/polls/{poll_id}/vote", page, methods=["POST"]),
               Mount("/static", StaticFiles(directory=tmp_path)))
    sent, raised = await _startup(app)
    assert raised is None and sent[0] == {"type": "lifespan.startup.complete"}
    method, _, path = key.rpartition(" ")
    concrete = path.replace("{poll_id}", "7").replace("{id}", "7")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.request(method or "GET", concrete)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_a_head_scope_key_is_refused_since_head_is_matched_as_get(
    store: TokenStore,
) -> None:
    sent, raised = await _startup(_app(store, {"HEAD /polls/{poll_id}/stats": "polls:stats"}))
    message = ("OAuthMiddleware: scopes key 'HEAD /polls/{poll_id}/stats' never applies: a HEAD "
               "request is matched as GET, so write 'GET /polls/{poll_id}/stats' (it covers "
               "HEAD too)")
    assert isinstance(raised, ConfigurationError) and str(raised) == message
    assert sent == [{"type": "lifespan.startup.failed", "message": message}]


async def test_auto_naming_no_route_fails_the_startup_too(store: TokenStore) -> None:
    sent, raised = await _startup(_app(store, {"/nowhere": AUTO}))
    assert isinstance(raised, ValueError)
    assert sent == [{"type": "lifespan.startup.failed", "message": str(raised)}]
    assert "'/nowhere'" in str(raised)


def test_a_scope_given_as_a_number_names_its_key_and_the_fix(store: TokenStore) -> None:
    with pytest.raises(ConfigurationError) as refused:
        OAuthMiddleware(PlainTextResponse("x"), store=store, scopes={"/x": 5})  # type: ignore[dict-item]
    assert str(refused.value) == (
        "OAuthMiddleware: scopes={'/x': 5} (dict) is wrong: the value for '/x' is 5 (int): "
        'pass a scope such as "polls:read", a list of scopes, or AUTO')


def test_grants_given_as_one_string_says_to_pass_a_list(store: TokenStore) -> None:
    with pytest.raises(ConfigurationError) as refused:
        AuthorizationServer(store=store, issuer=ISSUER, secret_key=KEY,
                            grants="client_credentials")
    assert str(refused.value) == (
        "AuthorizationServer: grants='client_credentials' (str) is wrong: that is one "
        "string, not a list: pass ['client_credentials'], or None for every grant type")


def test_a_redis_url_for_the_store_says_to_pass_a_shared_token_store() -> None:
    with pytest.raises(ConfigurationError) as refused:
        AuthorizationServer(store="redis://localhost:6379/0", issuer=ISSUER,  # type: ignore[arg-type]
                            secret_key=KEY)
    assert str(refused.value) == (
        "AuthorizationServer: store='redis://localhost:6379/0' (str) is wrong: pass a store, "
        "not a URL: store=TokenStore.from_url('redis://localhost:6379/0'), created once and "
        "shared by the middleware, the server and the admin")


@pytest.mark.rule("rest.no-secret-in-logs")
@pytest.mark.parametrize("owner", ["OAuthMiddleware", "AuthorizationServer", "AdminApp"])
@pytest.mark.parametrize(("url", "shown"), [
    ("redis://app:Pa55-word@redis.internal:6379/0", "'redis://…@redis.internal:6379/0'"),
    ("rediss://:Pa55@w/rd@redis.internal/0", "'rediss://…@redis.internal/0'"),
    ("redis://redis.internal/0?password=Pa55-word", "'redis://redis.internal/0?…'"),
])
def test_a_redis_url_for_the_store_never_shows_its_password(
    store: TokenStore, owner: str, url: str, shown: str,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _construct(store, owner, "store", url)
    message = str(refused.value)
    assert message.startswith(
        f"{owner}: store={shown} (str) is wrong: pass a store, not a URL: "
        f"store=TokenStore.from_url({shown}), created once and shared by the middleware, "
        "the server and the admin")
    assert "Pa55" not in message and "Pa55" not in repr(refused.value)


def _allow(request: Request) -> bool:
    return True


#: (constructor, a wrong option, the words the message must hold after "name=value (type)").
WRONG: list[tuple[str, str, Any, str]] = [
    ("OAuthMiddleware", "debug", "false", "pass True or False"),
    ("OAuthMiddleware", "header", 1, "pass True or False"),
    ("OAuthMiddleware", "form_body", None, "pass True or False"),
    ("OAuthMiddleware", "query", "yes", "pass True or False"),
    ("OAuthMiddleware", "realm", "", "pass a non-empty string"),
    ("OAuthMiddleware", "realm", b"api", "pass a non-empty string"),
    ("OAuthMiddleware", "max_body_size", -1, "pass a whole number, at least 1"),
    ("OAuthMiddleware", "max_body_size", "1MB", "pass a whole number, at least 1"),
    ("OAuthMiddleware", "retry_after", 0, "pass a whole number, at least 1"),
    ("OAuthMiddleware", "retry_after", True, "pass a whole number, at least 1"),
    ("OAuthMiddleware", "scopes", ["/x"], "pass a dict of route to scope"),
    ("OAuthMiddleware", "scopes", {"/x": [1]}, "every scope in the list must be a string"),
    ("OAuthMiddleware", "scopes", {"/x": {"a": 1}}, "pass a scope such as"),
    ("OAuthMiddleware", "scopes", {1: "a"}, "key 1 must be a string"),
    ("AuthorizationServer", "issuer", None, "pass a string"),
    ("AuthorizationServer", "login_url", Path("/login"), "pass a string"),
    ("AuthorizationServer", "debug", "True", "pass True or False"),
    ("AuthorizationServer", "require_pkce", 1, "pass True or False"),
    ("AuthorizationServer", "grants", {"client_credentials": True}, "pass a list of strings"),
    ("AuthorizationServer", "grants", [b"implicit"], "every item must be a string"),
    ("AuthorizationServer", "code_lifetime", "600", "pass a whole number"),
    ("AuthorizationServer", "consent_lifetime", 1.5, "pass a whole number"),
    ("AuthorizationServer", "max_pending_consents", "10", "pass a whole number"),
    ("AuthorizationServer", "refresh_lifetime", "never", "or None for never expiring"),
    ("AuthorizationServer", "authenticate", "user", "pass a function (sync or async)"),
    ("AuthorizationServer", "verify_password", True, "or None for no password grant"),
    ("AuthorizationServer", "throttle", {"window": 60}, "pass ThrottlePolicy(...)"),
    ("AuthorizationServer", "templates", 3, "pass a directory path"),
    ("AuthorizationServer", "introspection_scope", ["a"], "pass a string or None"),
    ("AuthorizationServer", "client_metadata_documents", True, "pass ClientMetadataPolicy(...)"),
    ("AdminApp", "is_admin", True, "pass a function (sync or async), e.g. is_admin="),
    ("AdminApp", "authenticate", None, "pass a function"),
    ("AdminApp", "debug", "0", "pass True or False"),
    ("AdminApp", "page_size", "50", "pass a whole number"),
    ("AdminApp", "title", None, "pass a string"),
    ("AdminApp", "login_url", None, "pass a string"),
]


def _construct(store: TokenStore, owner: str, name: str, value: Any) -> None:
    if owner == "OAuthMiddleware":
        OAuthMiddleware(PlainTextResponse("x"), **{"store": store, name: value})
    elif owner == "AuthorizationServer":
        AuthorizationServer(**{"store": store, "issuer": ISSUER, "secret_key": KEY, name: value})
    else:
        AdminApp(**{"store": store, "is_admin": _allow, "secret_key": KEY, name: value})


@pytest.mark.parametrize(("owner", "name", "value", "fix"), WRONG)
def test_a_wrong_option_type_is_refused_naming_the_option_value_and_fix(
    store: TokenStore, owner: str, name: str, value: Any, fix: str,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _construct(store, owner, name, value)
    assert str(refused.value).startswith(
        f"{owner}: {name}={value!r} ({type(value).__name__}) is wrong: ")
    assert fix in str(refused.value)


@pytest.mark.rule("rest.no-secret-in-logs")
@pytest.mark.parametrize("owner", ["AuthorizationServer", "AdminApp"])
def test_a_secret_key_of_the_wrong_type_is_named_but_never_shown(
    store: TokenStore, owner: str,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _construct(store, owner, "secret_key", 31415926535897932384626433832795028841971)
    assert str(refused.value).startswith(
        f"{owner}: secret_key=<a int (value hidden)> (int) is wrong: pass a string or bytes")
    assert "31415926" not in str(refused.value)


@pytest.mark.parametrize(("name", "value", "fix"), [
    ("public", "false", "pass True or False"),
    ("grant_types", "client_credentials", "that is one string, not a list"),
    ("scopes_list", "items:read items:write", "that is one string, not a list"),
    ("token_lifetime", "3600", "or None for never expiring"),
    ("token_lifetime", 3600.0, "pass a whole number"),
    ("redirect_uri", 5, "pass a list of strings"),
    ("replace_existing", "yes", "pass True or False"),
    ("allow_http", 1, "pass True or False"),
    ("description", None, "pass a string"),
])
async def test_register_client_refuses_a_wrong_option_type_and_stores_nothing(
    store: TokenStore, name: str, value: Any, fix: str,
) -> None:
    options: dict[str, Any] = {"public": False, "grant_types": ["client_credentials"],
                               name: value}
    with pytest.raises(ConfigurationError) as refused:
        await register_client(store, "Service", "svc", **options)
    assert str(refused.value).startswith(
        f"register_client: {name}={value!r} ({type(value).__name__}) is wrong: ")
    assert fix in str(refused.value)
    assert await store.get_client("svc") is None


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_register_client_hides_a_client_secret_of_the_wrong_type(
    store: TokenStore,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        await register_client(store, "Service", "svc", public=False,
                              client_secret=b"0123456789abcdef-secret")  # type: ignore[arg-type]
    assert str(refused.value) == ("register_client: client_secret=<a bytes (value hidden)> "
                                  "(bytes) is wrong: pass a string or None")


async def test_grants_and_grant_types_given_as_generators_are_not_used_up_by_the_checks(
    store: TokenStore,
) -> None:
    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=KEY,
                                 grants=(g for g in ["client_credentials"]))
    assert server.config.grant_types == frozenset({"client_credentials"})
    registered = await register_client(store, "Service", "svc", public=False,
                                       grant_types=(g for g in ["client_credentials"]))
    assert registered.client.grant_types == ("client_credentials",)


def _mounted(store: TokenStore, key: str, form: str) -> Starlette:
    """A sub-app under ``/v1`` whose middleware maps ``key`` (relative to the mount, as the
    middleware matches it). A mounted app's lifespan never runs: the first request binds."""
    options: dict[str, Any] = {"store": store, "scopes": {key: "items:read"}, "debug": True}
    routes = [Route("/items", page)]
    if form == "middleware of the sub-app":
        sub: Any = Starlette(routes=routes, middleware=[Middleware(OAuthMiddleware, **options)])
    else:  # the sub-app wrapped where it is mounted
        sub = OAuthMiddleware(Starlette(routes=routes), **options)
    return Starlette(routes=[Mount("/v1", app=sub)])


@pytest.mark.parametrize("form", ["middleware of the sub-app", "sub-app wrapped at the mount"])
async def test_a_mapping_key_of_a_mounted_app_matching_none_of_its_routes_is_refused(
    store: TokenStore, form: str,
) -> None:
    """The typo left ``/v1/items`` answering 200 to anyone: the check was skipped when mounted."""
    transport = httpx.ASGITransport(app=_mounted(store, "/itmes", form))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as client:
        with pytest.raises(ConfigurationError) as refused:
            await client.get("/v1/items")
    assert str(refused.value).startswith(
        "OAuthMiddleware: scopes key '/itmes' matches no route of the app, so it protects "
        "nothing: fix the path (or method) to one of the app's routes, e.g. '/items'")


@pytest.mark.parametrize("form", ["middleware of the sub-app", "sub-app wrapped at the mount"])
async def test_a_mapping_key_of_a_mounted_app_matching_its_route_protects_it(
    store: TokenStore, form: str,
) -> None:
    transport = httpx.ASGITransport(app=_mounted(store, "GET /items", form))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as client:
        refused = await client.get("/v1/items")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(("key", "refused"), [("/itmes", True), ("GET /items", False)])
async def test_an_app_behind_a_path_prefix_has_its_mapping_keys_checked(
    store: TokenStore, key: str, refused: bool,
) -> None:
    """A server run with a root path (uvicorn ``--root-path``, a proxy's prefix) sets
    ``root_path`` on every request; without a lifespan the first request binds."""
    app = _app(store, {key: "items:read"}, Route("/items", page))
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as client:
        if refused:
            with pytest.raises(ConfigurationError, match="scopes key '/itmes' matches no route"):
                await client.get("/api/items")
        else:
            assert (await client.get("/api/items")).status_code == 401


def _host(store: TokenStore, mount: str, issuer: str) -> Starlette:
    server = AuthorizationServer(store=store, issuer=issuer, secret_key=KEY)
    return Starlette(routes=[Mount(mount, server)])


async def test_an_issuer_that_is_not_the_mount_path_refuses_the_first_request_with_the_fix(
    store: TokenStore,
) -> None:
    app = _host(store, "/auth", "https://auth.example/oauth")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example") as client:
        with pytest.raises(ConfigurationError) as refused:
            await client.get("/auth/.well-known/oauth-authorization-server")
    assert str(refused.value) == (
        "AuthorizationServer: issuer='https://auth.example/oauth' does not match the path it "
        "is mounted at ('/auth'), so its metadata would advertise wrong URLs: mount it at "
        "'/oauth' or set issuer to end with '/auth'")


@pytest.mark.parametrize(("mount", "issuer"), [
    ("/oauth", "https://auth.example/oauth"),
    ("/oauth", "https://auth.example/oauth/"),
    ("/oauth", "https://auth.example/api/oauth"),  # a proxy strips "/api" in front
])
async def test_an_issuer_ending_with_the_mount_path_serves_metadata_under_it(
    store: TokenStore, mount: str, issuer: str,
) -> None:
    transport = httpx.ASGITransport(app=_host(store, mount, issuer))
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example") as client:
        response = await client.get(f"{mount}/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.json()["token_endpoint"] == f"{issuer.rstrip('/')}/token/"


async def test_an_issuer_without_a_path_mounted_under_one_is_refused(store: TokenStore) -> None:
    transport = httpx.ASGITransport(app=_host(store, "/oauth", "https://auth.example"))
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example") as client:
        with pytest.raises(ConfigurationError, match="mount it at '/' or set issuer to end "
                                                     "with '/oauth'"):
            await client.post("/oauth/token/", data={"grant_type": "client_credentials"})


def test_uvicorn_stops_at_start_on_a_scope_key_matching_no_route() -> None:
    """Under uvicorn's default lifespan mode a bare exception would be taken for "lifespan
    unsupported" and the app served anyway; the startup failure stops it, message shown."""
    server = UvicornProcess("tests.startup_apps:misconfigured", "--factory")
    try:
        with pytest.raises(RuntimeError, match="server exited early") as refused:
            server.start()
    finally:
        server.stop()  # had it started, it would be serving the unprotected route
    output = str(refused.value)
    assert ("OAuthMiddleware: scopes key '/item' matches no route of the app, so it protects "
            "nothing: fix the path (or method) to one of the app's routes, e.g. '/items'"
            ) in output
    assert "Application startup failed. Exiting." in output
