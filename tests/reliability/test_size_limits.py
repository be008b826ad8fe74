"""Every size is capped, everywhere, with the status SECURITY.md gives ("Transport and abuse",
"Token endpoint": 413 / ``invalid_request``, never a 500).

For each boundary — the token family, ``auth/`` (request and decision) and the
middleware — a body, a query string, the number of fields and one parameter just
over the cap are refused, and the same just at the cap is not refused for its
size. The one header either side decodes, ``Authorization``, is tested just at
and just over its cap at the token family (the whole header) and in the
middleware (the bearer token); ``auth/`` decodes no header of unbounded
vocabulary. The total size of the request head is the ASGI server's (or a
proxy's) to bound, and uvicorn's bound is loose: with h11 a head that arrives in
one socket read is accepted whole, so a 100 KB header passes, and httptools has
no limit. Requests go in through raw ASGI, so nothing between the test and the
app (a client library, a server) trims or refuses them first.
"""

from __future__ import annotations

import base64
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.extraction import MAX_TOKEN_LENGTH
from oauth_middleware.middleware import MAX_QUERY_SIZE
from oauth_middleware.server import authorization_request as areq
from oauth_middleware.server import consent, form
from oauth_middleware.server.client_auth import MAX_AUTHORIZATION_BYTES
from oauth_middleware.store import NewTokens
from tests.raw_asgi import RawResponse, call
from tests.reliability.stack import REDIRECT, USER_HEADER, Clients, build, seed
from tests.server.authorize_harness import read_page

FORM = (b"content-type", b"application/x-www-form-urlencoded")
FAMILY = ("/oauth/token/", "/oauth/revoke/", "/oauth/introspect/")
USER = (USER_HEADER.encode(), b"alice")


def _basic(clients: Clients) -> tuple[bytes, bytes]:
    return (b"authorization", b"Basic " + base64.b64encode(f"web:{clients.web_secret}".encode()))


def _json_error(response: RawResponse, status: int) -> str:
    assert response.status == status, response.body[:200]
    assert response.header("content-type") == "application/json"
    assert response.header("cache-control") == "no-store"
    body = json.loads(response.body)
    assert body["error"] == "invalid_request"
    return str(body["error_description"])


def _padded(size: int, prefix: bytes = b"grant_type=client_credentials&pad=") -> bytes:
    return prefix + b"a" * (size - len(prefix))


@pytest.fixture
async def stack(store: TokenStore) -> tuple[Starlette, Clients]:
    return build(store), await seed(store)


@pytest.mark.rule("abuse.caps", "token.body-caps")
@pytest.mark.parametrize("path", FAMILY)
async def test_a_token_family_body_over_the_cap_is_413_json_declared_or_streamed(
    stack: tuple[Starlette, Clients], path: str
) -> None:
    app, clients = stack
    over = _padded(form.MAX_BYTES + 1)
    declared = [FORM, _basic(clients), (b"content-length", str(len(over)).encode())]
    _json_error(await call(app, "POST", path, headers=declared, body=over), 413)
    chunks = [over[i:i + 1000] for i in range(0, len(over), 1000)]
    _json_error(await call(app, "POST", path, headers=[FORM, _basic(clients)], chunks=chunks),
                413)
    at_cap = await call(app, "POST", path, headers=[FORM, _basic(clients)],
                        body=_padded(form.MAX_BYTES))
    assert at_cap.status != 413


@pytest.mark.rule("abuse.caps", "token.body-caps")
async def test_token_field_count_and_value_length_are_capped_as_invalid_request(
    stack: tuple[Starlette, Clients]
) -> None:
    app, clients = stack
    headers = [FORM, _basic(clients)]
    fields = b"&".join(b"f%d=x" % i for i in range(form.MAX_FIELDS + 1))
    too_many = await call(app, "POST", "/oauth/token/", headers=headers, body=fields)
    assert "too many" in _json_error(too_many, 400)
    longest = b"grant_type=client_credentials&pad=" + b"a" * form.MAX_VALUE_LENGTH
    assert (await call(app, "POST", "/oauth/token/", headers=headers, body=longest)).status == 200
    too_long = await call(app, "POST", "/oauth/token/", headers=headers, body=longest + b"a")
    assert "too long" in _json_error(too_long, 400)


@pytest.mark.rule("abuse.caps")
@pytest.mark.parametrize("path", FAMILY)
async def test_a_token_family_query_over_the_cap_is_413_json(
    stack: tuple[Starlette, Clients], path: str
) -> None:
    app, clients = stack
    query = b"x=" + b"q" * form.MAX_BYTES
    response = await call(app, "POST", path, query=query, headers=[FORM, _basic(clients)],
                          body=b"grant_type=client_credentials&token=x")
    _json_error(response, 413)


