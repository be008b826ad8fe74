"""Every ``python`` block of the docs and the README runs, so the docs cannot drift.

The blocks of one page share one namespace and run in order, top-level ``await``
allowed, in a temporary working directory, with the embedded store (no ``REDIS_URL``),
``OAUTH_SECRET_KEY`` set as a deployment would set it, and no network: a block that
connects anywhere fails. A failure names the page and the line of the block.
"""

from __future__ import annotations

import ast
import inspect
import os
import secrets
import socket
import traceback
from pathlib import Path
from typing import Any

import pytest

from tests.docs.fences import ROOT, Block, blocks, pages

#: Languages that only show text; ``python`` runs. Anything else is refused, so that a
#: typo such as ``py`` cannot quietly take a block out of the test.
SHOWN = {"sh", "bash", "console", "text", "toml", "json", "yaml", "html", "jinja", "ini"}


def _runnable() -> list[Path]:
    return [page for page in pages() if any(b.lang == "python" for b in blocks(page))]


def _no_network(*_: object) -> None:
    raise OSError("a docs code block may not use the network")


async def _run(block: Block, namespace: dict[str, Any]) -> None:
    tree = ast.parse(block.code, filename=block.page)
    ast.increment_lineno(tree, block.line - 1)
    code = compile(tree, block.page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # noqa: S307 - the docs' own code, which is the point
    if code.co_flags & inspect.CO_COROUTINE:
        await result


def test_every_code_block_names_a_language_the_runner_knows() -> None:
    unknown = [f"{b.page}:{b.line - 1}: ```{b.lang}" for page in pages()
               for b in blocks(page) if b.lang != "python" and b.lang not in SHOWN]
    assert unknown == []


def test_the_readme_and_the_guides_have_python_blocks_to_run() -> None:
    """Guards the runner itself: a parser that found no block would pass everything."""
    runnable = {str(page.relative_to(ROOT)) for page in _runnable()}
    assert {"README.md", "docs/guides/starlette.md", "docs/server/token.md"} <= runnable


@pytest.mark.parametrize("page", _runnable(), ids=lambda p: str(p.relative_to(ROOT)))
async def test_the_python_blocks_of_the_page_run_in_order(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("OAUTH_SECRET_KEY", secrets.token_urlsafe(32))
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    namespace: dict[str, Any] = {"__name__": "docs_page"}
    environment = dict(os.environ)  # a page may set variables, as a reader would
    failure = None
    try:
        for block in (b for b in blocks(page) if b.lang == "python"):
            try:
                await _run(block, namespace)
            except Exception as error:
                where = "".join(traceback.format_exception(error)[-6:])
                failure = (f"{block.page}: the python block at line {block.line} raised "
                           f"{type(error).__name__}: {error}\n{where}")
                break
    finally:
        os.environ.clear()
        os.environ.update(environment)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
