"""``scope sync`` over apps that loop or break: one ``Error:`` line, bounded, nothing added."""

from __future__ import annotations

import pytest

from tests.cli.harness import Cli, assert_error


@pytest.mark.parametrize(("path", "message"), [
    ("tests.cli.weird_apps:self_mounted", "the Mount at '/again' contains an app it is "
                                          "mounted in"),
    ("tests.cli.weird_apps:ping", "the Mount at '/pong/ping' contains an app it is mounted in"),
    ("tests.cli.weird_apps:deep", "routes are nested more than 64 mounts deep"),
    ("tests.cli.weird_apps:endless", "the routes at '/' number more than 100000"),
    ("tests.cli.weird_apps:raising", "Error: cannot load 'tests.cli.weird_apps:raising': "
                                     "RuntimeError: settings are not configured (reading its "
                                     "routes)"),
])
def test_sync_refuses_a_looping_or_failing_app_with_one_line(
    cli: Cli, path: str, message: str
) -> None:
    result = cli.invoke("scope", "sync", path)
    assert_error(result, message)
    assert cli.run(lambda store: store.list_scopes()) == []
