"""The shell blocks of the docs as a reader follows them: commands, shown output, one bash.

A ``console`` block is a terminal session: ``$ `` starts a command (a line ending in
``\\`` continues it), the lines up to the next ``$ `` are what the docs show it printed.
An ``sh`` block is commands only, one a line. :class:`Shell` runs them in one bash that
keeps its variables, as a terminal does; :func:`shown_matches` compares what the docs
show with what ran, where the docs' placeholders (``...``, ``…``, generated secrets,
tokens, ids, fingerprints and dates) match anything of their kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shlex
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from tests.docs.fences import Block


@dataclass(frozen=True)
class Step:
    """One command of a block (continuation lines joined) and the lines shown after it."""

    command: str
    shown: tuple[str, ...]


def steps(block: Block) -> list[Step]:
    """The commands of ``block``; only ``console`` blocks show output."""
    lines = block.code.splitlines()
    prompted = block.lang == "console" and any(line.startswith("$ ") for line in lines)
    found: list[Step] = []
    command: list[str] = []
    shown: list[str] = []
    for line in lines:
        if command and command[-1].endswith("\\"):
            command.append(line)
        elif not prompted or line.startswith("$ "):
            if command:
                found.append(Step("\n".join(command), _trimmed(shown)))
            command, shown = [line.removeprefix("$ ")], []
        else:
            shown.append(line)
    if command:
        found.append(Step("\n".join(command), _trimmed(shown)))
    return [step for step in found if step.command.strip()]


def first_command(block: Block) -> str:
    """The first line of the block's first command: the key the table knows it by."""
    return steps(block)[0].command.splitlines()[0].strip()


def words(command: str) -> list[str]:
    """The command as the shell splits it, its comment dropped."""
    return shlex.split(command.replace("\\\n", " "), comments=True)


def _trimmed(lines: list[str]) -> tuple[str, ...]:
    text = "\n".join(lines).strip("\n")
    return tuple(text.splitlines()) if text else ()


#: What the docs write in place of a value that differs on every run, and what it stands
#: for. Tried in order at each position of a shown line; the rest is literal, except that
#: any run of spaces matches any run of spaces (a generated id may change column widths).
PLACEHOLDERS = [
    (re.compile(r"[A-Za-z0-9_-]*(?:\.\.\.|…)"), r".*?"),
    # A generated secret, token, client id or grant id: URL-safe, 20+ characters, a digit.
    (re.compile(r"(?<![\w-])(?=[A-Za-z_-]*\d)[\w-]{20,}(?:\.[\w-]{20,})?(?![\w-])"),
     r"[\w-]+(?:\.[\w-]+)?"),
    (re.compile(r"\b[0-9a-f]{12}\b"), r"[0-9a-f]{12}"),  # a token fingerprint
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\b"),
     r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"),
    (re.compile(r"\b1\d{9}\b"), r"\d{10}"),  # created_at, seconds since the epoch
]
#: Only where a page opts in (record counts of a store that is not the reader's).
COUNT = (re.compile(r"\b\d+\b"), r"\d+")


def pattern(line: str, *, counts: bool = False) -> re.Pattern[str]:
    """The regular expression a shown line stands for."""
    kinds = PLACEHOLDERS + ([COUNT] if counts else [])
    out, at = [], 0
    while at < len(line):
        for kind, wildcard in kinds:
            found = kind.match(line, at)
            if found and found.end() > at:
                out.append(wildcard)
                at = found.end()
                break
        else:
            space = re.match(r" +", line[at:])
            out.append(r" +" if space else re.escape(line[at]))
            at += len(space.group()) if space else 1
    return re.compile("".join(out))


