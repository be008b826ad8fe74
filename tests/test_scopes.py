"""Route-to-scope policy: parsing, AUTO derivation, decorator rules, matching."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Host, Mount, Route

from oauth_middleware import AUTO, oauth_required
from oauth_middleware.scopes import ScopePolicy, derive, parse_key, walk_routes
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


def test_invalid_scope_identifiers_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="invalid scope identifier"):
        ScopePolicy({"/a": "two words"})
    with pytest.raises(ValueError, match="invalid scope identifier"):
        ScopePolicy({"/a": ['quote"d']})


def test_walk_routes_joins_mount_paths_and_names() -> None:
    infos = {i.template: i for i in walk_routes(ROUTES)}
    assert infos["/polls/admin/{poll_id}/purge"].mounts == ("polls", "admin")
    assert infos["/unnamed/{x}/details"].mounts == ()


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
