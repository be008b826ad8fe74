"""Real server processes (uvicorn, the demo) on loopback ports, started and stopped by tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from tests.redis_process import free_port

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """A Python server process on a loopback port, its output captured in a file."""

    def __init__(self, *, env: dict[str, str] | None = None, port: int | None = None,
                 unset: tuple[str, ...] = ()) -> None:
        """``env`` is added to this process's environment, ``unset`` names removed from it."""
        self.port = port or free_port()
        self.env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
        self.log = Path(tempfile.mkstemp(prefix="om-server-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Self:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv(), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.2
            ):
                return self
            time.sleep(0.05)  # polling for readiness, not timing a behaviour
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


class UvicornProcess(ServerProcess):
    """``python -m uvicorn <target> ...`` on 127.0.0.1."""

    def __init__(self, target: str, *args: str, env: dict[str, str] | None = None,
                 port: int | None = None, unset: tuple[str, ...] = ()) -> None:
        super().__init__(env=env, port=port, unset=unset)
        self.target = target
        self.args = args

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1",
                "--port", str(self.port), *self.args]


class DemoProcess(ServerProcess):
    """``python -m demo --port P``: the demo exactly as a newcomer starts it."""

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", str(self.port)]
