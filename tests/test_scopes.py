"""Route-to-scope policy: parsing, AUTO derivation, decorator rules, matching."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Host, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from oauth_middleware import AUTO, oauth_required
from oauth_middleware.scopes import (
    MAX_NESTING,
    MAX_ROUTES,
    RouteInfo,
    ScopePolicy,
    derive,
    parse_key,
    walk_routes,
)
from tests import apps


async def results(request: Request) -> Response:
    return Response()


@oauth_required(scope_auto=True)
async def details(request: Request) -> Response:
    return Response()


ROUTES = [
    Mount("/polls", name="polls", routes=[
        Route("/{poll_id}/results", results),
        Mount("/admin", name="admin", routes=[Route("/{poll_id}/purge", results, name="purge")]),
    ]),
    Mount("/unnamed", routes=[Route("/{x}/details", details)]),
    Host("api.example", name="api", app=apps.build_app.__globals__["Starlette"](routes=[
        Route("/status", results)])),
]


def test_keys_are_optional_method_and_path_template() -> None:
    assert parse_key("/a/{id}") == (None, "/a/{id}")
    assert parse_key("post /a") == ("POST", "/a")
    with pytest.raises(ValueError, match="unknown HTTP method"):
        parse_key("FETCH /a")
    with pytest.raises(ValueError, match="starting with '/'"):
        parse_key("GET a")
    # The method is the first word only: a path may hold a space (decoded %20).
    assert parse_key("GET /files/my docs") == ("GET", "/files/my docs")
    policy = ScopePolicy({"GET /files/my docs": "files:read"})
    assert policy.required("GET", "/files/my docs") == frozenset({"files:read"})


def test_invalid_scope_identifiers_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="invalid scope identifier"):
        ScopePolicy({"/a": "two words"})
    with pytest.raises(ValueError, match="invalid scope identifier"):
        ScopePolicy({"/a": ['quote"d']})


def test_walk_routes_joins_mount_paths_and_names() -> None:
    infos = {i.template: i for i in walk_routes(ROUTES)}
    assert infos["/polls/admin/{poll_id}/purge"].mounts == ("polls", "admin")
    assert infos["/unnamed/{x}/details"].mounts == ()
    assert infos["/status"].mounts == ("api",)  # a Host adds its name, and no path


def test_auto_derivation_follows_named_mounts_then_module() -> None:
    infos = {i.template: i for i in walk_routes(ROUTES)}
    assert derive(infos["/polls/{poll_id}/results"]) == "polls:results"
    assert derive(infos["/polls/admin/{poll_id}/purge"]) == "polls:admin:purge"
    assert derive(infos["/unnamed/{x}/details"]) == "tests:details"


def test_auto_without_a_named_mount_uses_the_function_name_not_the_route_name() -> None:
    """Issue 2's rule: module + ":" + function name; a route ``name=`` counts under a mount."""
    routes = [Route("/x", results, name="n"),
              Mount("/m", name="m", routes=[Route("/y", results, name="n")])]
    infos = {i.template: i for i in walk_routes(routes)}
    assert derive(infos["/x"]) == "tests:results"
    assert derive(infos["/m/y"]) == "m:n"
    policy = ScopePolicy({"/x": AUTO})
    policy.bind(routes)
    assert policy.required("GET", "/x") == frozenset({"tests:results"})


def test_bound_policy_resolves_auto_and_decorators() -> None:
    policy = ScopePolicy({"/polls/{poll_id}/results": AUTO, "POST /polls/{poll_id}/results": "w"})
    assert policy.needs_routes and not policy.bound
    policy.bind(ROUTES)
    assert policy.required("GET", "/polls/1/results") == frozenset({"polls:results"})
    assert policy.required("HEAD", "/polls/1/results") == frozenset({"polls:results"})
    assert policy.required("POST", "/polls/1/results") == frozenset({"w"})
    assert policy.required("GET", "/unnamed/1/details") == frozenset({"tests:details"})
    assert policy.required("GET", "/polls/1/other") is None
    assert policy.required("GET", "/polls/1/results/extra") is None


def test_explicit_rules_apply_before_binding() -> None:
    policy = ScopePolicy({"/a/{id}": "a:read", "/b": AUTO})
    assert policy.required("GET", "/a/7") == frozenset({"a:read"})


def test_auto_without_a_matching_route_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="no route has that path template"):
        ScopePolicy({"/nowhere": AUTO}).bind(ROUTES)


def test_auto_refuses_endpoints_without_a_name_instead_of_sharing_one_scope() -> None:
    def handler(request: Request, action: str) -> Response:
        return Response(action)

    routes = [Route("/read", functools.partial(handler, action="read")),
              Route("/delete", functools.partial(handler, action="delete"))]
    with pytest.raises(ValueError, match=r"AUTO cannot derive a scope for '/read'.*partial"):
        ScopePolicy({"/read": AUTO, "/delete": AUTO}).bind(routes)
    named = ScopePolicy({"/read": "items:read", "/delete": "items:delete"})
    named.bind(routes)
    assert named.required("GET", "/delete") == frozenset({"items:delete"})


