"""Fuzzing ``token/``, ``revoke/`` and ``introspect/`` (RFC 6749 §3.2, §5; RFC 7009; RFC 7662).

Any method, body, content type, query string and Authorization header(s):
never a 5xx; every answer JSON with ``Cache-Control: no-store`` and ``Pragma:
no-cache`` (a HEAD answer too, whose body the server drops: a 405 with those
headers); every error exactly ``{"error", "error_description"}`` with safe
text; and every token a 200 hands out is stored.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauth_middleware.server.boundary import OAUTH_PARAMS
from tests.fuzz.env import FuzzEnv
from tests.fuzz.env import assert_no_server_error as no_500
from tests.fuzz.env import assert_token_family_json as family_json
from tests.fuzz.strategies import headers, mutated, pairs
from tests.raw_asgi import call
from tests.reliability.stack import PASSWORD, REDIRECT, VERIFIER

PATHS = ("/oauth/token/", "/oauth/revoke/", "/oauth/introspect/", "/oauth/token",
         "/oauth/device_authorization/")
NAMES = tuple(sorted(OAUTH_PARAMS))


def _values(fuzz: FuzzEnv) -> dict[str, tuple[str, ...]]:
    return {
        "grant_type": ("authorization_code", "refresh_token", "client_credentials", "password",
                       "implicit", "urn:x", "REFRESH_TOKEN",
                       "urn:ietf:params:oauth:grant-type:device_code"),
        "device_code": ("x" * 43, "a.b"),
        "refresh_token": (fuzz.refresh_token, fuzz.access_token, "a.b"),
        "token": (fuzz.access_token, fuzz.refresh_token, "a.b"),
        "token_type_hint": ("access_token", "refresh_token", "x"),
        "client_id": ("web", "spa", "native", "unknown"),
        "client_secret": (fuzz.clients.web_secret, "wrong"),
        "redirect_uri": (REDIRECT,), "code_verifier": (VERIFIER,),
        "username": ("alice", "bob"), "password": (PASSWORD, "wrong"),
        "scope": ("polls:read", "polls:read polls:vote", "admin"),
    }


@pytest.mark.rule("responses.token-family.json-no-store", "responses.token-family.error-shape",
                  "responses.token-family.never-html", "abuse.malformed-400",
                  "redis.no-unstored-token")
@given(data=st.data())
def test_the_token_family_answers_only_json_no_store_and_never_5xx(
    fuzz: FuzzEnv, data: st.DataObject
) -> None:
    vals = _values(fuzz)
    valid = {"grant_type": data.draw(st.sampled_from(vals["grant_type"][:4])),
             "refresh_token": fuzz.refresh_token, "username": "alice", "password": PASSWORD,
             "token": fuzz.access_token, "scope": "polls:read"}
    body = data.draw(st.one_of(mutated(valid, NAMES, vals), pairs(NAMES, vals)))
    query = data.draw(st.one_of(st.just(b""), st.just(b""), pairs(NAMES, vals)))
    hdrs = data.draw(headers(valid_auth=[fuzz.basic, b"Basic d2ViOg==", fuzz.bearer]))
    method = data.draw(st.sampled_from(("POST", "POST", "POST", "GET", "PUT", "HEAD")))
    path = data.draw(st.sampled_from(PATHS))
    response = fuzz.run(call(fuzz.stack, method, path, query=query, headers=hdrs, body=body))
    no_500(response)
    if method == "HEAD":  # the server drops the body; the headers must hold alone
        assert response.status == 405 and response.header("allow") == "POST"
        assert response.header("content-type") == "application/json"
        assert response.header("cache-control") == "no-store"
        assert response.header("pragma") == "no-cache"
        return
    body_out = family_json(response)
    if response.status == 200 and path.startswith("/oauth/token"):
        assert body_out["token_type"] == "Bearer"
        assert fuzz.run(fuzz.store.resolve(body_out["access_token"])) is not None
    if response.status == 200 and path == "/oauth/revoke/":
        assert body_out == {}
    if response.status == 200 and path == "/oauth/introspect/":
        assert isinstance(body_out["active"], bool)


@pytest.mark.rule("abuse.malformed-400")
@given(data=st.data())
def test_metadata_answers_only_json_and_never_5xx(fuzz: FuzzEnv, data: st.DataObject) -> None:
    query = data.draw(pairs(("issuer", "x")))
    hdrs = data.draw(headers())
    method = data.draw(st.sampled_from(("GET", "POST", "DELETE")))
    response = fuzz.run(call(fuzz.stack, method, "/oauth/.well-known/oauth-authorization-server",
                             query=query, headers=hdrs))
    no_500(response)
    family_json(response)
