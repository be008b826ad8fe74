"""One small JSON document from the public internet, SSRF-safe (RFC 6890; CIMD draft §6.4, §6.5).

A URL a client chose (a Client ID Metadata Document) makes this server send a
request: aimed at ``127.0.0.1:6379``, ``169.254.169.254`` or an intranet host, it
would read what only this server can reach. So, before any byte is sent:

- https only, on a host name or IP literal; the name is resolved here, once, and
  every address it resolves to must be public: not special-use (RFC 6890 and the
  IANA registries since: loopback, RFC 1918, RFC 4193 unique-local, link-local,
  CGNAT 100.64/10, multicast, reserved, documentation, benchmarking, ``0.0.0.0``,
  ``::``), an IPv4-mapped IPv6 address judged as its IPv4 address; one special-use
  answer refuses the name, whatever the others are;
- the connection goes to that vetted address, with the original name as TLS SNI,
  certificate name and ``Host``: no second lookup exists for DNS rebinding to answer;
- no redirect is followed (a 3xx is a refusal), no proxy from the environment is used,
  no connection is kept (a pooled connection would carry one name's verified TLS
  session to another name on the same address);
- only a 200 with a JSON media type (``application/json`` or ``application/*+json``),
  read while counting: past ``max_bytes`` (the draft recommends 5 KB) the read stops;
- the whole exchange, lookup included, ends within ``timeout`` seconds.

Each refusal is a :class:`FetchRefused` whose text names the rule, never the
document's content. ``allowed_networks`` lets named networks through (a test's
loopback server, an intranet the operator chose): empty by default. httpx is an
optional dependency (the ``client-metadata`` extra).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolve(host, port)``: the addresses to connect to, as text (the system's by default).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: Special-use blocks (RFC 6890 and the IANA special-purpose registries), refused even where
#: ``ipaddress``'s ``is_global`` of this Python version would call one global.
SPECIAL_USE: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
    "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/8", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
_JSON_TYPES = ("application/json",)
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


class FetchRefused(Exception):
    """The document was not fetched, or not used; the text says which rule, for logs and pages."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 200 answer: its headers (for caching) and its body, at most ``max_bytes``."""

    headers: httpx.Headers
    body: bytes


def is_public(address: IPAddress) -> bool:
    """True when ``address`` is none of the special-use kinds above (an IPv4-mapped IPv6
    address is judged as the IPv4 address it maps)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    special = (address.is_private or address.is_loopback or address.is_link_local
               or address.is_multicast or address.is_reserved or address.is_unspecified)
    return address.is_global and not special and not any(
        address in network for network in SPECIAL_USE if network.version == address.version)


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (``getaddrinfo``), TCP only."""
    answers = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


class SafeFetcher:
    """Fetches one JSON document under the rules of the module docstring."""

    def __init__(self, *, max_bytes: int, timeout: float, resolver: Resolver | None = None,
                 allowed_networks: Iterable[Network] = (),
                 verify: ssl.SSLContext | None = None) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.resolver = resolver or system_resolver
        self.allowed = tuple(allowed_networks)
        #: One TLS context for every fetch (loading the trust store per fetch costs ms).
        self.verify = verify if verify is not None else httpx.create_ssl_context()

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return is_public(address) or any(
            address in network for network in self.allowed if network.version == address.version)

    async def get_json(self, url: str) -> Fetched:
        """The document at ``url``, or :class:`FetchRefused`."""
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 443
        if parts.scheme != "https" or not host:
            raise FetchRefused("only https URLs are fetched")
        try:
            with anyio.fail_after(self.timeout):
                addresses = await self.vetted(host, port)
                return await self._first_answer(url, host, addresses)
        except TimeoutError:
            raise FetchRefused(f"no whole answer within {self.timeout:g} s") from None

    async def vetted(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to, each public (or allowed); else FetchRefused."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            try:
                found = [ipaddress.ip_address(a.split("%", 1)[0])
                         for a in await self.resolver(host, port)]
            except (OSError, UnicodeError, ValueError):
                raise FetchRefused("the host name does not resolve") from None
        if not found:
            raise FetchRefused("the host name does not resolve")
        if not all(self.allows(address) for address in found):
            raise FetchRefused("the host is, or resolves to, a special-use (non-public) address")
        return found

    async def _first_answer(self, url: str, host: str, addresses: list[IPAddress]) -> Fetched:
        """Try the vetted addresses in order until one connects."""
        for position, address in enumerate(addresses, 1):
            try:
                return await self._get(url, host, address)
            except httpx.ConnectError as exc:
                if _tls_failed(exc):
                    raise FetchRefused("the host's TLS certificate could not be verified") \
                        from None
                if position < len(addresses):
                    continue
                raise FetchRefused("no address of the host accepts a connection") from None
            except httpx.HTTPError as exc:
                raise FetchRefused(f"the request failed ({type(exc).__name__})") from None
        raise FetchRefused("the host name does not resolve")  # unreachable: vetted is not empty

    async def _get(self, url: str, host: str, address: IPAddress) -> Fetched:
        target = httpx.URL(url)
        pinned = target.copy_with(host=str(address))
        headers = {"Host": target.netloc.decode("ascii"), "Accept": "application/json",
                   "Accept-Encoding": "identity"}
        async with httpx.AsyncClient(
                verify=self.verify, trust_env=False, follow_redirects=False,
                timeout=self.timeout, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            request = http.build_request("GET", pinned, headers=headers,
                                         extensions={"sni_hostname": host})
            response = await http.send(request, stream=True)
            try:
                _check_head(response, self.max_bytes)
                return Fetched(response.headers, await _read(response, self.max_bytes))
            finally:
                await response.aclose()


def _tls_failed(exc: BaseException) -> bool:
    """Whether an SSL error is behind ``exc`` (httpx reports a failed handshake as a
    connection error)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_head(response: httpx.Response, max_bytes: int) -> None:
    if 300 <= response.status_code < 400:
        raise FetchRefused("the document URL redirects (redirects are not followed)")
    if response.status_code != 200:
        raise FetchRefused(f"the document URL answered HTTP {response.status_code}, not 200")
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not (media.startswith("application/")
                                         and media.endswith("+json")):
        raise FetchRefused("the document is not served as JSON (application/json)")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchRefused(f"the document is larger than {max_bytes} bytes")


async def _read(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, counted while it streams: refused as soon as it passes ``max_bytes``."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise FetchRefused(f"the document is larger than {max_bytes} bytes")
    return bytes(body)


def freshness(headers: httpx.Headers, now: float) -> float | None:
    """Seconds the answer stays fresh (RFC 9111 §4.2.1: ``max-age``, else ``Expires``, less
    its ``Age``); 0 for ``no-store``/``no-cache`` or a garbled value; None when it says
    nothing (the caller's default applies)."""
    control = headers.get("cache-control", "")
    if re.search(r"no-store|no-cache", control, re.IGNORECASE):
        return 0.0
    age = headers.get("age", "0").strip() or "0"
    spent = float(age) if age.isascii() and age.isdigit() and len(age) <= 10 else None
    if (found := _MAX_AGE.search(control)) is not None:
        return 0.0 if spent is None else max(0.0, float(found.group(1)) - spent)
    if re.search(r"max-age", control, re.IGNORECASE):
        return 0.0  # an invalid max-age means stale (RFC 9111 §4.2.1)
    expires = headers.get("expires")
    if expires is None:
        return None
    try:
        return max(0.0, email.utils.parsedate_to_datetime(expires).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0
