"""Driving wrk: one Lua script per row, results read back as JSON from wrk's ``done`` hook.

Requests are pre-built in Lua (wrk's advice for fast servers). Rows that need a
fresh credential per request (authorization codes, refresh tokens, tokens to
revoke) get a pool file: every wrk thread takes its own stripe of lines, and a
thread that runs out stops itself, which the result reports as ``exhausted``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import pinned

WRK = shutil.which("wrk") or "/usr/bin/wrk"
MARK = "BENCH-RESULT "

_DONE = """
function done(summary, latency, requests)
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\\n', MARK, summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""

_STATIC = """
local req
function init(args)
  -- built here, not at load time: wrk adds the Host header to wrk.headers after loading
  req = wrk.format(METHOD, PATH, HEADERS, BODY)
end
function request() return req end
"""

_POOLED = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local pool = {}
local nxt = 1
function init(args)
  local i = 0
  for line in io.lines(POOL) do
    if i % THREADS == id then pool[#pool + 1] = line end
    i = i + 1
  end
end
function request()
  local value = pool[nxt]
  if value == nil then
    wrk.thread:stop()
    value = pool[#pool]
  end
  nxt = nxt + 1
  local headers = {}
  for name, text in pairs(HEADERS) do headers[name] = (string.gsub(text, "{VALUE}", value)) end
  local body = BODY and (string.gsub(BODY, "{VALUE}", value)) or nil
  return wrk.format(METHOD, PATH, headers, body)
end
"""


@dataclass(frozen=True)
class Request:
    """One HTTP request shape; ``body`` and header values may hold ``{VALUE}``, replaced
    from the pool."""

    method: str = "GET"
    path: str = "/me"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Result:
    requests: int
    duration_s: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    exhausted: bool = False

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def script(request: Request, pool: Path | None, threads: int) -> str:
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}"
                        for k, v in request.headers.items())
    lines = [
        f"MARK = {_lua_string(MARK)}",
        f"METHOD = {_lua_string(request.method)}",
        f"PATH = {_lua_string(request.path)}",
        f"HEADERS = {{{headers}}}",
        f"BODY = {_lua_string(request.body) if request.body is not None else 'nil'}",
    ]
    if pool is None:
        lines.append(_STATIC)
    else:
        lines += [f"POOL = {_lua_string(str(pool))}", f"THREADS = {threads}", _POOLED]
    lines.append(_DONE)
    return "\n".join(lines)


def run(url: str, request: Request, *, duration: float, connections: int, threads: int,
        cpu: int | None, pool: Path | None = None, pool_size: int = 0) -> Result:
    """Load ``url`` for ``duration`` seconds; raises when wrk reports no result."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-", delete=False) as f:
        f.write(script(request, pool, threads))
        lua = Path(f.name)
    cmd = pinned([WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
                  "--timeout", "5s", "-s", str(lua), url], cpu)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                             check=False)
    finally:
        lua.unlink(missing_ok=True)
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            data = json.loads(line[len(MARK):])
            return Result(
                requests=data["requests"], duration_s=data["duration_us"] / 1e6,
                status_errors=data["status_errors"], socket_errors=data["socket_errors"],
                p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                exhausted=pool is not None and data["requests"] >= pool_size,
            )
    raise RuntimeError(f"wrk gave no result (exit {out.returncode}): {out.stderr[-2000:]}")
