"""docs/walkthrough.md followed literally against the demo, as a newcomer would.

The demo starts as ``scripts/demo`` starts it (``python -m demo``: embedded store, no
``DEMO_CLIENT_SECRET``, so the secret is generated) and prints what the page shows it
print. One bash process then gets, in
order, the ``export DEMO_CLIENT_SECRET=...`` line the demo printed and every ``sh``
block of the page as written. Only two things differ from a person at a terminal: the
demo listens on a free port instead of 8000 (the URLs are rewritten), and the code a
person copies from the browser is got by signing in and approving over HTTP, then put
in place of ``paste-the-code-here``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx

from tests.demo.harness import consent, decide, location, login
from tests.docs.fences import ROOT, Block, blocks
from tests.docs.shell import shown_matches, steps
from tests.servers import DemoProcess

WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
DOCUMENTED = "http://127.0.0.1:8000"


class Shell:
    """One ``bash`` that keeps its variables between blocks, as a terminal does."""

    def __init__(self, process: asyncio.subprocess.Process, errors: Path) -> None:
        self.process = process
        self.errors = errors

    async def run(self, script: str) -> str:
        """Run ``script``; its output. ``set -e`` ends the shell on a failing command."""
        marker = f"__block_done_{secrets.token_hex(8)}__"
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{script}\nprintf '\\n%s\\n' {marker}\n".encode())
        await self.process.stdin.drain()
        try:
            out = await asyncio.wait_for(
                self.process.stdout.readuntil(f"{marker}\n".encode()), 60)
        except asyncio.IncompleteReadError as ended:
            raise AssertionError(f"the shell stopped in:\n{script}\noutput:\n"
                                 f"{ended.partial.decode()}\n{self.errors.read_text()}") from None
        return out.decode()[: -len(marker) - 2]


def _sh_blocks(url: str) -> list[Block]:
    found = [b for b in blocks(WALKTHROUGH) if b.lang == "sh"]
    return [Block(b.page, b.line, b.lang, b.code.replace(DOCUMENTED, url)) for b in found]


def _json_documents(text: str) -> tuple[list[object], str]:
    """The JSON documents curl printed back to back, and the text after them."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while text[at:].lstrip().startswith(("{", "[")):
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found, text[at:]


async def _code_from_the_browser(url: str, base: str) -> str:
    """What a person does with the printed URL: sign in as alice, approve, read the code."""
    parts = urlsplit(url)
    auth_url = f"{parts.path}?{parts.query}"
    async with httpx.AsyncClient(base_url=base) as agent:
        await login(agent, "alice", location(await agent.get(auth_url))[1]["next"])
        action, page = await consent(agent, auth_url)
        path, params = location(await decide(agent, action, page, "approve"))
        assert path == "/client/code"
        shown = await agent.get(f"{path}?{urlencode(params)}")
    code = re.search(r'<code id="code">([^<]+)</code>', shown.text)
    assert code is not None
    return code.group(1)


async def test_the_walkthrough_commands_work_as_written_against_a_fresh_demo(
    tmp_path: Path,
) -> None:
    errors = tmp_path / "stderr"  # curl's progress meter, shown on a failure only
    with DemoProcess(unset=("REDIS_URL", "DEMO_CLIENT_SECRET")) as demo, errors.open("wb") as err:
        started = next(b for b in blocks(WALKTHROUGH) if b.lang == "console")
        shown = tuple(line.replace(DOCUMENTED, demo.url) for line in steps(started)[0].shown)
        assert shown_matches(shown, demo.output(), excerpt=True), demo.output()
        export = re.search(r"^  (export DEMO_CLIENT_SECRET=\S+)$", demo.output(), re.M)
        assert export is not None, f"no export line to paste in:\n{demo.output()}"
        authorize, redeem, password, use = _sh_blocks(demo.url)
        bash = await asyncio.create_subprocess_exec(
            "bash", "--noprofile", "--norc", cwd=ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=err)
        shell = Shell(bash, errors)
        try:
            await shell.run(f"set -euo pipefail\n{export.group(1)}")
            printed = await shell.run(authorize.code)
            assert printed.startswith(f"{demo.url}/oauth/auth/?response_type=code")
            code = await _code_from_the_browser(printed.splitlines()[-1], demo.url)
            assert "CODE=paste-the-code-here\n" in redeem.code
            redeemed = json.loads(await shell.run(
                redeem.code.replace("CODE=paste-the-code-here", f"CODE={code}")))
            assert redeemed["token_type"] == "Bearer" and redeemed["scope"] == "polls:results"
            assert await shell.run(password.code) == ""
            documents, refused = _json_documents(await shell.run(use.code))
        finally:
            if bash.returncode is None:
                bash.kill()
            await bash.wait()
    assert documents == [
        {"poll": 1, "question": "Which transport should carry a bearer token?",
         "results": {"header": 0, "form body": 0, "query": 0}},
        {"poll": 1, "voted": "header", "by": "alice"},
        {"poll": 1, "total_votes": 1, "viewer": "alice"},
    ]
    head = refused.strip().split("\r\n")
    assert head[0] == "HTTP/1.1 401 Unauthorized"
    assert 'www-authenticate: Bearer realm="api"' in head
