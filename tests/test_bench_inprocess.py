"""``python -m bench.inprocess``: what a request of a row costs, counted in one process.

The numbers themselves are the bench's to report, not a test's; these tests hold what the
numbers are made of: every measured request answered as its row expects (else no figure
at all), a callgrind figure that is the difference of two runs over the measured requests
only, Redis's counters read around the measured requests, and an audited row shown
against the row it repeats.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import inprocess, procs, served

SMALL = ["--requests", "20", "--warmup", "5", "--runs", "1", "--concurrency", "4"]


def _args(*given: str) -> argparse.Namespace:
    return inprocess.parse([*SMALL, *given])


def test_a_run_counts_each_row_and_shows_the_audited_row_against_the_plain_one() -> None:
    """Against a real redis-server it starts and stops: the plain row appends no event,
    the audited one does, inside its scripts."""
    out = subprocess.run([sys.executable, "-m", "bench.inprocess", "--only",
                          "token_cc,token_cc_audited", *SMALL], capture_output=True,
                         text=True, cwd=procs.ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    figures = {line.split(":")[0]: dict(pair.split("=") for pair in line.split(": ")[1]
                                        .split(", "))
               for line in lines if line.startswith("token_cc")}
    plain, audited = figures["token_cc"], figures["token_cc_audited"]
    assert float(plain["xadd_us"]) == 0 < float(audited["xadd_us"])
    # one XADD a request more, give or take what a run's last sweeps leave to the next
    # window (a fresh clone's served run counted 22.1 and 23.0)
    assert float(audited["redis_cmds"]) > float(plain["redis_cmds"])
    assert all(float(row["cpu_us"]) > 0 and float(row["evalsha_us"]) > 0
               for row in (plain, audited))
    assert any(line.strip().startswith("token_cc_audited / token_cc: ") for line in lines)


def test_a_served_run_goes_through_uvicorn_and_counts_the_same_figures() -> None:
    """``--served``: the row's app under uvicorn, as the bench serves it, sent the row's
    requests over HTTP/1.1 keep-alive connections; the same figures, of the uvicorn
    process (a worker CPU time that now includes its HTTP parsing)."""
    out = subprocess.run([sys.executable, "-m", "bench.inprocess", "--served", "--only",
                          "token_cc,token_cc_audited", *SMALL], capture_output=True,
                         text=True, cwd=procs.ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = {line.split(":")[0]: dict(pair.split("=") for pair in line.split(": ")[1]
                                        .split(", "))
               for line in out.stdout.splitlines() if line.startswith("token_cc")}
    plain, audited = figures["token_cc"], figures["token_cc_audited"]
    assert float(plain["xadd_us"]) == 0 < float(audited["xadd_us"])
    # one XADD a request more, give or take what a run's last sweeps leave to the next
    # window (a fresh clone's served run counted 22.1 and 23.0)
    assert float(audited["redis_cmds"]) > float(plain["redis_cmds"])


def test_a_served_request_is_the_rows_request_on_the_wire() -> None:
    spec = {"method": "POST", "path": "/oauth/token/",
            "headers": {"Authorization": "Basic {VALUE}"},
            "body": "grant_type=refresh_token&refresh_token={VALUE}"}
    wire = served.request_bytes(spec, "v1")
    head, _, body = wire.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /oauth/token/ HTTP/1.1", b"Host: 127.0.0.1", b"Authorization: Basic v1",
        b"Content-Length: 41"]
    assert body == b"grant_type=refresh_token&refresh_token=v1"


async def test_a_child_counts_the_answers_its_row_did_not_expect() -> None:
    """A run whose requests were refused measures nothing: the child says how many."""
    statuses = iter([200, 503, 200, 503, 503])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": next(statuses), "headers": []})
        await send({"type": "http.response.body", "body": b""})

    spec = {"method": "POST", "path": "/oauth/token/", "headers": {"x-value": "{VALUE}"},
            "body": "v={VALUE}", "expect": 200, "concurrency": 2}
    calls = [inprocess._call(spec, f"value{n}") for n in range(5)]
    scope, body = calls[3]
    assert body == b"v=value3"
    assert (b"x-value", b"value3") in scope["headers"]
    assert (b"content-length", b"8") in scope["headers"]
    assert await inprocess._drive(app, calls, spec) == 3


def test_callgrind_counts_only_the_measured_requests(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """Two runs under valgrind, with the requests and with none: the figure a request is
    their difference over the requests (start-up, imports and warm-up cancel out), the
    collector's share shown apart."""
    runs: list[dict[str, Any]] = []

    def child(spec: dict[str, Any], tmp: Path, wrapper: list[str]) -> dict[str, float]:
        runs.append(spec)
        assert wrapper[:2] == ["valgrind", "--tool=callgrind"]
        return {"instr": 5_000_000.0 + 900_000.0 * spec["requests"]}

    collected = iter([1_000_000.0 + 20_000.0 * 1000, 1_000_000.0])
    monkeypatch.setattr(inprocess, "_run_child", child)
    monkeypatch.setattr(inprocess, "_collecting", lambda out: next(collected))
    spec = {"key": "token_cc", "pools": ["first.pool", "second.pool"], "requests": 1000}
    measured = inprocess._measure(spec, tmp_path, _args("--callgrind", "--keep", str(tmp_path)))
    assert [(run["pool"], run["requests"]) for run in runs] == [("first.pool", 1000),
                                                                ("second.pool", 0)]
    assert measured["kinstr_per_req"] == pytest.approx(900.0)
    assert measured["kinstr_gc_per_req"] == pytest.approx(20.0)
    assert measured["kinstr_but_gc_per_req"] == pytest.approx(880.0)


def test_a_child_refused_by_a_slow_store_is_measured_again(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """Under valgrind a loaded host can stretch a round trip past the store's socket
    timeout (a 503): that measurement is prepared anew and taken again, twice at most."""
    outcomes: list[Exception | dict[str, float]] = [
        served.Unanswered("503"), served.Unanswered("503"), {"cpu_us": 1.0}]
    prepared: list[int] = []

    def measure(spec: dict[str, Any], tmp: Path, args: argparse.Namespace
                ) -> dict[str, float]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def prepare() -> dict[str, Any]:
        prepared.append(1)
        return {}

    monkeypatch.setattr(inprocess, "_measure", measure)
    assert inprocess._measured(prepare, tmp_path, _args()) == {"cpu_us": 1.0}
    assert len(prepared) == 3
    outcomes[:] = [served.Unanswered("503")] * 3
    with pytest.raises(served.Unanswered):
        inprocess._measured(lambda: {}, tmp_path, _args())


def test_the_report_gives_medians_and_the_audited_row_over_the_plain_one() -> None:
    text = inprocess.report({
        "token_cc": [{"cpu_us": 100.0}, {"cpu_us": 300.0}, {"cpu_us": 200.0}],
        "token_cc_audited": [{"cpu_us": 250.0}, {"cpu_us": 210.0}, {"cpu_us": 230.0}],
    })
    assert text.splitlines() == [
        "token_cc: cpu_us=200.00",
        "token_cc_audited: cpu_us=230.00",
        "  token_cc_audited / token_cc: cpu_us=1.150",
    ]
