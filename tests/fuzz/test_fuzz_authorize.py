"""Fuzzing ``auth/`` (RFC 6749 §3.1, §4.1.2.1; SECURITY.md "Authorization endpoint").

Whatever arrives — any parameter, repeated, empty, malformed, oversized, NUL,
non-UTF-8, any method, user or no user, any Origin — the answer is never a 5xx,
a redirect only ever goes to a URI registered for the client (or to the login
page), and every page carries the HTML security headers.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.env import NATIVE_REDIRECT, QUERY_REDIRECT, FuzzEnv
from tests.fuzz.env import assert_html_page as html
from tests.fuzz.env import assert_location_is_registered_or_login as registered_only
from tests.fuzz.env import assert_no_server_error as no_500
from tests.fuzz.strategies import headers, mutated, pairs
from tests.raw_asgi import call
from tests.reliability.stack import REDIRECT, USER_HEADER
from tests.server.authorize_harness import CHALLENGE, read_page

PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
          "code_challenge_method")
VALUES = {
    "client_id": ("web", "spa", "native", "withquery", "unknown", "-x"),
    "redirect_uri": (REDIRECT, QUERY_REDIRECT, NATIVE_REDIRECT, "http://127.0.0.1:9/cb",
                     "http://localhost/cb", "https://evil.example/cb", REDIRECT + "/",
                     REDIRECT.upper(), REDIRECT + "#x", REDIRECT + "?a=1", "javascript:alert(1)"),
    "response_type": ("code", "token", "id_token", "code token", "CODE"),
    "scope": ("polls:read", "polls:read polls:vote", "admin", "polls:read  polls:read"),
    "state": ("s", "ü&#=", "a b", "%41"),
    "code_challenge": (CHALLENGE, "short", CHALLENGE + "!"),
    "code_challenge_method": ("S256", "plain", "s256"),
}
VALID = {"client_id": "spa", "redirect_uri": REDIRECT, "response_type": "code",
         "scope": "polls:read", "state": "st", "code_challenge": CHALLENGE,
         "code_challenge_method": "S256"}
USERS = {USER_HEADER.encode(): (b"alice", b"", b"\xff\xfe", b"bob\x00")}
#: Mostly a valid request with a few things wrong, so the fuzz reaches the consent page.
QUERIES = st.one_of(mutated(VALID, PARAMS, VALUES), mutated(VALID, PARAMS, VALUES),
                    pairs(PARAMS, VALUES))


@pytest.mark.rule("auth.client-first", "auth.redirect.exact-match", "responses.html.headers",
                  "responses.redirect.303", "abuse.malformed-400")
@given(query=QUERIES, hdrs=headers(extra=USERS), signed_in=st.booleans(),
       method=st.sampled_from(("GET", "GET", "GET", "HEAD", "POST", "PUT")))
def test_auth_never_fails_with_5xx_and_redirects_only_to_registered_uris(
    fuzz: FuzzEnv, query: bytes, hdrs: list[tuple[bytes, bytes]], signed_in: bool, method: str
) -> None:
    hdrs = [(USER_HEADER.encode(), b"alice"), *hdrs] if signed_in else hdrs
    response = fuzz.run(call(fuzz.stack, method, "/oauth/auth/", query=query, headers=hdrs))
    no_500(response)
    registered_only(response)
    if response.status != 303 and response.status != 405:
        html(response)


FIELDS = ("transaction", "csrf_token", "scope", "decision")
ORIGINS = {b"origin": (b"https://testserver", b"null", b"https://evil.example", b"\xff"),
           b"sec-fetch-site": (b"same-origin", b"cross-site", b"none", b"same-site")}


@pytest.mark.rule("auth.redirect.exact-match", "responses.html.headers",
                  "responses.redirect.303", "abuse.malformed-400")
@given(data=st.data())
def test_the_consent_decision_never_fails_with_5xx_and_redirects_only_to_registered_uris(
    fuzz: FuzzEnv, data: st.DataObject
) -> None:
    page = fuzz.run(call(fuzz.stack, "GET", "/oauth/auth/", headers=[(b"x-test-user", b"alice")],
                         query=b"client_id=web&response_type=code&scope=polls%3Aread"))
    assert page.status == 200
    form = read_page(page.body.decode())
    valid = {i["name"]: i["value"] for i in form.inputs if i.get("type") == "hidden"}
    valid.update(scope="polls:read", decision=data.draw(st.sampled_from(("approve", "deny"))))
    body = data.draw(st.one_of(mutated(valid, FIELDS, {"decision": ("approve", "deny")}),
                               pairs(FIELDS)))
    hdrs = data.draw(headers(extra={**USERS, **ORIGINS}))
    response = fuzz.run(call(fuzz.stack, "POST", "/oauth/auth/", body=body, headers=hdrs))
    no_500(response)
    registered_only(response)
    if response.status != 303:
        html(response)