@pytest.mark.rule("abuse.caps", "token.client-auth.failure")
@pytest.mark.parametrize("path", FAMILY)
async def test_a_huge_authorization_header_at_the_token_family_is_401_never_500(
    stack: tuple[Starlette, Clients], path: str
) -> None:
    app, _ = stack
    for value in (b"Basic " + b"A" * 70_000, b"Basic " + base64.b64encode(b"web:" + b"s" * 70_000)):
        response = await call(app, "POST", path, headers=[FORM, (b"authorization", value)],
                              body=b"grant_type=client_credentials&token=x")
        assert response.status == 401
        assert response.header("www-authenticate") == 'Basic realm="oauth"'


@pytest.mark.rule("abuse.caps", "token.client-auth.failure")
@pytest.mark.parametrize("path", FAMILY)
async def test_a_token_family_authorization_header_at_the_cap_works_and_over_it_is_401(
    stack: tuple[Starlette, Clients], path: str
) -> None:
    """Valid credentials padded with the spaces RFC 7235 allows after the scheme: at
    the cap they authenticate, one byte over they are refused before being decoded."""
    app, clients = stack
    encoded = base64.b64encode(f"web:{clients.web_secret}".encode())

    async def ask(size: int) -> RawResponse:
        value = b"Basic" + b" " * (size - len(b"Basic") - len(encoded)) + encoded
        assert len(value) == size
        return await call(app, "POST", path, headers=[FORM, (b"authorization", value)],
                          body=b"grant_type=client_credentials&token=x")

    at = await ask(MAX_AUTHORIZATION_BYTES)
    assert at.status == 200, at.body[:200]
    over = await ask(MAX_AUTHORIZATION_BYTES + 1)
    assert over.status == 401
    assert over.header("www-authenticate") == 'Basic realm="oauth"'
    assert over.header("cache-control") == "no-store"
    assert over.header("pragma") == "no-cache"
    assert json.loads(over.body)["error"] == "invalid_client"


@pytest.mark.rule("abuse.caps", "auth.client-first")
async def test_an_auth_query_over_the_cap_is_a_413_page_and_too_many_fields_a_400_page(
    stack: tuple[Starlette, Clients]
) -> None:
    app, _ = stack
    big = b"client_id=web&response_type=code&pad=" + b"a" * areq.MAX_QUERY_BYTES
    response = await call(app, "GET", "/oauth/auth/", query=big, headers=[USER])
    assert response.status == 413 and response.header("location") is None
    many = b"&".join(b"f%d=x" % i for i in range(areq.MAX_FIELDS + 1))
    response = await call(app, "GET", "/oauth/auth/", query=many, headers=[USER])
    assert response.status == 400 and response.header("location") is None


@pytest.mark.rule("abuse.caps")
@pytest.mark.parametrize("name", sorted(areq.MAX_LENGTHS))
async def test_each_auth_parameter_over_its_cap_is_refused_and_at_its_cap_is_not_for_size(
    stack: tuple[Starlette, Clients], name: str
) -> None:
    app, _ = stack
    limit = areq.MAX_LENGTHS[name]

    async def ask(length: int) -> RawResponse:
        params = {"client_id": "web", "redirect_uri": REDIRECT, "response_type": "code",
                  name: "a" * length}
        query = "&".join(f"{k}={v}" for k, v in params.items()).encode()
        return await call(app, "GET", "/oauth/auth/", query=query, headers=[USER])

    over, at = await ask(limit + 1), await ask(limit)
    assert over.status in (303, 400)
    if over.status == 303:  # after client and redirect URI passed: by redirect, no state
        location = str(over.header("location"))
        assert "error=invalid_request" in location and "too%20long" in location
        assert "state=" not in location
    else:
        assert over.header("location") is None
    assert "too long" not in read_page(at.body.decode()).text
    assert "too%20long" not in str(at.header("location"))


@pytest.mark.rule("abuse.caps")
async def test_a_consent_body_over_the_cap_is_a_413_page_and_too_many_fields_a_400_page(
    stack: tuple[Starlette, Clients]
) -> None:
    app, _ = stack
    headers = [FORM, USER, (b"sec-fetch-site", b"same-origin")]
    big = b"decision=approve&pad=" + b"a" * consent.MAX_FORM_BYTES
    response = await call(app, "POST", "/oauth/auth/", headers=headers, body=big)
    assert response.status == 413 and response.header("location") is None
    many = b"&".join(b"scope=%d" % i for i in range(consent.MAX_FORM_FIELDS + 1))
    response = await call(app, "POST", "/oauth/auth/", headers=headers, body=many)
    assert response.status == 400 and response.header("location") is None


