"""``store export`` / ``store import`` / ``store copy`` through the command line."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from oauth_middleware.cli import main
from oauth_middleware.models import AccessToken
from oauth_middleware.store import TokenStore
from tests.cli.harness import Cli, assert_error
from tests.redis_process import RedisProcess, free_port
from tests.store_helpers import redis_of
from tests.transfer_harness import Issued, access_key, run_flows


async def _resolves(store: TokenStore, issued: Issued) -> list[AccessToken | None]:
    return [await store.resolve(issued.current["access_token"]),
            await store.resolve(issued.machine["access_token"]),
            await store.resolve(issued.revoked["access_token"])]


@pytest.mark.rule("rest.export-digests-only")
def test_export_to_a_file_then_import_restores_every_live_token(cli: Cli, tmp_path: Path) -> None:
    issued = cli.run(run_flows)
    path = tmp_path / "backup.jsonl"
    result = cli.invoke("store", "export", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("exported ") and "access_token" in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds client-secret hashes
    assert [p.name for p in tmp_path.iterdir()] == ["backup.jsonl"]  # no temporary left
    text = path.read_text()
    assert not any(value in text for value in issued.raw_values())

    cli.run(lambda store: redis_of(store).flushdb())
    summary = cli.ok("store", "import", "--input", str(path))
    records = len(text.splitlines()) - 1
    assert summary.startswith(f"imported {records} records (") and f"{records} written" in summary
    current, machine, revoked = cli.run(lambda store: _resolves(store, issued))
    assert current is not None and current.scopes == {"read", "write"}
    assert machine is not None and revoked is None


def test_export_to_stdout_and_import_from_stdin_as_json(cli: Cli) -> None:
    issued = cli.run(run_flows)
    result = cli.invoke("store", "export")
    assert result.exit_code == 0, result.output
    header = json.loads(result.stdout.splitlines()[0])
    assert header["format"] == "oauth-middleware-store" and header["records"] >= 10
    cli.run(lambda store: redis_of(store).flushdb())
    summary = cli.json("store", "import", input=result.stdout)
    assert summary["records"] == header["records"] and summary["kinds"] == header["counts"]
    assert summary["outcomes"] == {"written": header["records"]}
    current, _, _ = cli.run(lambda store: _resolves(store, issued))
    assert current is not None


def test_unknown_keys_are_listed_on_stderr_counted_and_left_out(cli: Cli) -> None:
    cli.run(lambda store: redis_of(store).set("om:legacy\x1b[2J", b"?"))
    cli.run(lambda store: redis_of(store).set("om:client:{web}", b"{}"))
    result = cli.invoke("store", "export")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "unknown key, not moved: om:legacy\\x1b[2J",
        "1 unknown keys not moved",
        "exported 1 records (1 client)",
    ]
    assert "legacy" not in result.stdout and len(result.stdout.splitlines()) == 2
    assert json.loads(result.stdout.splitlines()[0])["unknown"] == 1


def test_past_100_unknown_keys_the_rest_are_only_counted(cli: Cli) -> None:
    async def litter(store: TokenStore) -> None:
        await redis_of(store).mset({f"om:junk:{i:03}": b"?" for i in range(103)})

    cli.run(litter)
    result = cli.invoke("store", "export")
    assert result.exit_code == 0, result.output
    stderr = result.stderr.splitlines()
    assert len([line for line in stderr if line.startswith("unknown key, not moved: ")]) == 100
    assert stderr[-3:] == ["... 3 more unknown keys", "103 unknown keys not moved",
                           "exported 0 records (nothing)"]
    assert json.loads(result.stdout)["unknown"] == 103


@pytest.mark.parametrize(("lines", "extra", "fragment"), [
    (['{"format": "oauth-middleware-store", "version": 9}'], [],
     "line 1: format version 9; this version reads version 1 only"),
    (['{"format": "oauth-middleware-store", "version": 1, "prefix": "om:", "exported_at": 1,'
      ' "counts": {"clients": 2}}', '{"kind": "clients", "key": "clients", "type": "set",'
      ' "expires_at": null, "value": ["a"]}', "\x00\x1b"], [],
     "line 3: not a JSON object (1 records before it imported)"),
    (['{"format": "oauth-middleware-store", "version": 1, "prefix": "xx:", "exported_at": 1,'
      ' "counts": {}}'], [], "this store's prefix is 'om:': pass --prefix-from 'xx:'"),
])
def test_import_refusals_are_one_line_errors(cli: Cli, lines: list[str], extra: list[str],
                                             fragment: str) -> None:
    result = cli.invoke("store", "import", *extra, input="\n".join(lines) + "\n")
    assert_error(result, fragment)


def test_import_into_a_store_holding_keys_asks_for_a_merge_mode(cli: Cli) -> None:
    cli.run(run_flows)
    text = cli.invoke("store", "export").stdout
    assert_error(cli.invoke("store", "import", input=text),
                 "the target already holds keys under 'om:': choose --skip-existing")
    summary = cli.ok("store", "import", "--skip-existing", input=text)
    assert " written" not in summary and " kept" in summary and " merged" in summary


def test_skip_existing_and_replace_together_are_a_usage_error(cli: Cli) -> None:
    for command in (["import"], ["copy", "--from", "redis://a/0", "--to", "redis://b/0"]):
        result = cli.invoke("store", *command, "--skip-existing", "--replace", input="")
        assert_error(result, "--skip-existing and --replace exclude each other", status=2)


def test_an_export_that_fails_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "backup.jsonl"
    result = CliRunner().invoke(main, ["--redis-url", f"redis://127.0.0.1:{free_port()}/0",
                                       "store", "export", "-o", str(path)])
    assert_error(result, "cannot reach Redis")
    assert list(tmp_path.iterdir()) == []


def test_an_export_to_a_path_it_cannot_write_is_one_line_error(cli: Cli, tmp_path: Path) -> None:
    assert_error(cli.invoke("store", "export", "-o", str(tmp_path)), "cannot write ")
    assert_error(cli.invoke("store", "export", "-o", str(tmp_path / "no" / "file")),
                 "cannot write ")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def second_redis() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.mark.real_redis_only
def test_copy_between_two_servers_and_two_databases_keeps_tokens_and_lifetimes(
        cli: Cli, second_redis: RedisProcess) -> None:
    issued = cli.run(run_flows)
    source = cli.redis_url
    assert source is not None
    other_db = source.rsplit("/", 1)[0] + "/1"

    async def pttl(store: TokenStore) -> int:
        return int(await redis_of(store).pttl(access_key(store, issued.current["access_token"])))

    before = cli.run(pttl)
    for target in (second_redis.url, other_db):
        async def flush(store: TokenStore, target: str = target) -> None:
            copy = cli.store(target)
            await redis_of(copy).flushdb()
            await copy.aclose()

        cli.run(flush)
        summary = cli.ok("store", "copy", "--from", source, "--to", target)
        assert summary.startswith("imported ") and " written" in summary

        async def check(store: TokenStore,
                        target: str = target) -> tuple[AccessToken | None, int]:
            copy = cli.store(target)
            try:
                return await copy.resolve(issued.current["access_token"]), await pttl(copy)
            finally:
                await copy.aclose()

        record, after = cli.run(check)
        assert record is not None and record.scopes == {"read", "write"}
        assert before - 5000 < after <= before
        assert_error(cli.invoke("store", "copy", "--from", source, "--to", target),
                     "already holds keys")
    assert_error(cli.invoke("store", "copy", "--from", source, "--to", source),
                 "--from and --to name the same Redis")


def test_store_check_counts_and_names_the_keys_the_schema_does_not_describe(cli: Cli) -> None:
    cli.run(run_flows)
    clean = cli.json("store", "check")
    assert clean["unknown_keys"] == 0 and not any("not the store's" in w
                                                  for w in clean["warnings"])
    cli.run(lambda store: redis_of(store).set(store.keys.prefix + "legacy\x1b[2J", "x"))
    report = cli.json("store", "check")
    assert report["unknown_keys"] == 1
    assert any(w.startswith("1 key(s) under the prefix are not the store's") and
               "legacy\\x1b[2J" in w for w in report["warnings"])
    result = cli.invoke("store", "check")
    assert "unknown_keys:     1" in result.stdout.splitlines()
    assert "\x1b" not in result.stderr
