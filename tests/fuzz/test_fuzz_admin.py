"""Fuzzing the web admin: any of its routes, any method, query, form and headers.

Signed in as the admin, usually with a valid CSRF token, so that forms reach
their handlers with fields that are missing, repeated, oversized or badly
encoded, on clients that exist and ones that do not. The property is the one
every boundary has (SECURITY.md "Responses everywhere"): never a 5xx and never
a traceback, and every page carries the consent page's security headers.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from oauth_middleware.admin.app import ROUTES
from oauth_middleware.admin.csrf import CsrfTokens
from tests.admin.harness import KEY, build_host
from tests.fuzz.env import FuzzEnv
from tests.fuzz.env import assert_no_server_error as no_500
from tests.fuzz.strategies import headers, pairs
from tests.page_headers import assert_page_headers
from tests.raw_asgi import call

#: Every field an admin form reads.
FIELDS = ("allow_http", "allow_plain_pkce", "client_id", "code_challenge", "confirm",
          "description", "enabled", "fingerprint", "grant_id", "grant_type", "grant_types",
          "identifier", "lifetime", "link", "redirect_uri", "redirect_uris", "scope", "scopes",
          "title", "token_lifetime", "type", "uri", "user", "q", "cursor")
#: Client ids in paths: registered, unknown, and ones no client id can be.
CLIENT_IDS = ("web", "spa", "unknown", "%C2%B2", "%ff", "a" * 300, "..", "%2F")
VALUES = {
    "grant_types": ("authorization_code", "client_credentials", "implicit", "bogus"),
    "grant_type": ("authorization_code", "implicit", "x"),
    "scopes": ("polls:read", "polls:read polls:vote", "nope:x"),
    "lifetime": ("60", "0", "²", "99999999999999999999", "never"),
    "token_lifetime": ("3600", "never", "-1", "1e9"),
    "redirect_uris": ("https://a.example/cb", "javascript:alert(1)", "http://x.example/"),
    "user": ("alice", "bob", ""), "cursor": ("0", "5", "²", "-1", "9" * 30),
    "type": ("public", "confidential", "x"), "enabled": ("1", "0", "yes"),
}


@pytest.fixture(scope="module")
def admin_host(fuzz: FuzzEnv) -> Starlette:
    return build_host(fuzz.store)


def _paths() -> st.SearchStrategy[tuple[str, str]]:
    """A route of the admin (its method, its path with a client id filled in)."""
    return st.tuples(st.sampled_from(ROUTES), st.sampled_from(CLIENT_IDS)).map(
        lambda pair: (pair[0][0], "/admin" + pair[0][1].replace("{client_id}", pair[1])))


@pytest.mark.rule("responses.html.headers", "abuse.malformed-400")
@given(data=st.data())
def test_the_admin_never_fails_with_5xx_and_every_page_has_its_headers(
    fuzz: FuzzEnv, admin_host: Starlette, data: st.DataObject
) -> None:
    method, path = data.draw(_paths())
    method = data.draw(st.sampled_from((method, method, method, "GET", "POST", "PUT")))
    form = data.draw(pairs(FIELDS, VALUES))
    if data.draw(st.integers(0, 4)):
        token = quote(CsrfTokens(KEY).issue("alice")).encode()
        form = b"csrf_token=" + token + (b"&" + form if form else b"")
    query = data.draw(st.one_of(st.just(b""), pairs(("q", "cursor", "user", "client"), VALUES)))
    hdrs = data.draw(headers())
    user = data.draw(st.sampled_from((b"alice", b"alice", b"alice", b"bob", None)))
    if user is not None:
        hdrs = [*hdrs, (b"x-test-user", user)]
    body = form if method == "POST" else b""
    response = fuzz.run(call(admin_host, method, path, query=query, headers=hdrs, body=body))
    no_500(response)
    if response.header("content-type") == "text/html; charset=utf-8":
        assert_page_headers(response, admin=True)
