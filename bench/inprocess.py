"""``python -m bench.inprocess``: what a request of a row costs, counted rather than timed.

On a shared two-core host the throughput of two rows measured seconds apart moves more
than the difference one wants to see (an audited row against its plain one). This counts
instead, in a fresh child process per measurement: the app of a row (:mod:`bench.apps`)
is called as ASGI by ``--concurrency`` coroutines (the bench's wrk connections) with the
row's request, after a warm-up, against a real redis-server it starts on loopback. Per
request it reports

* the worker's CPU time (``time.process_time`` around the measured requests), or with
  ``--callgrind`` its instructions: the child runs under ``valgrind --tool=callgrind``
  twice, with the measured requests and with none, and the difference is theirs alone
  (start-up, imports and warm-up cancel out); no other job on the machine changes it;
* Redis's own CPU (``INFO cpu``, the main thread) and each command's calls and time
  (``INFO commandstats`` after ``CONFIG RESETSTAT``: a script's ``redis.call`` counts as
  its command and inside the script's time too).

No HTTP server: uvicorn's parsing, the same for every row, is left out, so a difference
between two rows is a larger share here than under load. Rows are measured in turn,
``--runs`` times, and each figure is the median; a row ending in ``_audited`` is shown
against the row it repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import redis

from bench import apps, procs, seed
from bench.rows import rows
from bench.served import Unanswered, run_served
from oauth_middleware import TokenStore

#: The harness's own commands, not counted.
_OURS = ("config|resetstat", "info")
#: Commands whose time per request is shown (a script's ``XADD`` counts in its time too).
_SHOWN = ("evalsha", "xadd")
#: callgrind_annotate's line for the collector, inclusive.
_GC = re.compile(r"^\s*([\d,]+) .*gcmodule\.c:gc_collect_main\b", re.MULTILINE)
#: What valgrind prints of a callgrind run: the instructions it counted.
_COLLECTED = re.compile(r"Collected : (\d+)")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    p.add_argument("--only", default="", help="comma-separated row keys (bench/rows.py)")
    p.add_argument("--requests", type=int, default=2000, help="measured requests (2000)")
    p.add_argument("--warmup", type=int, default=200, help="requests before measuring (200)")
    p.add_argument("--concurrency", type=int, default=32, help="coroutines (32)")
    p.add_argument("--runs", type=int, default=3, help="measurements per row, in turn (3)")
    p.add_argument("--callgrind", action="store_true",
                   help="count the worker's instructions under valgrind (slow)")
    p.add_argument("--keep", type=Path, help="with --callgrind: keep callgrind's files here "
                   "(callgrind_annotate reads them)")
    p.add_argument("--served", action="store_true",
                   help="through uvicorn, as the bench serves (bench/served.py): HTTP "
                        "parsing counted too")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.child:  # as the bench's uvicorn runs it: on uvloop (when installed)
        spec = json.loads(Path(args.child).read_text())
        print(json.dumps(_loop_run()(_child(spec))))
        return 0
    with ExitStack() as stack, TemporaryDirectory(prefix="bench-inprocess-") as tmp:
        server = stack.enter_context(procs.redis_server(None))
        url = f"redis://127.0.0.1:{server.port}/0"
        store = TokenStore.from_url(url)
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        stack.callback(lambda: loop.run_until_complete(store.aclose()))
        wanted = [key for key in args.only.split(",") if key]
        results: dict[str, list[dict[str, float]]] = {key: [] for key in wanted}
        for run in range(args.runs):
            for key in wanted:
                results[key].append(_measured(
                    lambda key=key: loop.run_until_complete(  # type: ignore[misc]
                        _prepared(store, key, url, args, Path(tmp))), Path(tmp), args))
                print(f"bench.inprocess: run {run + 1}/{args.runs} {key}: "
                      f"{json.dumps(results[key][-1])}", flush=True)
    print(report(results))
    return 0


_Run = Callable[[Coroutine[Any, Any, dict[str, float]]], dict[str, float]]


def _loop_run() -> _Run:
    """uvloop's ``run``, the bench group's event loop, as the bench's uvicorn runs on it;
    asyncio's own in the dev install, whose tests run a child too (and whose type checker
    does not know uvloop: hence the annotated name)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    run: _Run = uvloop.run
    return run


