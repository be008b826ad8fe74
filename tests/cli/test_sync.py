"""``oauth-middleware scope sync`` (oauthost's syncscopes) against both store backends."""

from __future__ import annotations

import json

import pytest

from oauth_middleware.models import Scope
from tests.cli.harness import Cli, assert_error, lines_of

APP = "tests.cli.sync_apps:app"
NEEDED = {
    "extra:scope": ("Extra Scope", ["GET /decorated"]),
    "my_polls:my_stats": ("My Polls My Stats", ["/polls/{poll_id}/stats"]),
    "polls:auto_decorated": ("Polls Auto Decorated", ["GET /polls/{poll_id}/auto"]),
    "polls:results": ("Polls Results", ["/polls/{poll_id}/results"]),
    "polls:vote": ("Polls Vote", ["POST /polls/{poll_id}/vote"]),
}


def _scopes(cli: Cli) -> list[Scope]:
    return cli.run(lambda store: store.list_scopes())


def test_sync_registers_every_scope_the_app_needs_with_a_readable_title(cli: Cli) -> None:
    out = cli.json("scope", "sync", APP)
    assert out["app"] == APP and out["dry_run"] is False and out["existing"] == []
    assert {a["identifier"]: (a["title"], a["routes"]) for a in out["added"]} == NEEDED
    assert _scopes(cli) == [Scope(i, title) for i, (title, _) in sorted(NEEDED.items())]


def test_sync_reports_existing_scopes_and_never_changes_them(cli: Cli) -> None:
    cli.run(lambda store: store.save_scope(Scope("polls:vote", "Cast a vote", enabled=False)))
    out = cli.json("scope", "sync", APP)
    assert [a["identifier"] for a in out["added"]] == [i for i in NEEDED if i != "polls:vote"]
    assert out["existing"] == [{"identifier": "polls:vote", "title": "Cast a vote",
                                "enabled": False, "routes": ["POST /polls/{poll_id}/vote"]}]
    assert Scope("polls:vote", "Cast a vote", enabled=False) in _scopes(cli)
    again = cli.json("scope", "sync", APP)
    assert again["added"] == [] and len(again["existing"]) == len(NEEDED)


def test_sync_text_report_lists_each_scope_with_its_status_and_routes(cli: Cli) -> None:
    cli.run(lambda store: store.save_scope(Scope("polls:vote", "Cast a vote", enabled=False)))
    cli.run(lambda store: store.save_scope(Scope("polls:results", "Results")))
    assert lines_of(cli.ok("scope", "sync", APP)) == [
        f"{APP} needs 5 scope(s).",
        "STATUS    SCOPE                 TITLE                 ROUTES",
        "added     extra:scope           Extra Scope           GET /decorated",
        "added     my_polls:my_stats     My Polls My Stats     /polls/{poll_id}/stats",
        "added     polls:auto_decorated  Polls Auto Decorated  GET /polls/{poll_id}/auto",
        "exists    polls:results         Results               /polls/{poll_id}/results",
        "disabled  polls:vote            Cast a vote           POST /polls/{poll_id}/vote",
        "Added 3, 2 already registered.",
    ]


def test_sync_dry_run_reports_what_it_would_add_and_changes_nothing(cli: Cli) -> None:
    out = cli.json("scope", "sync", APP, "--dry-run")
    assert out["dry_run"] is True and len(out["added"]) == len(NEEDED)
    assert _scopes(cli) == []
    text = cli.ok("scope", "sync", APP, "--dry-run")
    assert lines_of(text)[2].startswith("would add  extra:scope")
    assert lines_of(text)[-1] == "Would add 5, 0 already registered."
    assert _scopes(cli) == []


def test_sync_factory_app_under_an_unnamed_mount_uses_the_module_rule(cli: Cli) -> None:
    out = cli.json("scope", "sync", "tests.cli.sync_apps:plain_mount_app", "--factory")
    assert {a["identifier"]: a["routes"] for a in out["added"]} == {
        "items:admin": ["PUT /api/items"],
        "items:write": ["PUT /api/items"],
        "tests:listing": ["/api/items"],
        "tests:report": ["GET /api/report"],
    }
    assert [s.identifier for s in _scopes(cli)] == [
        "items:admin", "items:write", "tests:listing", "tests:report"]


def test_sync_reads_an_oauth_middleware_that_wraps_a_router(cli: Cli) -> None:
    out = cli.json("scope", "sync", "tests.cli.sync_apps:wrapped")
    assert [a["identifier"] for a in out["added"]] == ["items:read", "tests:report"]


def test_sync_finds_the_scopes_of_fastapi_routers_added_with_include_router(cli: Cli) -> None:
    out = cli.json("scope", "sync", "tests.cli.sync_apps:fastapi_app")
    assert {a["identifier"]: a["routes"] for a in out["added"]} == {
        "items:read": ["GET /api/items"],
        "tests:archive_items": ["POST /api/items/admin/archive"],
        "tests:item_stats": ["/api/items/{item_id}/stats"],
    }
    assert [s.identifier for s in _scopes(cli)] == [
        "items:read", "tests:archive_items", "tests:item_stats"]


def test_sync_without_middleware_finds_decorated_endpoints_and_warns(cli: Cli) -> None:
    result = cli.invoke("scope", "sync", "tests.cli.sync_apps:bare")
    assert result.exit_code == 0
    assert result.stderr.startswith("Warning: no OAuthMiddleware found")
    assert [s.identifier for s in _scopes(cli)] == ["tests:report"]


