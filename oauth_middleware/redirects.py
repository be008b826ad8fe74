"""Redirect URIs: registration rules, exact matching and parameter encoding (RFC 6749 §3.1.2).

Matching is an exact string comparison (RFC 9700 §4.1.3). The one leeway is the
port of a loopback IP literal for native apps (RFC 8252 §7.3). A registered URI
that has a query keeps it: our parameters are appended with ``&``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, quote, urlsplit

MAX_REDIRECT_URI_LENGTH = 2000
_LOOPBACK_NAMES = {"localhost"}
#: Printable ASCII that RFC 3986 never allows raw in a URI (§2, Appendix A): it must be
#: percent-encoded. Raw, a browser or a template may treat it as markup or a delimiter.
NEVER_RAW = frozenset('"<>\\^`{|}')
#: A ``%`` that does not start a percent-escape (RFC 3986 §2.1).
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


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


def _check_characters(uri: str) -> None:
    """Only characters a URI may hold raw: what people typed is checked where it is stored."""
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in uri) or not uri.isascii():
        raise InvalidRedirectURI("a redirect URI must be ASCII, without spaces or controls")
    found = sorted(NEVER_RAW.intersection(uri))
    if found:
        raise InvalidRedirectURI(
            f"a redirect URI must not contain {' '.join(found)} raw: percent-encode it "
            "(RFC 3986 §2)")
    if _BAD_PERCENT.search(uri):
        raise InvalidRedirectURI("a % in a redirect URI must start an escape such as %20 "
                                 "(RFC 3986 §2.1)")


def validate_redirect_uri(uri: str, *, allow_http: bool = False) -> str:
    """Return ``uri`` if it may be registered, else raise :class:`InvalidRedirectURI`.

    Allowed: ``https`` URIs; ``http`` on a loopback host (RFC 8252 §7.3) or when
    ``allow_http`` is set for development; private-use schemes with a dot
    (``com.example.app:/cb``, RFC 8252 §7.1). Refused: fragments (RFC 6749
    §3.1.2), relative URIs, wildcards, whitespace and control characters, and the
    characters RFC 3986 never allows raw (``" < > \\ ^ ` { | }``, a stray ``%``).
    """
    if not uri or len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise InvalidRedirectURI("a redirect URI must be 1 to 2000 characters long")
    _check_characters(uri)
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


def _loopback_without_port(uri: str) -> tuple[str, str] | None:
    """``(uri without its port, port)`` when ``uri`` is http on a loopback IP literal.

    Read from the raw string, never through ``urlsplit``: it strips leading
    spaces, lower-cases the scheme and drops an empty ``?`` or ``#``, so comparing
    its parts would call different strings equal. ``port`` is ``""`` or ``:digits``.
    """
    scheme, sep, after = uri.partition("://")
    if not sep or scheme.lower() != "http":
        return None
    end = next((i for i, ch in enumerate(after) if ch in "/?#"), len(after))
    authority, rest = after[:end], after[end:]
    if authority.startswith("["):
        host, bracket, port = authority[1:].partition("]")
        if not bracket:
            return None
        host_text = f"[{host}]"
    else:
        host, colon, digits = authority.partition(":")
        host_text, port = host, colon + digits
    if port and not (port[0] == ":" and port[1:].isascii() and port[1:].isdigit()
                     and len(port) <= 6 and int(port[1:]) <= 65535):
        return None
    if not _is_loopback_ip(host):
        return None
    return f"{scheme}://{host_text}{rest}", port


def matches(registered: str, requested: str) -> bool:
    """The same string, or the same loopback IP literal URI with any port (RFC 8252 §7.3):
    the raw strings compared with only the port taken out, nothing normalised."""
    if registered == requested:
        return True
    reg, req = _loopback_without_port(registered), _loopback_without_port(requested)
    return reg is not None and req is not None and reg[0] == req[0]


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