def test_decorator_rejects_conflicting_arguments_and_bad_scopes() -> None:
    with pytest.raises(ValueError, match="either"):
        oauth_required("a", scope_auto=True)
    with pytest.raises(ValueError, match="invalid scope identifier"):
        oauth_required("a b")


def test_required_cache_stays_bounded() -> None:
    policy = ScopePolicy({"/a/{id}": "a"})
    for i in range(5000):
        policy.required("GET", f"/a/{i}")
    assert len(policy._cache) <= 4096


@pytest.mark.rule("abuse.bounded.memory")
def test_long_paths_are_matched_but_never_remembered() -> None:
    """The route cache kept every (method, path) it saw, up to 4096 of them: paths of
    60 KB, which uvicorn passes, made any anonymous caller grow each worker by ~250 MB."""
    policy = ScopePolicy({"/polls/{poll_id}/results": "polls:results"})
    long_poll = "/polls/" + "7" * 60_000 + "/results"
    assert policy.required("GET", long_poll) == frozenset({"polls:results"})
    for i in range(50):
        assert policy.required("GET", f"/nothing/{i}/" + "y" * 60_000) is None
    assert policy.required("GET", "/polls/7/results") == frozenset({"polls:results"})
    held = sum(len(method) + len(path) for method, path in policy._cache)
    assert held == len("GET") + len("/polls/7/results")


async def list_items(request: Request) -> Response:
    return Response()


async def create_item(request: Request) -> Response:
    return Response()


@oauth_required("items:write")
async def write_item(request: Request) -> Response:
    return Response()


@pytest.mark.rule("resource.insufficient-scope")
def test_head_is_held_to_a_rule_keyed_get() -> None:
    """HEAD is GET without a body (RFC 9110 §9.3.2): a GET rule left HEAD open would let
    anyone learn from an answer's headers and status what GET protects."""
    policy = ScopePolicy({"GET /x": "x:read"})
    assert policy.required("HEAD", "/x") == frozenset({"x:read"})
    assert policy.required("POST", "/x") is None
    policy.bind([Route("/x", results)])
    assert policy.required("HEAD", "/x") == frozenset({"x:read"})


@pytest.mark.rule("resource.insufficient-scope")
def test_auto_keyed_by_method_derives_from_the_route_serving_that_method() -> None:
    routes = [Route("/items", list_items, methods=["GET"]),
              Route("/items", create_item, methods=["POST"])]
    policy = ScopePolicy({"GET /items": AUTO, "POST /items": AUTO})
    policy.bind(routes)
    assert policy.required("GET", "/items") == frozenset({"tests:list_items"})
    assert policy.required("POST", "/items") == frozenset({"tests:create_item"})


@pytest.mark.rule("resource.insufficient-scope")
def test_a_decorated_route_binds_its_scope_to_its_own_methods_only() -> None:
    routes = [Route("/items", write_item, methods=["POST"]),
              Route("/items", list_items, methods=["GET"])]
    policy = ScopePolicy({})
    rules = policy.bind(routes)
    assert [(r.method, r.template) for r in rules] == [("POST", "/items")]
    assert policy.required("POST", "/items") == frozenset({"items:write"})
    assert policy.required("GET", "/items") is None


def test_auto_reads_as_auto_and_a_bad_scope_is_refused_naming_the_syntax() -> None:
    assert repr(AUTO) == "AUTO"
    with pytest.raises(ValueError, match="invalid scope identifier") as refused:
        ScopePolicy({"/a": "two words"})
    assert str(refused.value) == (
        "invalid scope identifier 'two words': use printable ASCII without spaces, "
        'quotes or backslashes, e.g. "polls:vote"')


def test_walk_routes_descends_into_included_fastapi_routers_and_goes_on_after_them() -> None:
    """FastAPI keeps an included router whole: its routes get the prefix and the names of
    the mounts around it, and the routes after it are walked too."""
    inner = APIRouter()

    @inner.get("/a")
    async def listed() -> None:
        return None

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    api.include_router(inner, prefix="/p")

    @api.post("/b")
    async def after() -> None:
        return None

    routes = [Mount("/api", name="api", app=api)]
    found = [(i.template, i.methods, i.mounts) for i in walk_routes(routes)]
    assert found == [("/api/p/a", frozenset({"GET"}), ("api",)),
                     ("/api/b", frozenset({"POST"}), ("api",))]
    policy = ScopePolicy({"/api/p/a": AUTO, "/api/b": AUTO})
    policy.bind(routes)
    assert policy.required("GET", "/api/p/a") == frozenset({"api:listed"})
    assert policy.required("POST", "/api/b") == frozenset({"api:after"})


@oauth_required("feed:read")
async def feed(websocket: WebSocket) -> None:
    await websocket.close()