@pytest.mark.parametrize(("path", "message"), [
    ("tests.cli.no_such_module:app", "cannot import 'tests.cli.no_such_module': no such module"),
    ("tests.cli.sync_apps:nope", "module 'tests.cli.sync_apps' has no attribute 'nope'"),
    ("tests.cli.sync_apps:app", "is not an app factory: drop --factory"),
    ("tests.cli.sync_apps:not_an_app", "is not an app factory: drop --factory"),
    ("tests.cli.sync_apps:broken", "AUTO scope for '/api/nowhere': no route has that path"),
    ("tests.cli.sync_apps:not_an_app", "int has no routes"),
    ("tests.cli.sync_apps:auto_class_endpoint",
     "@oauth_required(scope_auto=True) on AutoReports.get: AUTO derives scopes for function "
     "endpoints only"),
    ("tests.cli.sync_apps:routeless_auto",
     "the OAuthMiddleware at '/legacy' has AUTO scopes but wraps an app without routes"),
])
def test_sync_refuses_what_it_cannot_read_with_one_line(
    cli: Cli, path: str, message: str
) -> None:
    factory = ["--factory"] if "drop --factory" in message else []
    assert_error(cli.invoke("scope", "sync", path, *factory), message)
    assert _scopes(cli) == []


@pytest.mark.parametrize("path", ["tests.cli.sync_apps", ":app", "tests.cli.sync_apps:"])
def test_sync_import_path_without_module_and_attribute_is_a_usage_error(
    cli: Cli, path: str
) -> None:
    assert_error(cli.invoke("scope", "sync", path), "MODULE:ATTRIBUTE", status=2)


@pytest.mark.parametrize(("path", "message"), [
    ("tests.cli.broken_import_app:app",
     "Error: cannot load 'tests.cli.broken_import_app:app': ModuleNotFoundError: No module "
     "named 'tests.cli.a_dependency_that_is_not_installed' "
     '(python -c "import tests.cli.broken_import_app" shows where)'),
    ("tests.cli.failing_app:app",
     "Error: cannot load 'tests.cli.failing_app:app': RuntimeError: DATABASE_URL is not set "
     '(see settings.py) (python -c "import tests.cli.failing_app" shows where)'),
])
def test_an_app_that_fails_to_import_is_one_line_naming_the_path_and_the_error(
    cli: Cli, path: str, message: str
) -> None:
    """A typo in IMPORT_PATH says "no such module"; a broken app names its own error."""
    result = cli.invoke("scope", "sync", path)
    assert_error(result, message)
    assert result.stderr == message + "\n"
    assert _scopes(cli) == []


def test_a_factory_that_fails_is_one_line_naming_the_path_and_the_error(cli: Cli) -> None:
    result = cli.invoke("scope", "sync", "tests.cli.sync_apps:failing_factory", "--factory")
    assert_error(result, "")
    assert result.stderr == ("Error: cannot load 'tests.cli.sync_apps:failing_factory': "
                             "RuntimeError: DATABASE_URL is not set (calling the factory)\n")


def test_sync_finds_scopes_used_only_through_require_scopes_dependencies(cli: Cli) -> None:
    out = cli.json("scope", "sync", "tests.cli.sync_apps:dependency_app")
    assert {a["identifier"]: a["routes"] for a in out["added"]} == {
        "items:admin": ["DELETE /admin/items/{item_id}"],
        "items:audit": ["POST /items"],
        "items:read": ["GET /items"],
        "items:write": ["POST /items"],
    }
    assert [s.identifier for s in _scopes(cli)] == [
        "items:admin", "items:audit", "items:read", "items:write"]


@pytest.mark.parametrize(("path", "prefix"), [
    ("tests.cli.sync_apps:wsgi", ""), ("tests.cli.sync_apps:mounted_wsgi", "/legacy")])
def test_sync_reads_the_explicit_mapping_of_a_protect_wsgi_app(
    cli: Cli, path: str, prefix: str
) -> None:
    """A WSGI app has no routes to read; its mapping is explicit, so it is all there is."""
    result = cli.invoke("scope", "sync", path, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = json.loads(result.stdout)
    assert {a["identifier"]: a["routes"] for a in out["added"]} == {
        "reports:read": [f"GET {prefix}/reports"],
        "reports:write": [f"POST {prefix}/reports"],
    }
    assert [s.identifier for s in _scopes(cli)] == ["reports:read", "reports:write"]


def test_sync_finds_oauth_required_on_the_methods_of_a_class_endpoint(cli: Cli) -> None:
    out = cli.json("scope", "sync", "tests.cli.sync_apps:class_endpoints")
    assert {a["identifier"]: a["routes"] for a in out["added"]} == {
        "reports:audit": ["POST /api/reports"],
        "reports:read": ["GET /api/reports"],
        "reports:write": ["POST /api/reports"],
    }


def test_sync_finds_an_oauth_middleware_mounted_below_the_app(cli: Cli) -> None:
    out = cli.json("scope", "sync", "tests.cli.sync_apps:mounted_router")
    assert {a["identifier"]: a["routes"] for a in out["added"]} == {
        "items:write": ["PUT /v2/api/items"],
        "tests:report": ["GET /v2/api/report"],
    }

