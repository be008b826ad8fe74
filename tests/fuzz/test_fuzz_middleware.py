"""Fuzzing the middleware (RFC 6750 §2, §3; SECURITY.md "Resource protection").

Any Authorization header (none, two, malformed, huge, non-ASCII), query
string, body and content type, on protected and open routes: never a 5xx; a
Bearer challenge is always one of the fixed shapes (request data is never
echoed into it); a refusal never reaches the app; a success by query token is
exactly ``Cache-Control: private`` (the app here sets none of its own). The
random traffic rarely carries a lone valid query token, so a second property
sends one among random other parameters on every protected route.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.env import FuzzEnv
from tests.fuzz.env import assert_bearer_challenge as fixed_challenge
from tests.fuzz.env import assert_no_server_error as no_500
from tests.fuzz.strategies import NASTY, component, headers, pairs
from tests.raw_asgi import call

PATHS = ("/polls/1/results", "/polls/1/stats", "/polls/1/vote", "/me", "/public", "/nowhere",
         "/polls/%ff/results", "/polls/\x00/vote")
PROTECTED = {"/polls/1/results", "/polls/1/stats", "/polls/1/vote", "/me"}
#: Each protected route with a method it serves; HEAD goes through the GET route.
SERVED = (("GET", "/polls/1/results"), ("HEAD", "/polls/1/stats"), ("GET", "/me"),
          ("POST", "/polls/1/vote"))


@pytest.mark.rule("resource.no-echo", "resource.app-not-called", "abuse.malformed-400")
@given(data=st.data())
def test_the_middleware_never_fails_with_5xx_nor_echoes_input_nor_calls_the_app_on_refusal(
    fuzz: FuzzEnv, data: st.DataObject
) -> None:
    token = fuzz.access_token
    vals = {"access_token": (token, token + "x", "a.b", "")}
    path = data.draw(st.sampled_from(PATHS))
    method = data.draw(st.sampled_from(("GET", "POST", "HEAD", "PUT")))
    query = data.draw(st.one_of(st.just(b""), pairs(("access_token", "x"), vals)))
    body = data.draw(st.one_of(st.just(b""), pairs(("access_token", "choice"), vals)))
    hdrs = data.draw(headers(valid_auth=[fuzz.bearer, b"bearer " + token.encode()]))
    calls = len(fuzz.api.state.calls)
    response = fuzz.run(call(fuzz.api, method, path, query=query, headers=hdrs, body=body))
    no_500(response)
    fixed_challenge(response)
    reached = len(fuzz.api.state.calls) > calls
    if response.header("www-authenticate") is not None or response.status in (400, 413):
        assert not reached, (response.status, path)
    if reached and path in PROTECTED and b"access_token=" + token.encode() in query:
        assert response.header("cache-control") == "private"


@pytest.mark.rule("resource.query", "resource.query-private")
@given(data=st.data())
def test_every_success_by_query_token_is_exactly_cache_control_private(
    fuzz: FuzzEnv, data: st.DataObject
) -> None:
    method, path = data.draw(st.sampled_from(SERVED))
    other = st.tuples(st.sampled_from((b"x", b"choice", b"page")),
                      component(st.one_of(st.sampled_from(NASTY), st.text(max_size=40))))
    before, after = data.draw(st.lists(other, max_size=3)), data.draw(st.lists(other, max_size=3))
    token = (b"access_token", fuzz.access_token.encode())
    query = b"&".join(name + b"=" + value for name, value in [*before, token, *after])
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    hdrs = data.draw(st.sampled_from(([], form))) if method == "POST" else []
    calls = len(fuzz.api.state.calls)
    response = fuzz.run(call(fuzz.api, method, path, query=query, headers=hdrs,
                             body=b"choice=1" if hdrs else b""))
    assert response.status == 200, (response.status, response.header("www-authenticate"))
    assert len(fuzz.api.state.calls) == calls + 1
    assert response.header("cache-control") == "private"