async def _prepared(store: TokenStore, key: str, url: str, args: argparse.Namespace,
                    tmp: Path) -> dict[str, Any]:
    """What a child needs, from the same start for every measurement: Redis emptied and
    seeded anew (a client's grants pile up to their cap otherwise, and only the later row
    would pay for the evictions), the events stream at its bound for an audited row (as
    in a server that has run a while: every append trims), and a fresh pool for each of
    the (one or, under callgrind, two) children."""
    seeded = await seed.base(store)
    row = next(row for row in rows(seeded, None) if row.key == key)
    if row.app == "audited":
        await _full_stream(store)
    needed = args.warmup + args.requests
    pools = [str(seed.write_pool(tmp / f"{key}-{n}.pool",
                                 await seed.pool(store, row.pool, needed, seeded)))
             if row.pool else "" for n in range(2 if args.callgrind else 1)]
    request = row.request
    return {"key": key, "app": row.app, "url": url, "method": request.method, "path": request.path,
            "headers": request.headers, "body": request.body or "", "expect": row.expect,
            "pools": pools, "warmup": args.warmup, "requests": args.requests,
            "concurrency": args.concurrency}


async def _full_stream(store: TokenStore) -> None:
    """Fill the events stream to the trail's default bound with events of a token
    request's size."""
    fields = {"type": "token.issued", "time": f"{time.time():.3f}",
              "actor": "client:bench-client", "client": "bench-client", "user": "bench-user",
              "grant": "G" * 22, "fingerprint": "f" * 12, "grant_type": "client_credentials",
              "scopes": "bench:read"}
    flat = [item for pair in fields.items() for item in pair]
    from oauth_middleware.audit import RETENTION  # here: an older checkout has no trail

    batch = 10_000
    for _ in range(RETENTION // batch):
        await store._gateway.run([("XADD", store.events.key, "*", *flat)] * batch)


def _measured(prepare: Callable[[], dict[str, Any]], tmp: Path, args: argparse.Namespace,
              attempts: int = 3) -> dict[str, float]:
    """:func:`_measure`, prepared anew and tried again when a child was answered 503: under
    valgrind a loaded host can stretch a round trip past the store's socket timeout."""
    for _ in range(attempts - 1):
        try:
            return _measure(prepare(), tmp, args)
        except Unanswered:
            print("bench.inprocess: a child was refused (503): measured again", flush=True)
    return _measure(prepare(), tmp, args)


def _measure(spec: dict[str, Any], tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    """One measurement: a child as it is, or two under callgrind (with and without the
    measured requests: their difference is the requests' instructions)."""
    def run(spec: dict[str, Any], wrapper: list[str]) -> dict[str, float]:
        return run_served(spec, wrapper) if args.served else _run_child(spec, tmp, wrapper)

    if not args.callgrind:
        return run({**spec, "pool": spec["pools"][0]}, [])
    counted = []
    for pool, requests in zip(spec["pools"], (spec["requests"], 0), strict=True):
        where = args.keep or tmp
        where.mkdir(parents=True, exist_ok=True)
        out = where / f"callgrind.{spec['key']}.{requests}.{time.time():.0f}"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        counted.append({**run({**spec, "pool": str(pool), "requests": requests}, cmd),
                        "gc_instr": _collecting(out)})
        if not args.keep:
            out.unlink()
    measured, empty = counted
    n = spec["requests"]
    every = (measured["instr"] - empty["instr"]) / n / 1e3
    collecting = (measured["gc_instr"] - empty["gc_instr"]) / n / 1e3
    return {**measured, "kinstr_per_req": every, "kinstr_gc_per_req": collecting,
            "kinstr_but_gc_per_req": every - collecting}


def _collecting(out: Path) -> float:
    """The instructions the cyclic garbage collector took (``gc_collect_main`` inclusive):
    shown apart, as a full collection now and then makes a short run's count jump."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                           str(out)], capture_output=True, text=True, check=True).stdout
    found = _GC.search(text)
    return float(found.group(1).replace(",", "")) if found else 0.0


def _run_child(spec: dict[str, Any], tmp: Path, wrapper: list[str]) -> dict[str, float]:
    path = tmp / "child.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [*wrapper, sys.executable, "-m", "bench.inprocess", "--child", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=procs.ROOT,
                         check=False, timeout=3600)
    if out.returncode != 0:
        kind = Unanswered if "answers were not" in out.stderr else RuntimeError
        raise kind(f"the child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if wrapper:
        found = _COLLECTED.findall(out.stderr)
        if not found:
            raise RuntimeError(f"valgrind printed no instruction count:\n{out.stderr[-2000:]}")
        result["instr"] = float(found[-1])
    return result


async def _child(spec: dict[str, Any]) -> dict[str, float]:
    """Warm up, then the measured requests between two snapshots of this process's CPU
    time and of Redis's counters."""
    os.environ.update(REDIS_URL=spec["url"], BENCH_ISSUER="http://127.0.0.1/oauth")
    app = getattr(apps, spec["app"])()
    values = Path(spec["pool"]).read_text().split() if spec["pool"] else []
    calls = [_call(spec, values[n] if values else "")
             for n in range(spec["warmup"] + spec["requests"])]
    wrong = await _drive(app, calls[:spec["warmup"]], spec)
    server = redis.Redis.from_url(spec["url"])
    server.config_resetstat()
    collected = [stat["collections"] for stat in gc.get_stats()]
    redis_cpu, cpu = _redis_cpu(server), time.process_time()
    wrong += await _drive(app, calls[spec["warmup"]:], spec)
    cpu, redis_cpu = time.process_time() - cpu, _redis_cpu(server) - redis_cpu
    collected = [stat["collections"] - before
                 for stat, before in zip(gc.get_stats(), collected, strict=True)]
    if wrong:
        raise RuntimeError(f"{wrong} answers were not {spec['expect']}")
    n = max(1, spec["requests"])
    stats = {name.removeprefix("cmdstat_"): stat
             for name, stat in server.info("commandstats").items()}
    result = {"cpu_us": cpu / n * 1e6, "redis_cpu_us": redis_cpu / n * 1e6,
              "redis_cmds": sum(int(stat["calls"]) for name, stat in stats.items()
                                if name not in _OURS) / n,
              **{f"gc{generation}": count for generation, count in enumerate(collected)}}
    for name in _SHOWN:
        result[f"{name}_us"] = int(stats.get(name, {}).get("usec", 0)) / n
    server.close()
    return result


def _redis_cpu(server: redis.Redis) -> float:
    info = server.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


def _call(spec: dict[str, Any], value: str) -> tuple[dict[str, Any], bytes]:
    """The ASGI scope and body of one request, ``{VALUE}`` replaced by a pooled value."""
    body = spec["body"].replace("{VALUE}", value).encode()
    headers = [(k.lower().encode(), v.replace("{VALUE}", value).encode())
               for k, v in spec["headers"].items()]
    headers += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": spec["method"], "scheme": "http", "path": spec["path"],
             "raw_path": spec["path"].encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 80)}
    return scope, body


async def _drive(app: Any, calls: list[tuple[dict[str, Any], bytes]],
                 spec: dict[str, Any]) -> int:
    """``calls`` through ``app`` by ``concurrency`` coroutines; the answers not expected."""
    pending = iter(calls)
    wrong = 0

    async def worker() -> None:
        nonlocal wrong
        for scope, body in pending:
            status = 0

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]

            await app(scope, receive, send)
            wrong += status != spec["expect"]

    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    return wrong


def report(results: dict[str, list[dict[str, float]]]) -> str:
    """Medians per row, and each audited row against the row it repeats (audited / plain:
    above 1 costs more)."""
    medians = {key: {name: statistics.median(run.get(name, 0.0) for run in runs)
                     for name in sorted({n for run in runs for n in run})}
               for key, runs in results.items() if runs}
    lines = []
    for key, figures in medians.items():
        lines.append(f"{key}: " + ", ".join(f"{k}={v:.2f}" for k, v in figures.items()))
        plain = medians.get(key.removesuffix("_audited"))
        if key.endswith("_audited") and plain:
            lines.append(f"  {key} / {key.removesuffix('_audited')}: " + ", ".join(
                f"{k}={v / plain[k]:.3f}" for k, v in figures.items() if plain.get(k)))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
