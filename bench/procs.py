"""The processes a bench run owns: redis-server and uvicorn on loopback, each pinned to a core.

Pinning (``taskset``) keeps the server under test on one core and the load
generator and Redis on the other, so rows measured minutes apart compete for
the same resources. Every process is stopped by the run that started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """``cmd`` under ``taskset -c cpu`` when pinning is asked for and possible."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on port {port}")


class Process:
    """A child process with its output in a temporary log file."""

    def __init__(self, name: str, cmd: list[str], *, port: int, env: dict[str, str] | None = None,
                 cwd: Path = ROOT) -> None:
        self.name, self.cmd, self.port = name, cmd, port
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(self.port, self.proc, self.name)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{self.name} failed:\n{self.output()[-3000:]}") from None
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


def redis_server(cpu: int | None) -> Process:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    cmd = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
           "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir,
           "--loglevel", "warning"]
    return Process("redis", pinned(cmd, cpu), port=port)


def uvicorn(factory: str, redis_url: str, cpu: int | None, *, python: str = sys.executable,
            cwd: Path = ROOT, workers: int = 1, extra_env: dict[str, str] | None = None
            ) -> Process:
    """One uvicorn serving ``factory`` (``module:function``) with the access log off."""
    port = free_port()
    cmd = [python, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--no-access-log",
           "--log-level", "warning"]
    env = {"REDIS_URL": redis_url, "BENCH_ISSUER": f"http://127.0.0.1:{port}/oauth",
           **(extra_env or {})}
    return Process(factory.rsplit(":", 1)[-1], pinned(cmd, cpu), port=port, env=env, cwd=cwd)


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` and its live descendants have used so far (Linux
    /proc): a uvicorn started with several workers serves from its children, and the
    supervisor alone would count next to nothing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        try:
            total += cpu_seconds(child)
        except FileNotFoundError:  # it ended after it was listed
            continue
    return total


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (one that ended meanwhile is skipped)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


@contextlib.contextmanager
def redis_cluster(cpu: int | None, primaries: int = 3) -> Iterator[str]:
    """``primaries`` redis-servers joined into one Redis Cluster on loopback (no replicas);
    yields its ``redis+cluster://`` URL and stops every node on exit."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(primaries):
            port = _cluster_port()
            workdir = tempfile.mkdtemp(prefix="bench-cluster-")
            cmd = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir,
                   "--loglevel", "warning", "--cluster-enabled", "yes",
                   "--cluster-config-file", "nodes.conf"]
            stack.enter_context(Process("redis-cluster", pinned(cmd, cpu), port=port))
            ports.append(port)
        subprocess.run([shutil.which("redis-cli") or "/usr/bin/redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        _until_cluster_ok(ports)
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a port too, and free."""
    while True:
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def _until_cluster_ok(ports: list[int], timeout: float = 30) -> None:
    """Wait until every node says ``cluster_state:ok`` (slots assigned and agreed)."""
    deadline = time.monotonic() + timeout
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    while time.monotonic() < deadline:
        states = [subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True,
                                 text=True, timeout=5).stdout for p in ports]
        if all("cluster_state:ok" in state for state in states):
            return
        time.sleep(0.2)
    raise RuntimeError("the bench cluster did not reach cluster_state:ok")
