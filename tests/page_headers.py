"""The headers every HTML page must carry (SECURITY.md "Responses everywhere"), spelled out.

The values are written here literally and never imported from the package: a
test comparing a page against the production constant accepts any change to
that constant (dropping ``nosniff`` or loosening the policy to
``frame-ancestors *`` passed the whole suite that way). Every page test checks
its pages with :func:`assert_page_headers`.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from tests.raw_asgi import RawResponse

#: Each header name (lower case) and the one value a page may send.
PAGE_HEADERS: dict[str, str] = {
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "cache-control": "no-store",
    "pragma": "no-cache",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}
#: The admin runs no script at all: its policy is stricter, and still forbids framing.
ADMIN_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
             "base-uri 'none'; frame-ancestors 'none'")

Answer = httpx.Response | RawResponse | Mapping[str, str]


def page_headers(response: Answer) -> dict[str, str | None]:
    """The values ``response`` sent for :data:`PAGE_HEADERS`' names (None when absent).

    A header sent twice shows as both values (httpx joins them; RawResponse refuses).
    """
    if isinstance(response, RawResponse):
        return {name: response.header(name) for name in PAGE_HEADERS}
    headers = response.headers if isinstance(response, httpx.Response) else response
    return {name: headers.get(name) for name in PAGE_HEADERS}


def assert_page_headers(response: Answer, *, admin: bool = False) -> None:
    """Exactly the page headers, the admin's stricter policy when ``admin``."""
    expected = dict(PAGE_HEADERS)
    if admin:
        expected["content-security-policy"] = ADMIN_CSP
    assert page_headers(response) == expected
