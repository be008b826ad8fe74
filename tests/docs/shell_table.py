"""The one table of the docs' shell blocks: each is run (:class:`Run`) or checked (:class:`Check`).

Keyed by page and the first line of the block's first command, so a new or edited first
line is unclassified until someone says how it is tested
(tests/docs/test_shell_blocks.py). A :class:`Run` block is followed, as written, by the
test it names (tests/docs/test_shell_runs.py unless it names a file); a
:class:`Check` block by :func:`tests.docs.shell_checks.check`, line by line.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.docs.fences import Block, blocks, pages
from tests.docs.shell import first_command

RUNS = "tests/docs/test_shell_runs.py"
WALKTHROUGH = ("tests/demo/test_walkthrough.py::"
               "test_the_walkthrough_commands_work_as_written_against_a_fresh_demo")


@dataclass(frozen=True)
class Run:
    """Executed, for real, by ``test``: a test of :data:`RUNS`, or ``file::name``."""

    test: str
    why: str


@dataclass(frozen=True)
class Check:
    """Cannot run inside a test (``why``); every command line is checked instead.
    ``app``: the page's python block (0-based) whose ``app`` the curl lines must address;
    ``lists``: the comments of its ``pip`` lines name the packages each brings."""

    why: str
    app: int | None = None
    lists: bool = False


REGISTRY = "installs from the package registry: the network, and minutes"
SUITE = "the whole suite, or a run that takes minutes"
SERVES = "serves until stopped; the demo tests start it as this script does (python -m demo)"
TABLE: dict[tuple[str, str], Run | Check] = {
    ("README.md", 'pip install "oauth-middleware[embedded]"   # with the embedded store: no '
                  "Redis needed to try it"): Check(REGISTRY),
    ("README.md", "export OAUTH_SECRET_KEY=$(python3 -c 'import secrets;print(secrets."
                  "token_urlsafe(32))')"): Run("test_readme_quick_start", "uvicorn + curl"),
    ("README.md", "scripts/demo                      # serves http://127.0.0.1:8000 ; "
                  "--host/--port to change"): Check(SERVES),
    ("README.md", "scripts/test"): Check(SUITE),
    ("CONTRIBUTING.md", "scripts/setup          # .venv with the package (editable) and the "
                        "dev group: tests, linters, docs"): Check(REGISTRY),
    ("CONTRIBUTING.md", "scripts/test                      # everything, as CI (.ci/run) runs "
                        "it"): Check(SUITE),
    ("CONTRIBUTING.md", "HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz   # thousands of "
                        "random examples"): Check(SUITE),
    ("CONTRIBUTING.md", "scripts/mutate                          # every module"): Check(SUITE),
    ("CONTRIBUTING.md", "bench/run --no-peer --runs 1 --duration 2 --only header,cached   # "
                        "quick, some rows"): Check(SUITE),
    ("docs/guides/cli-scope-sync.md", "oauth-middleware --redis-url redis://localhost:6379/0 "
                                      "scope sync examples.flask_app:app"):
        Run("test_scope_sync_page", "the CLI against redis-server"),
    ("docs/guides/cli-scope-sync.md", "oauth-middleware scope sync myproject.main:app"):
        Run("test_scope_sync_page", "the CLI on fixture packages that fail as shown"),
    ("docs/guides/configuration.md", "uvicorn app:app --proxy-headers "
                                     "--forwarded-allow-ips=10.0.0.5"):
        Check("needs a proxy at 10.0.0.5; tests/test_middleware_uvicorn.py runs the flags"),
    ("docs/guides/django.md", "pip install oauth-middleware django uvicorn"): Check(REGISTRY),
    ("docs/guides/django.md", "oauth-middleware --redis-url redis://localhost:6379/0 scope "
                              "sync mysite.asgi:application"):
        Run("test_django_guide", "the CLI on a mysite package serving the example"),
    ("docs/guides/django.md", "EXAMPLE_CLIENT_SECRET=example-secret-0123456789 uvicorn "
                              "examples.django_project.asgi:application"):
        Run("test_django_guide", "uvicorn + curl"),
    ("docs/guides/sessions-and-logout.md", "oauth-middleware consent list --user alice"):
        Run("test_consent_commands_of_the_sessions_page", "the CLI against redis-server"),
    ("docs/guides/signing-keys.md", "pip install 'oauth-middleware[jwt]'"): Check(REGISTRY),
    ("docs/guides/signing-keys.md", "export REDIS_URL=redis://localhost:6379/0 "
                                    "OAUTH_SECRET_KEY=..."):
        Run("test_signing_keys_rotated_listed_and_retired_from_the_command_line",
            "the CLI against redis-server"),
    ("docs/guides/openid-connect.md", 'pip install "oauth-middleware[jwt]"     # joserfc signs '
                                      "the ID tokens"): Check(REGISTRY),
    ("docs/guides/fastapi.md", "pip install 'oauth-middleware[fastapi]' uvicorn"):
        Check(REGISTRY),
    ("docs/guides/fastapi.md", "export REDIS_URL=redis://127.0.0.1:6379/0"):
        Run("test_fastapi_guide_with_redis", "uvicorn + the CLI + curl, redis-server"),
    ("docs/guides/fastapi.md", "uvicorn examples.fastapi_app:app"):
        Run("test_fastapi_example", "uvicorn + curl"),
    ("docs/guides/flask.md", 'pip install "oauth-middleware[wsgi]" flask uvicorn'):
        Check(REGISTRY),
    ("docs/guides/flask.md", "oauth-middleware --redis-url redis://localhost:6379/0 scope "
                             "sync examples.flask_app:app"):
        Run("test_flask_guide", "the CLI against redis-server"),
    ("docs/guides/flask.md", "EXAMPLE_CLIENT_SECRET=example-secret-0123456789 uvicorn "
                             "examples.flask_app:app"):
        Run("test_flask_guide", "uvicorn + curl"),
    ("docs/guides/moving-data.md", "oauth-middleware --redis-url redis://old-host:6379/0 "
                                   "store export --output backup.jsonl"):
        Run("test_moving_data_between_two_redis_servers", "two redis-servers"),
    ("docs/guides/moving-data.md", "# 1. stop the apps (or put them in maintenance), then"):
        Run("test_moving_data_between_two_redis_servers", "two redis-servers"),
    ("docs/guides/other-issuers.md", 'pip install "oauth-middleware[jwt]"             # '
                                     "JWTVerifier: joserfc, cryptography, httpx"):
        Check(REGISTRY, lists=True),
    ("docs/guides/provisioning.md", 'oauth-middleware client add "Example service" '
                                    "--client-id example-service \\"):
        Run("test_provisioning_from_the_command_line", "the CLI against redis-server"),
    ("docs/guides/running-at-scale.md", "ACL SETUSER oauth on >long-random-password resetkeys "
                                        "~om:* resetchannels &om:* \\"):
        Run("test_the_acl_user_is_enough_for_the_store", "redis-cli, then the store as it"),
    ("docs/guides/running-at-scale.md", "bench/run --no-peer --runs 3 --duration 3 --only "
                                        "header,token_cc,cluster_header,cluster_cc,"
                                        "cluster_header_2w"): Check(SUITE),
    ("docs/guides/running-at-scale.md", "oauth-middleware --redis-url redis://old-host:6379/0 "
                                        "store export --output store.jsonl   # earlier "
                                        "version"):
        Check("needs the previous release to write a schema-1 store; the rename on import "
              "runs in tests/test_transfer_file.py"),
    ("docs/guides/running-at-scale.md", "oauth-middleware --redis-url "
                                        "redis://localhost:6379/0 store check"):
        Run("test_store_check_prints_what_the_guide_shows", "the CLI against redis-server"),
    ("docs/guides/starlette.md", 'curl -H "Authorization: Bearer $TOKEN" https://api.example/'
                                 "polls/1/results          # recommended"):
        Check("https://api.example is no server; the python blocks send the same requests",
              app=0),
    ("docs/install.md", "pip install oauth-middleware                 # starlette, anyio, "
                        "redis, hiredis, itsdangerous, click, jinja2"): Check(REGISTRY, lists=True),
    ("docs/install.md", "scripts/setup          # the dev group"): Check(REGISTRY),
    ("docs/operations/cli.md", "export REDIS_URL=redis://localhost:6379/0"):
        Run("test_cli_page_in_order", "the CLI against redis-server"),
    ("docs/operations/cli.md", "oauth-middleware scope sync myproject.main:app"):
        Run("test_cli_page_in_order", "the CLI on the guide's polls app"),
    ("docs/operations/cli.md", 'oauth-middleware client add "Polls dashboard" --confidential '
                               "--client-id polls-dashboard \\"):
        Run("test_cli_page_in_order", "the CLI against redis-server"),
    ("docs/operations/cli.md", "oauth-middleware token issue --client-id polls-dashboard "
                               "--user alice --json"):
        Run("test_cli_page_in_order", "the CLI against redis-server"),
    ("docs/performance.md", "bench/run                        # 3 rounds x 5 s per row, about "
                            "2-5 minutes"): Check(SUITE),
    ("docs/security.md", "HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz   # thousands "
                         "of random examples"): Check(SUITE),
    ("docs/security.md", "scripts/mutate                          # every module (installs "
                         "the mutate group into .venv)"): Check(SUITE),
    # scripts/demo is checked with README's; the walkthrough's test compares what it prints.
    ("docs/walkthrough.md", "scripts/demo"): Run(WALKTHROUGH, "python -m demo, its output"),
    ("docs/walkthrough.md", "verifier=$(python3 -c 'import secrets;print(secrets."
                            "token_urlsafe(48))')"):
        Run(WALKTHROUGH, "one bash against the demo"),
    ("docs/walkthrough.md", "CODE=paste-the-code-here"): Run(
        WALKTHROUGH, "one bash against the demo"),
    ("docs/walkthrough.md", 'TOKEN=$(curl -s -u "demo-web:$DEMO_CLIENT_SECRET" '
                            "http://127.0.0.1:8000/oauth/token/ \\"): Run(
        WALKTHROUGH, "one bash against the demo"),
    ("docs/walkthrough.md", 'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/'
                            "polls/1/results     # 4.2.1 header (recommended)"): Run(
        WALKTHROUGH, "one bash against the demo"),
    ("docs/walkthrough.md", "curl -s http://127.0.0.1:8000/oauth/.well-known/openid-"
                            "configuration | python3 -c 'import json,sys;d=json.load(sys."
                            "stdin);print(d[\"issuer\"], d[\"userinfo_endpoint\"])'"): Run(
        WALKTHROUGH, "one bash against the demo"),
}
SHELL = ("sh", "bash", "console")


def shell_blocks() -> dict[tuple[str, str], Block]:
    """Every shell block of the docs, keyed as in :data:`TABLE`."""
    return {(b.page, first_command(b)): b for page in pages() for b in blocks(page)
            if b.lang in SHELL}


def documented(page: str, first: str) -> Block:
    """The block the table knows as ``(page, first)``, which the calling test runs."""
    assert isinstance(TABLE[page, first], Run)
    return shell_blocks()[page, first]