def shown_matches(shown: tuple[str, ...], actual: str, *, excerpt: bool = False,
                  counts: bool = False, rows: bool = False) -> bool:
    """Whether ``actual`` prints what the docs show: line for line, or (``excerpt``: the
    docs show a few headers of ``curl -i``, a server's log, or a line ``...``) in order
    among others.
    ``rows``: a table under a header line, sorted by generated ids, so in any order."""
    lines = [line.rstrip("\r") for line in actual.strip("\n").splitlines()]
    elided = [line for line in shown if line.strip() not in ("...", "…")]
    excerpt = excerpt or len(elided) < len(shown)  # a line "..." stands for any lines
    patterns = [pattern(line, counts=counts) for line in elided]
    if rows and len(lines) == len(patterns) and lines:
        left = lines[1:]
        for p in patterns[1:]:
            hit = next((line for line in left if p.fullmatch(line.rstrip())), None)
            if hit is None:
                return False
            left.remove(hit)
        return bool(patterns[0].fullmatch(lines[0].rstrip()))
    if not excerpt:
        return len(lines) == len(patterns) and all(
            p.fullmatch(line.rstrip()) for p, line in zip(patterns, lines, strict=True))
    remaining = iter(lines)
    return all(any(p.fullmatch(line.rstrip()) for line in remaining) for p in patterns)


@dataclass(frozen=True)
class Outcome:
    """What one command printed (stdout, then stderr) and its exit status."""

    output: str
    status: int


class Shell:
    """One ``bash`` that keeps its variables between commands, as a terminal does.

    Servers (a command whose program is ``uvicorn``) run in the background with their
    output in a log, as in a second terminal; :meth:`close` stops them.
    """

    def __init__(self, cwd: Path, env: dict[str, str], scratch: Path) -> None:
        self.cwd, self.env, self.scratch = cwd, env, scratch
        self.process: asyncio.subprocess.Process | None = None
        self.servers: list[tuple[int, Path]] = []

    async def start(self) -> Shell:
        self.process = await asyncio.create_subprocess_exec(
            "bash", "--noprofile", "--norc", cwd=self.cwd, env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        return self

    async def run(self, command: str) -> Outcome:
        """Run ``command``; ``$?`` after it is its status, for a following ``echo $?``.
        A comment alone does nothing (and bash has no empty ``{ }``)."""
        if not words(command):
            return Outcome("", 0)
        errors = self.scratch / f"stderr-{secrets.token_hex(4)}"
        marker = f"__done_{secrets.token_hex(8)}__"
        status = f"__status_{secrets.token_hex(4)}"
        out = await self._send(
            f"{{ {command}\n}} 2>{shlex.quote(str(errors))} </dev/null\n{status}=$?\n"
            f"printf '\\n%s %s\\n' {marker} \"${status}\"\n(exit \"${status}\")\n", marker)
        head, _, code = out.rpartition(f"\n{marker} ")
        return Outcome(head + errors.read_text(), int(code))

    async def serve(self, command: str, port: int, timeout: float = 30.0) -> Outcome:
        """Start ``command`` in the background; its log once ``port`` accepts connections."""
        log = self.scratch / f"server-{len(self.servers)}.log"
        marker = f"__started_{secrets.token_hex(8)}__"
        out = await self._send(f"{command} >{shlex.quote(str(log))} 2>&1 &\n"
                               f"printf '\\n%s %s\\n' {marker} $!\n", marker)
        pid = int(out.rpartition(f"\n{marker} ")[2])
        self.servers.append((pid, log))
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), timeout=0.2):
                return Outcome(log.read_text(), 0)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                await asyncio.sleep(0.05)  # polling for readiness, not timing a behaviour
                continue
            break
        raise AssertionError(f"{command!r} did not start:\n{log.read_text()}")

    async def set(self, name: str, value: str) -> None:
        """What a reader does by pasting a value the docs show as a placeholder."""
        await self.run(f"{name}={shlex.quote(value)}")

    async def _send(self, script: str, marker: str) -> str:
        assert self.process is not None and self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(script.encode())
        await self.process.stdin.drain()
        try:
            out = await asyncio.wait_for(
                self.process.stdout.readuntil(f"{marker}".encode()), 60)
            out += await self.process.stdout.readuntil(b"\n")
        except asyncio.IncompleteReadError as ended:
            raise AssertionError(f"the shell stopped in:\n{script}\noutput:\n"
                                 f"{ended.partial.decode()}") from None
        return out.decode().rstrip("\n")

    async def close(self) -> None:
        """Stop the servers this shell started (by their pid), then the shell."""
        if self.process is None:
            return
        for pid, _ in self.servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.write(b"wait\nexit\n")  # reaps the servers, then ends
            self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 30)