def test_bound_rules_name_their_template_and_a_decorated_websocket_any_method() -> None:
    policy = ScopePolicy({"POST /a/{id}": "a:write", "/b": AUTO})
    rules = policy.bind([Route("/b", results), WebSocketRoute("/feed", feed)])
    assert policy.bound
    assert [(r.method, r.template, r.scopes) for r in rules] == [
        ("POST", "/a/{id}", frozenset({"a:write"})),
        (None, "/b", frozenset({"tests:results"})),
        (None, "/feed", frozenset({"feed:read"})),
    ]


def _exactly(message: str) -> str:
    """A ``match=`` pattern for this whole message, nothing more."""
    return f"^{re.escape(message)}$"


def _included(router: Any, prefix: str) -> SimpleNamespace:
    """An entry shaped like recent FastAPI's kept-whole ``include_router`` (the installed
    FastAPI copies routes instead, so the shape is built here)."""
    return SimpleNamespace(original_router=router, include_context=SimpleNamespace(prefix=prefix))


def test_walk_routes_joins_the_prefixes_of_nested_included_routers() -> None:
    inner = SimpleNamespace(routes=[Route("/x", results)])
    middle = SimpleNamespace(routes=[_included(inner, "/b")])
    found = list(walk_routes([_included(middle, "/a")]))
    assert [(i.template, i.endpoint) for i in found] == [("/a/b/x", results)]


def test_a_router_included_in_itself_is_refused_naming_where() -> None:
    looping = SimpleNamespace(routes=[])
    looping.routes.append(_included(looping, "/p"))
    message = ("the Mount at '/p/p' contains an app it is mounted in: "
               "a cycle of mounts cannot be walked")
    with pytest.raises(ValueError, match=_exactly(message)):
        list(walk_routes([_included(looping, "/p")]))


def test_an_app_mounted_in_itself_is_refused_at_the_first_repeat() -> None:
    app = Starlette(routes=[Route("/a", results)])
    app.router.routes.append(Mount("/again", app=app))
    message = ("the Mount at '/again' contains an app it is mounted in: "
               "a cycle of mounts cannot be walked")
    with pytest.raises(ValueError, match=_exactly(message)):
        list(walk_routes(app.routes))


def _nested(depth: int) -> list[Any]:
    routes: list[Any] = [Route("/leaf", results)]
    for _ in range(depth):
        routes = [Mount("/n", routes=routes)]
    return routes


def test_mounts_nest_up_to_the_limit_and_one_deeper_is_refused() -> None:
    deepest = list(walk_routes(_nested(MAX_NESTING)))
    assert [i.template for i in deepest] == ["/n" * MAX_NESTING + "/leaf"]
    message = (f"routes are nested more than {MAX_NESTING} mounts deep "
               f"(at {'/n' * (MAX_NESTING + 1)!r})")
    with pytest.raises(ValueError, match=_exactly(message)):
        list(walk_routes(_nested(MAX_NESTING + 1)))


#: A cheap leaf route (walking needs only a path and an endpoint).
_LEAF: Any = SimpleNamespace(path="/", endpoint=results)


def _leaves_then_failure(count: int) -> Iterator[SimpleNamespace]:
    """``count`` leaf routes, then a failure: reading past the limit is a bug."""
    yield from [_LEAF] * count
    raise AssertionError("the routes were read past the limit")


def test_a_route_list_longer_than_the_limit_is_refused_without_reading_it_all() -> None:
    assert len(list(walk_routes([_LEAF] * MAX_ROUTES))) == MAX_ROUTES
    message = (f"the routes at '/' number more than {MAX_ROUTES}: "
               "not walked further")
    with pytest.raises(ValueError, match=_exactly(message)):
        list(walk_routes(_leaves_then_failure(MAX_ROUTES + 1)))


def test_an_app_with_more_routes_than_the_limit_is_refused() -> None:
    half = MAX_ROUTES // 2
    exactly = [Mount("/a", routes=[_LEAF] * half),
               Mount("/b", routes=[_LEAF] * (MAX_ROUTES - half))]
    assert len(list(walk_routes(exactly))) == MAX_ROUTES
    over = [*exactly, Route("/one-more", results)]
    message = f"the app has more than {MAX_ROUTES} routes: not walked further"
    with pytest.raises(ValueError, match=_exactly(message)):
        list(walk_routes(over))


def test_walked_routes_keep_the_route_object_for_its_dependencies() -> None:
    route = Route("/r", results)
    assert [i.route for i in walk_routes([Mount("/m", routes=[route])])] == [route]


def test_auto_names_the_fix_when_an_endpoint_has_no_name() -> None:
    message = (
        "AUTO cannot derive a scope for '/p': its endpoint has no __name__ (a functools.partial "
        "or a callable object); map it to an explicit scope, or name the route under a named "
        "mount")
    with pytest.raises(ValueError, match=_exactly(message)):
        derive(RouteInfo("/p", None, None, functools.partial(results), ()))


def test_auto_of_an_endpoint_without_a_module_is_its_name_after_a_colon() -> None:
    """A function made by ``exec`` may carry ``__module__ = None``: no module part, but no
    made-up one either."""
    async def made(request: Request) -> Response:
        return Response()

    made.__module__ = None  # type: ignore[assignment]
    assert derive(RouteInfo("/p", None, None, made, ())) == ":made"