#: Content-Length values no body can declare (RFC 9110 §8.6: 1*DIGIT), some of them
#: digits to ``str.isdigit``, and one past Python's integer-string limit.
MALFORMED_LENGTHS = [b"\xb2", "\u0663".encode(), b"1e3", b"-1", b" 12", b"0x10", b"9" * 5000]


@pytest.mark.rule("abuse.caps", "abuse.malformed-400")
@pytest.mark.parametrize("length", MALFORMED_LENGTHS)
async def test_a_malformed_content_length_is_a_400_everywhere_never_a_500(
    stack: tuple[Starlette, Clients], length: bytes
) -> None:
    app, clients = stack
    declared = (b"content-length", length)
    body = b"grant_type=client_credentials&token=x"
    for path in FAMILY:
        response = await call(app, "POST", path, headers=[FORM, _basic(clients), declared],
                              body=body)
        expected = 413 if length.isdigit() else 400  # all digits: just far too large
        _json_error(response, expected)
    decision = await call(app, "POST", "/oauth/auth/", body=b"decision=approve", headers=[
        FORM, USER, (b"sec-fetch-site", b"same-origin"), declared])
    assert decision.status == (413 if length.isdigit() else 400)
    assert decision.header("location") is None


#: The middleware's body cap in these tests (its default is 1 MiB).
BODY_CAP = 8192


async def _reached(request: Request) -> Response:
    request.app.state.calls.append(len(await request.body()))
    return PlainTextResponse("ok")


@pytest.fixture
async def guarded(store: TokenStore) -> tuple[Starlette, str]:
    app = Starlette(routes=[Route("/data", _reached, methods=["GET", "POST"])])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/data": []}, max_body_size=BODY_CAP)
    app.state.calls = []
    issued = await store.issue(NewTokens(client_id="web", subject="alice"))
    return app, issued.access_token


def _bearer_refusal(response: RawResponse, status: int) -> None:
    assert response.status == status, response.body
    assert 'error="invalid_request"' in str(response.header("www-authenticate"))


@pytest.mark.rule("abuse.caps", "resource.form-body")
async def test_the_middleware_caps_the_form_body_it_reads_for_a_token(
    guarded: tuple[Starlette, str]
) -> None:
    app, token = guarded
    body = f"access_token={token}&pad=".encode()
    ok = await call(app, "POST", "/data", headers=[FORM], body=body.ljust(BODY_CAP, b"a"))
    assert ok.status == 200 and app.state.calls == [BODY_CAP]
    _bearer_refusal(await call(app, "POST", "/data", headers=[FORM],
                               body=body.ljust(BODY_CAP + 1, b"a")), 413)
    assert app.state.calls == [BODY_CAP]


@pytest.mark.rule("abuse.caps", "resource.malformed-400")
async def test_the_middleware_caps_the_token_in_every_source_and_the_query_string(
    guarded: tuple[Starlette, str]
) -> None:
    app, token = guarded
    long_token = b"a" * (MAX_TOKEN_LENGTH + 1)
    for response in (
        await call(app, "GET", "/data", headers=[(b"authorization", b"Bearer " + long_token)]),
        await call(app, "GET", "/data", query=b"access_token=" + long_token),
        await call(app, "POST", "/data", headers=[FORM], body=b"access_token=" + long_token),
    ):
        _bearer_refusal(response, 400)
    query = f"access_token={token}&pad=".encode()
    ok = await call(app, "GET", "/data", query=query.ljust(MAX_QUERY_SIZE, b"a"))
    assert ok.status == 200
    _bearer_refusal(await call(app, "GET", "/data", query=query.ljust(MAX_QUERY_SIZE + 1, b"a")),
                    413)
    assert app.state.calls == [0]


@pytest.mark.rule("abuse.caps", "resource.malformed-400")
async def test_the_middleware_judges_a_bearer_token_at_the_cap_and_refuses_one_over_it(
    guarded: tuple[Starlette, str]
) -> None:
    """At the cap the token is looked up (unknown: 401 ``invalid_token``); one byte over,
    it is malformed (400) without a lookup. Other schemes are not bearer credentials."""
    app, _ = guarded

    async def ask(value: bytes) -> RawResponse:
        return await call(app, "GET", "/data", headers=[(b"authorization", value)])

    at = await ask(b"Bearer " + b"a" * MAX_TOKEN_LENGTH)
    assert at.status == 401
    assert 'error="invalid_token"' in str(at.header("www-authenticate"))
    _bearer_refusal(await ask(b"Bearer " + b"a" * (MAX_TOKEN_LENGTH + 1)), 400)
    other = await ask(b"Basic " + b"A" * 70_000)
    assert other.status == 401
    assert other.header("www-authenticate") == 'Bearer realm="api"'
    assert app.state.calls == []
