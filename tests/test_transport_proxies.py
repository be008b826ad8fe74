"""A proxy on this machine in its default configuration does not make a request local.

nginx's ``proxy_pass http://127.0.0.1:8000;`` alone sends, by default, ``Host`` set
to the upstream address (``127.0.0.1:8000``), ``Connection: close``, HTTP/1.0 and
no ``X-Forwarded-*`` header at all. From the server its requests had a loopback
peer, a loopback ``Host`` and no proxy header: every client on the network was
served in plain HTTP, client secrets and tokens included. Browsers and local
tools speak HTTP/1.1 or later; an HTTP/1.0 request is taken as forwarded.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from oauth_middleware.transport import Transport, is_local
from tests.redis_process import free_port
from tests.servers import UvicornProcess

SECRET = "example-secret-0123456789"


def _scope(version: str) -> dict[str, Any]:
    return {"type": "http", "http_version": version, "method": "GET", "scheme": "http",
            "client": ("127.0.0.1", 50000), "path": "/", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"connection", b"close")]}


@pytest.mark.rule("transport.local-http")
def test_an_http_1_0_request_from_loopback_is_not_local() -> None:
    assert not is_local(_scope("1.0"))
    assert not Transport().secure(_scope("1.0"))
    assert is_local(_scope("1.1")) and is_local(_scope("2"))


@pytest.fixture
def example() -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"OAUTH_ISSUER": f"http://127.0.0.1:{port}/oauth", "EXAMPLE_CLIENT_SECRET": SECRET,
           "REDIS_URL": "", "OAUTH_SECRET_KEY": ""}
    with UvicornProcess("examples.flask_app:app", env=env, port=port) as server:
        yield server


def _post(port: int, version: bytes) -> tuple[bytes, Any]:
    body = b"grant_type=client_credentials&scope=items%3Aread"
    basic = base64.b64encode(f"example-service:{SECRET}".encode())
    request = (b"POST /oauth/token/ HTTP/%s\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n%s"
               % (version, port, basic, len(body), body))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(payload)


@pytest.mark.rule("transport.local-http", "transport.https")
def test_token_endpoint_refuses_what_a_default_nginx_forwards_in_plain_http(
    example: UvicornProcess,
) -> None:
    status, forwarded = _post(example.port, b"1.0")
    direct_status, direct = _post(example.port, b"1.1")
    assert status.endswith(b" 400 Bad Request"), forwarded
    assert forwarded == {"error": "invalid_request", "error_description": "HTTPS is required."}
    assert direct_status.endswith(b" 200 OK") and direct["token_type"] == "Bearer"
