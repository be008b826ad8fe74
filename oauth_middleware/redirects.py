"""Redirect URIs: registration rules, exact matching and parameter encoding (RFC 6749 §3.1.2).

Matching is an exact string comparison (RFC 9700 §4.1.3). The one leeway is the
port of a loopback IP literal for native apps (RFC 8252 §7.3). A registered URI
that has a query keeps it: our parameters are appended with ``&``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, quote, urlsplit

MAX_REDIRECT_URI_LENGTH = 2000
_LOOPBACK_NAMES = {"localhost"}


class InvalidRedirectURI(ValueError):
    """A redirect URI cannot be registered; the message says what to change."""


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts


def validate_redirect_uri(uri: str, *, allow_http: bool = False) -> str:
    """Return ``uri`` if it may be registered, else raise :class:`InvalidRedirectURI`.

    Allowed: ``https`` URIs; ``http`` on a loopback host (RFC 8252 §7.3) or when
    ``allow_http`` is set for development; private-use schemes with a dot
    (``com.example.app:/cb``, RFC 8252 §7.1). Refused: fragments (RFC 6749
    §3.1.2), relative URIs, wildcards, whitespace and control characters.
    """
    if not uri or len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise InvalidRedirectURI("a redirect URI must be 1 to 2000 characters long")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in uri) or not uri.isascii():
        raise InvalidRedirectURI("a redirect URI must be ASCII, without spaces or controls")
    if "#" in uri:
        raise InvalidRedirectURI("a redirect URI must not contain a fragment (RFC 6749 §3.1.2)")
    if "*" in uri:
        raise InvalidRedirectURI("wildcards are not allowed: register each redirect URI exactly")
    parts = _split(uri)
    if parts is None or not parts.scheme:
        raise InvalidRedirectURI("a redirect URI must be absolute, e.g. https://app.example/cb")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidRedirectURI("a redirect URI must name a host")
        loopback = _is_loopback_ip(parts.hostname) or parts.hostname in _LOOPBACK_NAMES
        if scheme == "http" and not (loopback or allow_http):
            raise InvalidRedirectURI(
                "plain http is only allowed for loopback addresses: use https "
                "(or allow_http=True for local development)"
            )
        return uri
    if "." in scheme:
        return uri
    raise InvalidRedirectURI(
        "use an https URI, a loopback http URI, or a private-use scheme such as com.example.app:/cb"
    )


def _without_port(parts: SplitResult) -> tuple[str, str, str, str, str]:
    host = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    return (parts.scheme, host, parts.path, parts.query, parts.fragment)


def matches(registered: str, requested: str) -> bool:
    """Exact match, or the same loopback IP literal URI with any port (RFC 8252 §7.3)."""
    if registered == requested:
        return True
    reg, req = _split(registered), _split(requested)
    if reg is None or req is None or reg.scheme != "http" or req.scheme != "http":
        return False
    if not reg.hostname or not _is_loopback_ip(reg.hostname):
        return False
    return _without_port(reg) == _without_port(req)


def find_registered(registered: Iterable[str], requested: str) -> str | None:
    """The requested URI when it matches a registered one (the request's own port kept)."""
    return requested if any(matches(uri, requested) for uri in registered) else None


def encode_params(params: Mapping[str, str]) -> str:
    """``application/x-www-form-urlencoded`` with every reserved byte escaped."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())


def add_params(uri: str, params: Mapping[str, str], *, fragment: bool = False) -> str:
    """Append ``params`` to the query (code flow) or as the fragment (implicit flow)."""
    encoded = encode_params(params)
    if fragment:
        return f"{uri}#{encoded}"
    separator = "&" if "?" in uri else "?"
    if uri.endswith(("?", "&")):
        separator = ""
    return f"{uri}{separator}{encoded}"
