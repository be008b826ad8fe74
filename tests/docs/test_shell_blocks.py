"""Every shell block of the docs is classified in one table, and each checked block is right.

tests/docs/shell_table.py says, for each ``sh``/``bash``/``console`` block, whether a
test runs it as written (tests/docs/test_shell_runs.py, the walkthrough's test) or,
where it cannot run in a test, why; those blocks are checked here line by line
against the real scripts, parsers and pyproject.toml (tests/docs/shell_checks.py).
"""

from __future__ import annotations

import pytest

from tests.docs.fences import ROOT, blocks, pages
from tests.docs.shell import shown_matches, steps, words
from tests.docs.shell_checks import check
from tests.docs.shell_table import RUNS, SHELL, TABLE, Check, Run, shell_blocks


def test_every_shell_block_is_classified_and_the_table_has_no_stale_entry() -> None:
    found = shell_blocks()
    assert len(found) == sum(1 for p in pages() for b in blocks(p) if b.lang in SHELL)
    unclassified = [f"{found[key].page}:{found[key].line - 1}: {key[1]!r}"
                    for key in found if key not in TABLE]
    assert unclassified == [], "classify these blocks in TABLE (Run or Check)"
    assert [key for key in TABLE if key not in found] == []


def test_every_run_entry_names_a_test_that_exists() -> None:
    for plan in TABLE.values():
        if isinstance(plan, Run):
            file, _, name = plan.test.rpartition("::")
            source = (ROOT / (file or RUNS)).read_text()
            assert f"def {name}(" in source, plan.test


CHECKED = [key for key, plan in TABLE.items() if isinstance(plan, Check)]


@pytest.mark.parametrize("key", CHECKED, ids=lambda key: f"{key[0]}:{key[1][:30]}")
def test_a_block_that_cannot_run_is_checked_line_by_line(
    key: tuple[str, str], pytestconfig: pytest.Config
) -> None:
    plan = TABLE[key]
    assert isinstance(plan, Check)
    block = shell_blocks()[key]
    app = None
    if plan.app is not None:
        namespace: dict[str, object] = {}
        code = [b for b in blocks(ROOT / key[0]) if b.lang == "python"][plan.app].code
        exec(compile(code, key[0], "exec"), namespace)  # noqa: S102 - the page's own app
        app = namespace["app"]
    problems = {step.command: check(step.command, pytestconfig.getoption, app,  # type: ignore[arg-type]
                                        lists=plan.lists)
                for step in steps(block) if words(step.command)}
    assert {command: found for command, found in problems.items() if found} == {}
    assert problems, "a checked block with no command checks nothing"


#: Commands of the docs with one thing drifted, and what the check must say about it.
DRIFTED = [
    ('pip install "oauth-middleware[embeded]"', "no extra 'embeded'"),
    ('pip install "oauth-middleware[jwt]"  # JWTVerifier: joserfc', "the comment names"),
    ("pip install oauth-middleware flask-login", "not a package the project tests with"),
    ("bench/run --only header,cahced", "bench has no row 'cahced'"),
    ("bench/run --run 5", "python -m bench has no --run"),
    ("bench/run --runs five", "python -m bench refuses"),
    ("scripts/demo  # --host/--bind to change", "python -m demo has no --bind"),
    ("scripts/mutate extraction.py nope.py", "nope.py is not one of"),
    ("scripts/setup docs-only", "no dependency group 'docs-only'"),
    ("scripts/test --backend fake", "pytest has no option --backend"),
    ("oauth-middleware store exprt --output x.jsonl", "oauth-middleware has no command 'exprt'"),
    ("oauth-middleware store import --inptu x.jsonl", "No such option '--inptu'"),
    (".venv/bin/pytest tests/nowhere", "no tests/nowhere for pytest to run"),
    (".venv/bin/mutmut shows NAME", "mutmut has no command 'shows'"),
    ("uvicorn app:app --proxy-header", "uvicorn refuses"),
    ("scripts/lint", "no check knows 'scripts/lint'"),
    ("REDIS_URL=redis://x .venv/bin/pytest", "no check knows the variable REDIS_URL"),
]


