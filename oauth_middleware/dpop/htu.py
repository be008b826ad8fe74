"""The ``htu`` comparison (RFC 9449 §4.3 check 9): URLs normalised as RFC 3986 §6.2.2-6.2.3.

Scheme and host are compared case-insensitively, a default port is the same as none,
an empty path is ``/``, and the query and fragment are left out (§4.2: "without
query and fragment parts"). Nothing else is rewritten: percent-encodings and dot
segments are compared as sent, so two spellings the server would route apart
never match.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def normalised(url: str) -> str:
    """``url`` in the form compared; ValueError for one that is no absolute HTTP(S) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise ValueError("not an absolute http(s) URL")
    port = parts.port  # ValueError for a port out of range
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a configured public URL, checked (ValueError)."""
    scheme, _, rest = normalised(url).partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
