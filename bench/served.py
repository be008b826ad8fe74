"""``python -m bench.inprocess --served``: a row's requests through uvicorn, counted.

The in-process count leaves out what every row pays alike: uvicorn parsing HTTP and
calling the app. A target stated for the served endpoint ("within 0.95 of today's")
includes it, so this runs the row's app as the bench does, one uvicorn worker on
loopback (:func:`bench.procs.uvicorn`), optionally inside valgrind, and sends it the
row's requests over ``concurrency`` keep-alive HTTP/1.1 connections from this process
(a client outside the count). It answers what :func:`bench.inprocess._run_child` does:
the worker's CPU time around the measured requests, Redis's counters, and under
callgrind the worker's instructions, start-up and warm-up included (the caller takes
the difference of two runs).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from bench import procs

#: A response's declared body length.
_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
#: The total a callgrind file states.
_SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)
#: Seconds uvicorn may take to listen (valgrind slows its start fifty-fold).
_START = 180


class Unanswered(RuntimeError):
    """A run saw answers other than its row expects (under valgrind a loaded host can
    stretch a round trip past the store's socket timeout: a 503)."""


def request_bytes(spec: dict[str, Any], value: str) -> bytes:
    """One HTTP/1.1 request of the row, ``{VALUE}`` replaced by a pooled value."""
    body: bytes = spec["body"].replace("{VALUE}", value).encode()
    lines: list[str] = [f"{spec['method']} {spec['path']} HTTP/1.1", "Host: 127.0.0.1",
             *[f"{k}: {v.replace('{VALUE}', value)}" for k, v in spec["headers"].items()],
             f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


async def send_all(port: int, requests: list[bytes], connections: int) -> list[int]:
    """Every request, in turn on ``connections`` keep-alive connections; the statuses."""
    pending = iter(requests)
    statuses: list[int] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                statuses.append(int(head.split(b" ", 2)[1]))
                length = _LENGTH.search(head)
                await reader.readexactly(int(length.group(1)) if length else 0)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return statuses


def run_served(spec: dict[str, Any], wrapper: list[str]) -> dict[str, float]:
    """Warm up, then the measured requests, through uvicorn (inside ``wrapper``: valgrind's
    command, or nothing); what :func:`bench.inprocess._run_child` answers."""
    values = Path(spec["pool"]).read_text().split() if spec["pool"] else []
    requests = [request_bytes(spec, values[n] if values else "")
                for n in range(spec["warmup"] + spec["requests"])]
    server = procs.uvicorn(f"bench.apps:{spec['app']}", spec["url"], None)
    server.cmd = [*wrapper, *server.cmd]
    with server.log.open("wb") as log:
        server.proc = subprocess.Popen(server.cmd, cwd=server.cwd, env=server.env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    store = redis.Redis.from_url(spec["url"])
    try:
        procs.wait_port(server.port, server.proc, "uvicorn", timeout=_START)
        statuses = asyncio.run(send_all(server.port, requests[:spec["warmup"]], 8))
        store.config_resetstat()
        redis_cpu, cpu = _redis_cpu(store), procs.cpu_seconds(server.pid)
        if spec["requests"]:
            statuses += asyncio.run(send_all(server.port, requests[spec["warmup"]:],
                                             spec["concurrency"]))
        cpu, redis_cpu = procs.cpu_seconds(server.pid) - cpu, _redis_cpu(store) - redis_cpu
        stats = {name.removeprefix("cmdstat_"): stat
                 for name, stat in store.info("commandstats").items()}
    finally:
        _stop(server)
        store.close()
    wrong = sum(status != spec["expect"] for status in statuses)
    if wrong:
        raise Unanswered(f"{wrong} answers were not {spec['expect']}")
    n = max(1, spec["requests"])
    result = {"cpu_us": cpu / n * 1e6, "redis_cpu_us": redis_cpu / n * 1e6,
              "redis_cmds": sum(int(s["calls"]) for name, s in stats.items()
                                if name not in ("config|resetstat", "info")) / n,
              **{f"{name}_us": int(stats.get(name, {}).get("usec", 0)) / n
                 for name in ("evalsha", "xadd")}}
    if wrapper:
        out = Path(next(arg for arg in wrapper if arg.startswith("--callgrind-out-file="))
                   .partition("=")[2])
        found = _SUMMARY.search(out.read_text(errors="replace"))
        if found is None:
            raise RuntimeError(f"callgrind wrote no total to {out}")
        result["instr"] = float(found.group(1))
    return result


def _stop(server: procs.Process) -> None:
    """Stop uvicorn as Ctrl-C would, so valgrind writes its count as the process ends."""
    if server.proc is None:
        return
    os.killpg(server.proc.pid, signal.SIGINT)
    deadline = time.monotonic() + _START
    while server.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    server.stop()
    server.log.unlink(missing_ok=True)


def _redis_cpu(store: redis.Redis) -> float:
    info = store.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])