@pytest.mark.parametrize(("command", "said"), DRIFTED, ids=[c for c, _ in DRIFTED])
def test_the_checks_refuse_a_drifted_command(
    command: str, said: str, pytestconfig: pytest.Config
) -> None:
    problems = check(command, pytestconfig.getoption, None, lists="#" in command)
    assert len(problems) == 1 and said in problems[0], problems


def test_a_curl_line_must_name_a_route_of_the_page_app_with_its_method() -> None:
    code = next(b for b in blocks(ROOT / "docs/guides/starlette.md") if b.lang == "python").code
    namespace: dict[str, object] = {}
    exec(compile(code, "starlette.md", "exec"), namespace)  # noqa: S102 - the page's own app
    app = namespace["app"]
    assert check("curl https://api.example/polls/1/vote", print, app) == [  # type: ignore[arg-type]
        "GET /polls/1/vote is not a route of the page's app"]
    assert check('curl -d "x=1" https://api.example/polls/1/votes', print, app) == [  # type: ignore[arg-type]
        "POST /polls/1/votes is not a route of the page's app"]


SECRET_LINE = "client_secret:  m-dHp3Sg9cmrqCl6oKr9r0L3_l3JbbzCIMBWUJZ9WsA"
COMPARED = [
    ((SECRET_LINE,), "client_secret:  n264s5KGPUBVYxBVA6oCvYR7yPZxT3AY6aD7AGyPdLQ", {}, True),
    ((SECRET_LINE,), "client_secret:  n264s5KGPUBVYxBVA6oCvYR7yPZxT3AY6aD7AGyPdLQ\nx", {}, False),
    (("public:         no",), "public:         yes", {}, False),
    (('{"access_token":"...","scope":"items:read"}',),
     '{"access_token":"a.b","scope":"items:read"}', {}, True),
    (('{"access_token":"...","scope":"items:read"}',),
     '{"access_token":"a.b","scope":"items:write"}', {}, False),
    (("Added 2, 0 already registered.",), "Added 3, 0 already registered.", {}, False),
    (("exported 48213 records (40012 access_token, ...)",),
     "exported 3 records (1 access_token, 1 client)", {"counts": True}, True),
    (("d079f91bca07  2026-11-28T01:13:48+00:00",), "40e2887cf05c  2026-12-07T03:43:47+00:00",
     {}, True),
    (("d079f91bca07  2026-11-28T01:13:48+00:00",), "40e2887cf05c  1796611387", {}, False),
    (("HTTP/1.1 401 Unauthorized", 'www-authenticate: Bearer realm="api"'),
     'HTTP/1.1 401 Unauthorized\r\ndate: x\r\nwww-authenticate: Bearer realm="api"\r\n',
     {"excerpt": True}, True),
    (("HTTP/1.1 401 Unauthorized", 'www-authenticate: Bearer realm="api"'),
     'www-authenticate: Bearer realm="api"\r\nHTTP/1.1 401 Unauthorized\r\n',
     {"excerpt": True}, False),
    (("ID  TITLE", "KCej9bWX2hwNnnNCNuqbIhNT  mobile", "polls-dashboard  web"),
     "ID  TITLE\npolls-dashboard  web\nx_eL4YvJAZtVuS8iof_XH4CU  mobile", {"rows": True}, True),
    (("ID  TITLE", "KCej9bWX2hwNnnNCNuqbIhNT  mobile", "polls-dashboard  web"),
     "ID  TITLE\npolls-dashboard  web\npolls-dashboard  web", {"rows": True}, False),
]


@pytest.mark.parametrize(("shown", "actual", "options", "same"), COMPARED)
def test_shown_output_matches_only_what_its_placeholders_stand_for(
    shown: tuple[str, ...], actual: str, options: dict[str, bool], same: bool
) -> None:
    assert shown_matches(shown, actual, **options) is same
