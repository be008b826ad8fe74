"""The benchmark's pure parts: the rows it measures, the wrk scripts it writes, the table
it prints. No wrk, no server: the numbers bench/run reports are only as good as these.

The generated Lua runs under lupa's Lua 5.1 (the embedded store's runtime) with a
stand-in for wrk's ``wrk`` table, so the per-thread pool striping is checked by executing it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import lupa
import pytest

from bench import procs, report, wrk
from bench.report import RowResult
from bench.rows import FORM, UNKNOWN_TOKEN, rows
from bench.seed import REDIRECT_URI, Seeded
from bench.wrk import MARK, Request, Result

# Lua 5.1 (wrk runs LuaJIT, a 5.1), loaded exactly as fakeredis loads it: its symbols are
# global, so a second Lua (lupa's default 5.5) in the same process would call into them
# and abort the whole test run.
with lupa.allow_lua_module_loading():
    from lupa.lua51 import LuaRuntime

SEEDED = Seeded(client_id="bench-client", client_secret="s:e+c/r%t", token="tok.en",
                audience_token="aud.tok", es256_secret="e/s", dpop_token="dpop.tok")


def test_the_rows_are_the_issue_table_in_order_and_the_peer_only_with_its_token() -> None:
    keys = [row.key for row in rows(SEEDED, None)]
    assert keys == ["bare", "header", "header_metrics", "header_2w", "body", "query", "our_jwt",
                    "audience", "dpop", "invalid",
                    "cached", "foreign_jwt", "token_cc", "token_cc_cached", "token_exchange",
                    "token_code", "token_code_oidc", "token_code_oidc_es256", "token_refresh",
                    "revoke", "introspect", "token_cc_audited", "token_code_audited",
                    "token_refresh_audited", "revoke_audited"]
    with_peer = rows(SEEDED, "peer-token")
    assert [row.key for row in with_peer] == [*keys, "peer"]
    assert with_peer[-1].request.headers == {"Authorization": "Bearer peer-token"}
    assert with_peer[-1].app == "peer"


def test_each_row_sends_its_token_the_way_its_title_says() -> None:
    by_key = {row.key: row for row in rows(SEEDED, None)}
    assert by_key["bare"].app == "bare" and by_key["bare"].request == Request()
    assert by_key["header"].request.headers == {"Authorization": "Bearer tok.en"}
    body = by_key["body"].request
    assert (body.method, body.headers, body.body) == ("POST", {"Content-Type": FORM},
                                                       "access_token=tok.en")
    assert by_key["query"].request.path == "/me?access_token=tok.en"
    assert by_key["audience"].app == "audience"
    assert by_key["audience"].request.headers == {"Authorization": "Bearer aud.tok"}
    assert by_key["invalid"].expect == 401
    assert by_key["invalid"].request.headers == {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}
    assert by_key["cached"].app == "cached"
    assert (by_key["dpop"].app, by_key["dpop"].pool) == ("dpop", "proofs")
    assert by_key["dpop"].request.headers == {"Authorization": "DPoP dpop.tok", "DPoP": "{VALUE}"}
    assert [k for k, row in by_key.items() if row.expect != 200] == ["invalid"]


def test_server_rows_post_forms_with_basic_auth_and_pooled_rows_a_value_slot() -> None:
    server = [row for row in rows(SEEDED, None) if row.server]
    assert [row.key for row in server] == ["token_cc", "token_cc_cached", "token_exchange",
                                           "token_code", "token_code_oidc",
                                           "token_code_oidc_es256", "token_refresh", "revoke",
                                           "introspect", "token_cc_audited", "token_code_audited",
                                           "token_refresh_audited", "revoke_audited"]
    pair = f"{quote('bench-client', safe='')}:{quote('s:e+c/r%t', safe='')}".encode()
    es256 = f"bench-es256-client:{quote('e/s', safe='')}".encode()
    for row in server:
        assert row.request.method == "POST"
        sent = es256 if row.key == "token_code_oidc_es256" else pair
        assert row.request.headers == {
            "Authorization": "Basic " + base64.b64encode(sent).decode(), "Content-Type": FORM}
    assert base64.b64decode(server[0].request.headers["Authorization"][6:]) == \
        b"bench-client:s%3Ae%2Bc%2Fr%25t"
    pools = {row.key: (row.pool, row.request.body) for row in server if row.pool}
    assert pools == {
        "token_code": ("codes", "grant_type=authorization_code&code={VALUE}&redirect_uri="
                       + quote(REDIRECT_URI, safe="")),
        "token_code_oidc": ("oidc_codes", "grant_type=authorization_code&code={VALUE}"
                            "&redirect_uri=" + quote(REDIRECT_URI, safe="")),
        "token_code_oidc_es256": ("oidc_es256_codes", "grant_type=authorization_code"
                                  "&code={VALUE}&redirect_uri=" + quote(REDIRECT_URI, safe="")),
        "token_refresh": ("refresh", "grant_type=refresh_token&refresh_token={VALUE}"),
        "revoke": ("access", "token={VALUE}&token_type_hint=access_token"),
        "token_exchange": ("access", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3A"
                           "token-exchange&subject_token={VALUE}&subject_token_type=urn%3Aietf"
                           "%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&scope=bench:read"),
        "token_code_audited": ("codes", "grant_type=authorization_code&code={VALUE}"
                               "&redirect_uri=" + quote(REDIRECT_URI, safe="")),
        "token_refresh_audited": ("refresh", "grant_type=refresh_token&refresh_token={VALUE}"),
        "revoke_audited": ("access", "token={VALUE}&token_type_hint=access_token"),
    }
    assert {row.app for row in server if row.key.endswith("_audited")} == {"audited"}


class FakeWrk:
    """Runs a generated script: what wrk.format was asked for, and whether a thread stopped."""

    def __init__(self, lua_source: str, thread_id: int | None = None) -> None:
        self.lua = LuaRuntime()
        self.stopped = 0
        self.lua.execute("""
            wrk = {thread = {}}
            function wrk.format(method, path, headers, body)
              local names = {}
              for k, v in pairs(headers) do names[#names + 1] = k .. "=" .. v end
              table.sort(names)
              return method .. " " .. path .. " [" .. table.concat(names, ",") .. "] "
                .. tostring(body)
            end
        """)
        self.lua.globals().wrk.thread.stop = lambda _thread: self._stop()
        self.lua.execute(lua_source)
        if thread_id is not None:
            self.lua.globals().id = thread_id
        self.lua.globals().init(self.lua.table())

    def _stop(self) -> None:
        self.stopped += 1

    def request(self) -> str:
        return str(self.lua.globals().request())


def test_a_static_script_builds_one_request_with_every_value_escaped() -> None:
    request = Request("POST", "/oauth/token", {"Authorization": 'Basic "x\\y"', "X-N": "1"},
                      "a=1&b=\"2\"")
    source = wrk.script(request, None, 1)
    assert f"MARK = {json.dumps(MARK)}" in source
    fake = FakeWrk(source)
    expected = 'POST /oauth/token [Authorization=Basic "x\\y",X-N=1] a=1&b="2"'
    assert fake.request() == fake.request() == expected
    assert FakeWrk(wrk.script(Request(), None, 1)).request() == "GET /me [] nil"


def test_a_pooled_script_gives_each_thread_its_own_stripe_and_stops_when_it_runs_out(
    tmp_path: Path,
) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("".join(f"v{i}\n" for i in range(5)))
    source = wrk.script(Request("POST", "/oauth/revoke", {}, "token={VALUE}"), pool, 2)
    first, second = FakeWrk(source, thread_id=0), FakeWrk(source, thread_id=1)
    assert [first.request() for _ in range(3)] == [
        "POST /oauth/revoke [] token=v0", "POST /oauth/revoke [] token=v2",
        "POST /oauth/revoke [] token=v4"]
    assert first.stopped == 0
    assert [second.request() for _ in range(2)] == [
        "POST /oauth/revoke [] token=v1", "POST /oauth/revoke [] token=v3"]
    assert second.request() == "POST /oauth/revoke [] token=v3"  # reused, but stopped
    assert second.stopped == 1


def test_a_pooled_header_gets_a_fresh_value_per_request(tmp_path: Path) -> None:
    """The dpop row: a new proof in the DPoP header of every request, a GET with no body."""
    pool = tmp_path / "pool.txt"
    pool.write_text("p0\np1\n")
    source = wrk.script(Request(headers={"Authorization": "DPoP t", "DPoP": "{VALUE}"}), pool, 1)
    fake = FakeWrk(source, thread_id=0)
    assert [fake.request() for _ in range(2)] == [
        "GET /me [Authorization=DPoP t,DPoP=p0] nil", "GET /me [Authorization=DPoP t,DPoP=p1] nil"]


def test_run_reads_wrks_result_line_and_flags_an_exhausted_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    line = MARK + json.dumps({"requests": 500, "duration_us": 2_000_000, "status_errors": 3,
                              "socket_errors": 1, "p50_us": 1500, "p99_us": 4250})
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, f"Running 2s test\n{line}\n", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = wrk.run("http://127.0.0.1:1/", Request(), duration=2, connections=32, threads=1,
                     cpu=None, pool=tmp_path / "pool.txt", pool_size=500)
    assert result == Result(requests=500, duration_s=2.0, status_errors=3, socket_errors=1,
                            p50_ms=1.5, p99_ms=4.25, exhausted=True)
    assert result.rps == 250.0
    assert seen[0][1:4] == ["-t1", "-c32", "-d2s"]
    monkeypatch.setattr(subprocess, "run", lambda cmd, **_: subprocess.CompletedProcess(
        cmd, 1, "", "unable to connect"))
    with pytest.raises(RuntimeError, match="unable to connect"):
        wrk.run("http://127.0.0.1:1/", Request(), duration=1, connections=1, threads=1, cpu=None)


def _result(rps: float, p50: float = 1.0, p99: float = 2.0) -> Result:
    return Result(requests=int(rps * 10), duration_s=10.0, status_errors=0, socket_errors=0,
                  p50_ms=p50, p99_ms=p99)


def test_the_table_gives_medians_and_ratios_to_the_bare_route_of_the_same_run() -> None:
    bare = RowResult("bare", "bare route", runs=[_result(10_000), _result(12_000),
                                                 _result(11_000)],
                     cpu_us=[60.0, 80.0, 70.0], redis_cmds=[0.0])
    header = RowResult("header", "header token",
                       runs=[_result(5_500, 3.0, 4.0), _result(5_000, 2.0, 5.0)],
                       cpu_us=[140.0], redis_cmds=[0.08, 0.1, 0.06])
    skipped = RowResult("peer", "peer", skipped="no peer environment")
    troubled = RowResult("revoke", "revoke", runs=[_result(1_234.4)],
                         problems=["3 status errors", "pool exhausted"])
    lines = report.table([bare, header, skipped, troubled])
    assert lines[0] == ["row", "requests/s", "p50 ms", "p99 ms", "vs bare", "CPU µs/req",
                        "vs bare (CPU)", "Redis cmds/req", "note"]
    assert lines[1] == ["bare route", "11,000", "1.00", "2.00", "1.00", "70.0", "1.00",
                        "0.00", ""]
    assert lines[2] == ["header token", "5,250", "2.50", "4.50", "0.48", "140.0", "0.50",
                        "0.08", ""]
    assert lines[3] == ["peer", "-", "-", "-", "-", "-", "-", "-", "no peer environment"]
    assert lines[4] == ["revoke", "1,234", "1.00", "2.00", "0.11", "-", "-", "-",
                        "3 status errors; pool exhausted"]


def test_the_table_renders_as_aligned_text_and_as_markdown() -> None:
    lines = [["row", "requests/s", "note"], ["bare", "11,000", ""], ["a longer row", "5", "x"]]
    assert report.text(lines).splitlines() == [
        "row           requests/s  note",
        "------------  ----------  ----",
        "bare          11,000",
        "a longer row  5           x",
    ]
    assert report.markdown(lines).splitlines() == [
        "| row | requests/s | note |", "| --- | --: | --- |", "| bare | 11,000 |  |",
        "| a longer row | 5 | x |"]


#: A worker that spends 0.3 s of CPU, says so, then waits for its stdin to close.
_WORKER = ("import sys, time\nwhile time.process_time() < 0.3: pass\n"
           "print('ready', flush=True)\nsys.stdin.read()")
#: A supervisor that only starts the worker and waits for it, as uvicorn --workers does.
_SUPERVISOR = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_WORKER!r}])"


def test_cpu_per_request_counts_the_workers_of_a_supervisor_not_only_the_supervisor() -> None:
    """The two-worker rows measure a uvicorn whose workers are its children; counting
    the supervisor alone reported 0.3 us of CPU per request."""
    with subprocess.Popen([sys.executable, "-c", _SUPERVISOR],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as supervisor:
        assert supervisor.stdin is not None and supervisor.stdout is not None
        with supervisor.stdin:
            assert supervisor.stdout.readline() == b"ready\n"
            assert procs.cpu_seconds(supervisor.pid) >= 0.29
