"""The SSRF-safe fetch of a client's metadata document (oauth_middleware.safe_fetch).

Refusals of an address are decided before any connection: a resolver that records its
lookups and a real HTTPS server on loopback (tests/document_server.py) show which name
was looked up and which requests arrived.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oauth_middleware.safe_fetch import FetchRefused, SafeFetcher, is_public
from tests.ca import TestAuthority
from tests.document_server import NAMES, DocumentServer, Reply

SPECIAL = "special-use"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority.create(Path(tmp_path_factory.mktemp("ca")), names=NAMES)


@pytest.fixture
async def server(authority: TestAuthority) -> AsyncIterator[DocumentServer]:
    started = await DocumentServer(authority).start()
    yield started
    await started.close()


def fetcher_for(server: DocumentServer, *, max_bytes: int = 5120,
                timeout: float = 5.0) -> SafeFetcher:
    policy = server.policy()
    return SafeFetcher(max_bytes=max_bytes, timeout=timeout, resolver=server.resolve,
                       allowed_networks=policy.networks(), verify=policy.tls_context)


async def refused(fetcher: SafeFetcher, url: str) -> str:
    with pytest.raises(FetchRefused) as caught:
        await fetcher.get_json(url)
    return str(caught.value)


@pytest.mark.rule("documents.ssrf")
@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.8.9.1", "[::1]", "10.0.0.1", "172.16.0.1", "172.31.255.254",
    "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "[::]", "[fc00::1]",
    "[fd12:3456::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]", "224.0.0.1", "[ff02::1]", "240.0.0.1", "255.255.255.255",
    "198.18.0.1", "192.0.2.1", "192.0.0.9", "[64:ff9b::a00:1]", "[2002:a00:1::]",
    "[2001:db8::1]", "[fec0::1]",
])
async def test_a_special_use_address_literal_is_refused_without_any_lookup(host: str) -> None:
    lookups: list[str] = []

    async def resolver(name: str, port: int) -> list[str]:
        lookups.append(name)
        return ["93.184.216.34"]

    fetcher = SafeFetcher(max_bytes=5120, timeout=2.0, resolver=resolver)
    assert SPECIAL in await refused(fetcher, f"https://{host}/client.json")
    assert lookups == []


@pytest.mark.rule("documents.ssrf")
@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "::ffff:93.184.216.34"])
def test_a_public_address_is_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.rule("documents.ssrf")
async def test_localhost_resolved_by_the_system_resolver_is_refused() -> None:
    fetcher = SafeFetcher(max_bytes=5120, timeout=2.0)
    assert SPECIAL in await refused(fetcher, "https://localhost/client.json")
    assert SPECIAL in await refused(fetcher, "https://localhost:8443/client.json")


@pytest.mark.rule("documents.ssrf")
@pytest.mark.parametrize("answers", [["10.1.2.3"], ["169.254.169.254"], ["fd00::5"],
                                     ["::ffff:192.168.0.1"],
                                     ["93.184.216.34", "127.0.0.1"]])
async def test_a_name_resolving_to_a_special_use_address_is_refused(answers: list[str]) -> None:
    """One special-use answer refuses the name, whatever the others."""
    async def resolver(name: str, port: int) -> list[str]:
        return answers

    fetcher = SafeFetcher(max_bytes=5120, timeout=2.0, resolver=resolver)
    assert SPECIAL in await refused(fetcher, "https://rebind.example/client.json")


@pytest.mark.rule("documents.ssrf")
async def test_an_allowed_network_lets_only_itself_through(server: DocumentServer) -> None:
    """127.0.0.1/32 allowed (as a test does) is not the rest of loopback or ::1."""
    fetcher = fetcher_for(server)
    for host in ("127.0.0.2", "[::1]", "10.0.0.1"):
        assert SPECIAL in await refused(fetcher, f"https://{host}:{server.port}/c.json")
    assert server.requests == []


@pytest.mark.rule("documents.ssrf")
async def test_the_name_is_resolved_once_and_the_request_carries_it_as_host_and_sni(
        server: DocumentServer) -> None:
    """No second lookup for DNS rebinding to answer: the connection goes to the vetted
    address, and TLS and Host name the original host."""
    url = server.document("/client.json")
    fetched = await fetcher_for(server).get_json(url)
    assert json.loads(fetched.body)["client_id"] == url
    assert server.lookups == ["client.test"]
    assert [(s.path, s.host) for s in server.requests] == [
        ("/client.json", f"client.test:{server.port}")]
    assert server.sni == ["client.test"]


@pytest.mark.rule("documents.ssrf")
async def test_a_certificate_for_another_name_is_refused(server: DocumentServer) -> None:
    async def resolver(name: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    fetcher = fetcher_for(server)
    fetcher.resolver = resolver
    server.document("/client.json")
    reason = await refused(fetcher, f"https://unnamed.test:{server.port}/client.json")
    assert reason == "the host's TLS certificate could not be verified"
    assert server.requests == []


@pytest.mark.rule("documents.ssrf")
@pytest.mark.parametrize("location", ["https://10.0.0.1/client.json",
                                      "https://other.test/client.json",
                                      "http://169.254.169.254/latest/meta-data/"])
async def test_a_redirect_is_refused_and_never_followed(
        server: DocumentServer, location: str) -> None:
    server.routes["/moved.json"] = Reply(b"", 302, {"location": location,
                                                    "content-type": "application/json"})
    reason = await refused(fetcher_for(server), server.url("/moved.json"))
    assert reason == "the document URL redirects (redirects are not followed)"
    assert server.lookups == ["client.test"]
    assert [s.path for s in server.requests] == ["/moved.json"]


@pytest.mark.rule("documents.ssrf")
async def test_proxy_settings_of_the_environment_are_ignored(
        server: DocumentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would resolve and connect by itself, past every check here."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    url = server.document("/client.json")
    assert json.loads((await fetcher_for(server).get_json(url)).body)["client_id"] == url


@pytest.mark.rule("documents.ssrf")
@pytest.mark.parametrize("url", ["http://client.test/client.json",
                                 "ftp://client.test/client.json", "client.test/client.json"])
async def test_only_https_is_fetched(server: DocumentServer, url: str) -> None:
    assert await refused(fetcher_for(server), url) == "only https URLs are fetched"
    assert server.lookups == []


@pytest.mark.rule("documents.bounded-fetch")
@pytest.mark.parametrize("chunked", [False, True])
async def test_a_document_past_the_size_limit_is_refused(
        server: DocumentServer, chunked: bool) -> None:
    """Announced or streamed, a document larger than max_bytes is refused; one of exactly
    max_bytes is read."""
    body = json.dumps({"client_id": "x", "pad": "a" * 6000}).encode()
    server.routes["/big.json"] = Reply(body, chunked=chunked)
    reason = await refused(fetcher_for(server, max_bytes=5120), server.url("/big.json"))
    assert reason == "the document is larger than 5120 bytes"
    exact = fetcher_for(server, max_bytes=len(body))
    assert (await exact.get_json(server.url("/big.json"))).body == body


@pytest.mark.rule("documents.bounded-fetch")
async def test_a_document_that_stalls_is_abandoned_at_the_time_limit(
        server: DocumentServer) -> None:
    server.routes["/slow.json"] = Reply(b'{"client_id": "x"}', stall=True)
    reason = await refused(fetcher_for(server, timeout=0.5), server.url("/slow.json"))
    assert reason == "no whole answer within 0.5 s"
    await asyncio.wait_for(server.abandoned.wait(), 10)  # the connection was closed by us


@pytest.mark.rule("documents.bounded-fetch")
@pytest.mark.parametrize(("reply", "reason"), [
    (Reply(b"<html></html>", headers={"content-type": "text/html"}),
     "the document is not served as JSON (application/json)"),
    (Reply(b"{}", headers={}), "the document is not served as JSON (application/json)"),
    (Reply(b"{}", 404), "the document URL answered HTTP 404, not 200"),
    (Reply(b"{}", 203), "the document URL answered HTTP 203, not 200"),
    (Reply(b"{}", 500), "the document URL answered HTTP 500, not 200"),
])
async def test_only_a_200_json_answer_is_a_document(
        server: DocumentServer, reply: Reply, reason: str) -> None:
    server.routes["/doc"] = reply
    assert await refused(fetcher_for(server), server.url("/doc")) == reason


@pytest.mark.rule("documents.bounded-fetch")
async def test_a_json_subtype_is_a_json_answer(server: DocumentServer) -> None:
    server.routes["/doc"] = Reply(b"{}", headers={
        "content-type": "application/client-metadata+json; charset=utf-8"})
    assert (await fetcher_for(server).get_json(server.url("/doc"))).body == b"{}"


@pytest.mark.rule("documents.ssrf")
async def test_an_unresolvable_name_is_refused(server: DocumentServer) -> None:
    reason = await refused(fetcher_for(server), "https://nowhere.test/client.json")
    assert reason == "the host name does not resolve"


@pytest.mark.rule("documents.ssrf")
async def test_the_vetted_addresses_are_tried_in_order_until_one_connects(
        server: DocumentServer) -> None:
    """Nothing listens on 127.0.0.2: the next vetted address is tried, never a new lookup."""
    async def resolver(name: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    url = server.document("/client.json")
    fetcher = SafeFetcher(max_bytes=5120, timeout=5.0, resolver=resolver,
                          allowed_networks=[ipaddress.ip_network("127.0.0.0/30")],
                          verify=server.policy().tls_context)
    assert json.loads((await fetcher.get_json(url)).body)["client_id"] == url

    async def closed(name: str, port: int) -> list[str]:
        return ["127.0.0.2"]

    fetcher.resolver = closed
    assert await refused(fetcher, url) == "no address of the host accepts a connection"
    assert len(server.requests) == 1
