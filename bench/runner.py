"""One bench run: start Redis and the apps, seed, then measure every row, interleaved.

Each of ``--runs`` rounds measures every row once, in table order, so slow drift
on a shared machine touches all rows alike; the table shows per-row medians and
each row's ratio to the bare route's median from the same run.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import redis

from bench import foreign_jwt, peer, procs, report, seed, wrk
from bench.rows import Row, rows
from bench.seed import Seeded
from oauth_middleware import TokenStore

#: Core for the servers under test; Redis and wrk share the other one.
SERVER_CPU, LOAD_CPU = 0, 1


@dataclass(frozen=True)
class Settings:
    runs: int
    duration: float
    connections: int
    threads: int
    warmup: float
    pin: bool
    peer: bool
    only: tuple[str, ...]
    pool_rate: int

    def cpu(self, server: bool) -> int | None:
        if not self.pin:
            return None
        return SERVER_CPU if server else LOAD_CPU


class Bench:
    def __init__(self, settings: Settings, stack: ExitStack, workdir: Path) -> None:
        self.s = settings
        self.workdir = workdir
        self.redis_proc = stack.enter_context(procs.redis_server(settings.cpu(False)))
        self.url = f"redis://127.0.0.1:{self.redis_proc.port}/0"
        self.redis = redis.Redis.from_url(self.url)
        self.store = TokenStore.from_url(self.url)
        self.loop = asyncio.new_event_loop()
        stack.callback(self.loop.close)
        stack.callback(lambda: self.loop.run_until_complete(self.store.aclose()))
        self.seeded = self.loop.run_until_complete(seed.base(self.store))
        jwt_key, jwt_token = foreign_jwt.make(workdir)
        self.seeded = replace(self.seeded, foreign_jwt=jwt_token)
        self.apps: dict[str, procs.Process] = {}
        self.peer_token: str | None = "placeholder" if settings.peer else None
        self.cluster: Seeded | None = self.seeded  # a placeholder until the cluster is seeded
        needed = {row.app for row in self.rows()}
        self.cluster = None
        if needed & {"cluster", "cluster2", "cluster_cached"}:
            self._start_cluster(stack, needed)
        for app in ("bare", "protected", "audience", "cached", "jwt", "dpop", "metrics",
                    "audited"):
            if app in needed:
                proc = procs.uvicorn(f"bench.apps:{app}", self.url, settings.cpu(True),
                                     extra_env={"BENCH_JWT_KEY": str(jwt_key)})
                self.apps[app] = stack.enter_context(proc)
        self.peer_versions = ""
        if "peer" in needed:
            self.peer_versions = peer.ensure_venv()
            proc, self.peer_token = peer.start(settings.cpu(True))
            self.apps["peer"] = stack.enter_context(proc)
        if "protected2" in needed:  # unpinned, as the cluster's two workers
            proc = procs.uvicorn("bench.apps:protected", self.url, None, workers=2)
            self.apps["protected2"] = stack.enter_context(proc)

    def _start_cluster(self, stack: ExitStack, needed: Collection[str]) -> None:
        """A 3-primary cluster on the load core (as the single Redis), its own seeded client
        and token, and the protected app on it: one worker pinned like every other row, and
        two workers unpinned (two processes on one core would measure nothing)."""
        url = stack.enter_context(procs.redis_cluster(self.s.cpu(False)))
        store = TokenStore.from_url(url)
        stack.callback(lambda: self.loop.run_until_complete(store.aclose()))
        self.cluster = self.loop.run_until_complete(seed.base(store))
        for app, factory, workers, cpu in (("cluster", "protected", 1, self.s.cpu(True)),
                                           ("cluster_cached", "cached", 1, self.s.cpu(True)),
                                           ("cluster2", "protected", 2, None)):
            if app in needed:
                proc = procs.uvicorn(f"bench.apps:{factory}", url, cpu, workers=workers)
                self.apps[app] = stack.enter_context(proc)

    def pool(self, row: Row, size: int) -> Path | None:
        if row.pool is None:
            return None
        values = self.loop.run_until_complete(
            seed.pool(self.store, row.pool, size, self.seeded))
        return seed.write_pool(self.workdir / f"{row.key}.pool", values)

    def probe(self, row: Row) -> str | None:
        """Why the row cannot be measured (one real request first), or None."""
        request = row.request
        body, headers = request.body, request.headers
        if row.pool is not None:
            path = self.pool(row, 1)
            if path is None:
                raise RuntimeError("a pooled row needs a pool")
            value = path.read_text().strip()
            body = None if body is None else body.replace("{VALUE}", value)
            headers = {k: v.replace("{VALUE}", value) for k, v in headers.items()}
        conn = http.client.HTTPConnection("127.0.0.1", self.apps[row.app].port, timeout=10)
        try:
            conn.request(request.method, request.path, body=body, headers=headers)
            response = conn.getresponse()
            status, payload = response.status, response.read()
        finally:
            conn.close()
        if status == row.expect:
            return None
        if row.server and status in (404, 405, 501):
            # The placeholders answer 501 to GET; their routes refuse POST with 405.
            return f"endpoint not implemented yet ({status})"
        try:
            detail = str(json.loads(payload).get("error", ""))
        except (ValueError, AttributeError):
            detail = ""
        return f"probe answered {status} {detail}".strip() + f", expected {row.expect}"

    def warm(self) -> None:
        for app, proc in self.apps.items():
            self.load(proc, wrk.Request(path="/me/" if app == "peer" else "/me"), self.s.warmup)

    def rows(self) -> list[Row]:
        table = rows(self.seeded, self.peer_token, self.cluster)
        return [r for r in table if not self.s.only or r.key in self.s.only or r.key == "bare"]

    def load(self, proc: procs.Process, request: wrk.Request, duration: float,
             pool: Path | None = None, pool_size: int = 0) -> wrk.Result:
        return wrk.run(f"http://127.0.0.1:{proc.port}", request, duration=duration,
                       connections=self.s.connections, threads=self.s.threads,
                       cpu=self.s.cpu(False), pool=pool, pool_size=pool_size)

    def measure(self, row: Row, result: report.RowResult) -> None:
        estimate = result.runs[-1].rps if result.runs else self.s.pool_rate
        size = max(2000, int(estimate * self.s.duration * 1.25))
        pool = self.pool(row, size)
        proc = self.apps[row.app]
        self.redis.config_resetstat()
        cpu_before = procs.cpu_seconds(proc.pid)
        run = self.load(proc, row.request, self.s.duration, pool, size)
        cpu = procs.cpu_seconds(proc.pid) - cpu_before
        stats = self.redis.info("commandstats")
        commands = sum(int(v["calls"]) for k, v in stats.items()
                       if not k.startswith(("cmdstat_config", "cmdstat_info")))
        result.runs.append(run)
        if run.requests:
            result.cpu_us.append(cpu / run.requests * 1e6)
            if row.app not in ("peer", "cluster", "cluster2"):  # those count on other Redises
                result.redis_cmds.append(commands / run.requests)
        self.check(row, run, result)

    @staticmethod
    def check(row: Row, run: wrk.Result, result: report.RowResult) -> None:
        wrong = run.status_errors if row.expect < 400 else run.requests - run.status_errors
        problems = []
        if wrong:
            problems.append(f"{wrong} answers were not {row.expect}")
        if run.socket_errors:
            problems.append(f"{run.socket_errors} socket errors")
        if run.exhausted:
            problems.append("pool exhausted: raise --pool-rate")
        for problem in problems:
            if problem not in result.problems:
                result.problems.append(problem)
