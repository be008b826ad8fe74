"""Request ids (oauth_middleware.request_id) and the library's log setup (oauth_middleware.logs)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from oauth_middleware.logs import JsonFormatter, configure_logging
from oauth_middleware.request_id import MAX_LENGTH, RequestIdFilter, current, sent
from oauth_middleware.store import TokenStore
from tests.ops_app import build_ops_app
from tests.server.token_harness import http

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The library's log as JSON lines in memory; the handler goes afterwards."""
    stream = io.StringIO()
    handler = configure_logging(json=True, level=logging.INFO, stream=stream)
    yield stream
    logger = logging.getLogger("oauth_middleware")
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_safe_request_id_is_echoed_and_stamped_on_every_log_line_of_the_request(
    store: TokenStore, log_lines: io.StringIO,
) -> None:
    async with http(build_ops_app(store)) as client:
        response = await client.get("/me", headers={"Authorization": "Bearer no.such",
                                                    "X-Request-ID": "abc-123_x.y:z"})
    assert response.status_code == 401
    assert response.headers.get_list("x-request-id") == ["abc-123_x.y:z"]
    refused = [r for r in records(log_lines) if r["logger"] == "oauth_middleware.middleware"]
    assert [r["message"] for r in refused] == ["refused GET '/me': invalid_token"]
    assert refused[0]["request_id"] == "abc-123_x.y:z"
    assert current() is None  # nothing leaks out of the request


@pytest.mark.rule("rest.request-id-safe", "rest.log-lines-escaped")
@pytest.mark.parametrize("sent", [
    "a" * (MAX_LENGTH + 1), "has space", "new\r\nline", "quote\"", "", "é", "semi;colon",
])
async def test_an_unsafe_request_id_is_replaced_by_a_generated_one(
    store: TokenStore, sent: str, log_lines: io.StringIO,
) -> None:
    async with http(build_ops_app(store)) as client:
        response = await client.get("/me", headers=[(b"X-Request-ID", sent.encode("utf-8"))])
    echoed = response.headers["x-request-id"]
    assert response.status_code == 401
    assert GENERATED.fullmatch(echoed) and echoed != sent
    lines = records(log_lines)
    assert lines and {line["request_id"] for line in lines} == {echoed}
    assert sent not in log_lines.getvalue() or sent == ""


@pytest.mark.rule("rest.request-id-safe", "rest.no-secret-in-logs")
async def test_two_ids_or_one_carrying_the_credentials_are_replaced(
    store: TokenStore, log_lines: io.StringIO,
) -> None:
    token = "eyJ.secret-token_value"
    async with http(build_ops_app(store)) as client:
        twice = await client.get("/public", headers=[(b"X-Request-ID", b"one"),
                                                     (b"X-Request-ID", b"two")])
        carried = await client.get("/me", headers={"Authorization": f"Bearer {token}",
                                                   "X-Request-ID": token})
    for response in (twice, carried):
        assert GENERATED.fullmatch(response.headers["x-request-id"])
    assert carried.status_code == 401
    assert token not in log_lines.getvalue()


async def test_fifty_concurrent_requests_each_log_only_their_own_id(
    store: TokenStore, log_lines: io.StringIO,
) -> None:
    async with http(build_ops_app(store)) as client:
        responses = await asyncio.gather(*[
            client.get(f"/hello/{n}", headers={"X-Request-ID": f"req-{n}"}) for n in range(50)])
    assert [r.headers["x-request-id"] for r in responses] == [f"req-{n}" for n in range(50)]
    lines = [r for r in records(log_lines) if r["logger"] == "oauth_middleware.tests.ops_app"]
    assert len(lines) == 100
    for line in lines:
        number = line["message"].split()[1]
        assert line["request_id"] == f"req-{number}"


@pytest.mark.rule("rest.log-lines-escaped")
def test_the_json_formatter_writes_one_parsable_line_per_record_even_with_a_crlf() -> None:
    record = logging.LogRecord("oauth_middleware.server", logging.ERROR, __file__, 1,
                               "refused %r", ("/a\r\nforged: line",), None)
    RequestIdFilter().filter(record)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "oauth_middleware.server"
    assert entry["message"] == "refused '/a\\r\\nforged: line'"
    assert entry["request_id"] == "-"
    assert entry["exception"].endswith("ValueError: boom")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])


def test_configuring_twice_keeps_one_handler_of_ours_and_the_hosts() -> None:
    logger = logging.getLogger("oauth_middleware")
    host = logging.NullHandler()
    logger.addHandler(host)
    try:
        first = configure_logging()
        second = configure_logging(json=True, level="WARNING")
        assert first not in logger.handlers
        assert second in logger.handlers and host in logger.handlers
        assert logger.level == logging.WARNING
        assert isinstance(second.formatter, JsonFormatter)
    finally:
        for handler in (host, second):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_the_header_is_found_in_any_case_once_and_only_once() -> None:
    """ASGI servers lower header names, but one that did not must not lose the id, nor
    let a second id in other capitals slip past the one-id rule; names of the header's
    length that are not it are passed over."""
    plain = [(b"host", b"x"), (b"x-request-ie", b"no"), (b"authorization", b"Bearer t")]
    assert sent([*plain, (b"X-Request-ID", b"abc-1")]) == "abc-1"
    assert sent([*plain, (b"x-request-id", b"abc-1")]) == "abc-1"
    assert sent([*plain, (b"x-request-id", b"a"), (b"X-REQUEST-ID", b"b")]) is None
    assert sent(plain) is None
    assert sent([(b"x-request-id", b"Bearer")]) == "Bearer"
    assert sent([(b"Authorization", b"Bearer t0k"), (b"x-request-id", b"t0k")]) is None
