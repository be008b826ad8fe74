"""Every shell block of the docs is classified in one table, and each checked block is right.

tests/docs/shell_table.py says, for each ``sh``/``bash``/``console`` block, whether a
test runs it as written (tests/docs/test_shell_runs.py, the walkthrough's test) or,
where it cannot run in a test, why; those blocks are checked here line by line
against the real scripts, parsers and pyproject.toml (tests/docs/shell_checks.py).
"""

from __future__ import annotations

import pytest

from tests.docs.fences import ROOT, blocks, pages
from tests.docs.shell import steps, words
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
