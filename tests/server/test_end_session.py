"""end_session/: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2, §3).

A hint of the signed-in user logs out at once; anything else asks on a CSRF-protected
page. The user goes back only to a post-logout URI registered for the client, with state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request

from oauth_middleware import TokenStore
from oauth_middleware.toolbox import update_client
from tests.logout_keys import (
    LogoutKeys,
    claims,
    hmac_with_public_key,
    id_token,
    unsigned,
)
from tests.server.authorize_harness import (
    SPA_REDIRECT,
    WEB_REDIRECT,
    Harness,
    Page,
    assert_page,
    open_harness,
    read_page,
)
from tests.server.authorize_harness import answer as authorization_answer
from tests.store_helpers import redis_of


def answer(response: httpx.Response) -> tuple[str, str, dict[str, str]]:
    """The logout redirect back to the client: no authorization response, so no ``iss``."""
    return authorization_answer(response, issuer=None)


BACK = "https://client.example/signed-out"
SPA_BACK = "https://spa.example/bye"
BROWSER = {"origin": "https://testserver", "sec-fetch-site": "same-origin"}


class Hook:
    """The host's ``logout``: records whose session it ended."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    async def __call__(self, request: Request) -> None:
        self.ended.append(request.headers.get("x-test-user", ""))


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
async def harness(store: TokenStore, hook: Hook) -> AsyncIterator[Harness]:
    async with open_harness(store, signing_keys=LogoutKeys(), logout=hook) as h:
        await update_client(store, "web", post_logout_redirect_uris=[BACK])
        await update_client(store, "spa", post_logout_redirect_uris=[SPA_BACK])
        yield h


async def end_session(harness: Harness, user: str | None = "alice", /,
                      **params: str) -> httpx.Response:
    headers = {"x-test-user": user} if user else {}
    return await harness.http.get("/oauth/end_session/", params=params, headers=headers)


async def confirm(harness: Harness, page: Page, decision: str = "logout", *,
                  user: str = "alice", headers: dict[str, str] | None = None,
                  extra: dict[str, str] | None = None) -> httpx.Response:
    fields = {i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    fields.update({"decision": decision, **(extra or {})})
    return await harness.http.post(page.forms[0]["action"], data=fields,
                                   headers={"x-test-user": user, **BROWSER, **(headers or {})})


@pytest.mark.rule("logout.hint-ends-session")
async def test_a_hint_of_the_signed_in_user_logs_out_at_once_and_returns_with_state(
    harness: Harness, hook: Hook,
) -> None:
    response = await end_session(harness, id_token_hint=id_token(),
                                 post_logout_redirect_uri=BACK, state="s ü&#")
    base, where, params = answer(response)
    assert (base, where, params) == (BACK, "query", {"state": "s ü&#"})
    assert hook.ended == ["alice"]


async def test_an_expired_hint_still_identifies_the_session(
    harness: Harness, hook: Hook,
) -> None:
    old = claims(exp=1_000_000, iat=999_000)
    base, _, params = answer(await end_session(
        harness, id_token_hint=id_token(old), post_logout_redirect_uri=BACK))
    assert (base, params, hook.ended) == (BACK, {}, ["alice"])


@pytest.mark.rule("logout.csrf")
async def test_without_a_hint_a_get_only_asks_and_the_confirmation_logs_out(
    harness: Harness, hook: Hook,
) -> None:
    response = await end_session(harness, client_id="web", post_logout_redirect_uri=BACK,
                                 state="st")
    page = assert_page(response, 200)
    assert "Sign out?" in page.text and hook.ended == []
    assert {b.get("value") for b in page.buttons} == {"logout", "cancel"}
    base, _, params = answer(await confirm(harness, page))
    assert (base, params, hook.ended) == (BACK, {"state": "st"}, ["alice"])


@pytest.mark.rule("logout.csrf")
async def test_a_hint_of_another_user_asks_instead_of_logging_out(
    harness: Harness, hook: Hook,
) -> None:
    response = await end_session(harness, id_token_hint=id_token(claims(sub="bob")),
                                 post_logout_redirect_uri=BACK)
    assert "Sign out?" in assert_page(response, 200).text
    assert hook.ended == []


@pytest.mark.rule("logout.csrf")
@pytest.mark.parametrize("headers", [{"sec-fetch-site": "cross-site"},
                                     {"origin": "https://evil.example", "sec-fetch-site": ""}])
async def test_a_cross_site_confirmation_is_refused(
    harness: Harness, hook: Hook, headers: dict[str, str],
) -> None:
    page = read_page((await end_session(harness, client_id="web")).text)
    response = await confirm(harness, page, headers=headers)
    assert assert_page(response, 403) and hook.ended == []


@pytest.mark.rule("logout.csrf")
async def test_a_confirmation_with_another_users_token_or_none_is_refused(
    harness: Harness, hook: Hook,
) -> None:
    bobs = read_page((await end_session(harness, "bob", client_id="web")).text)
    assert_page(await confirm(harness, bobs, user="alice"), 403)
    assert_page(await confirm(harness, bobs, extra={"csrf_token": "x"}, user="bob"), 403)
    assert hook.ended == []


@pytest.mark.rule("logout.redirect.registered")
async def test_a_confirmation_cannot_be_pointed_at_another_address(
    harness: Harness, hook: Hook,
) -> None:
    await update_client(harness.store, "web", post_logout_redirect_uris=[BACK, BACK + "2"])
    page = read_page((await end_session(harness, client_id="web",
                                        post_logout_redirect_uri=BACK)).text)
    response = await confirm(harness, page, extra={"post_logout_redirect_uri": BACK + "2"})
    assert_page(response, 403)
    assert hook.ended == []


async def test_staying_signed_in_ends_nothing(harness: Harness, hook: Hook) -> None:
    page = read_page((await end_session(harness, client_id="web",
                                        post_logout_redirect_uri=BACK)).text)
    response = await confirm(harness, page, "cancel")
    assert "You are still signed in" in assert_page(response, 200).text
    assert hook.ended == []


@pytest.mark.rule("logout.redirect.registered")
@pytest.mark.parametrize("uri", [
    "https://evil.example/", SPA_BACK, WEB_REDIRECT, BACK + ".evil.example", BACK + "/",
    BACK + "?x=1", BACK + "#f", "https://client.example/signed-out/../x", BACK.upper(),
    "//evil.example", " " + BACK, SPA_REDIRECT, BACK + "%0d%0aLocation:%20x",
])
async def test_an_unregistered_post_logout_uri_is_never_redirected_to(
    harness: Harness, hook: Hook, uri: str,
) -> None:
    response = await end_session(harness, id_token_hint=id_token(),
                                 post_logout_redirect_uri=uri, state="s")
    page = assert_page(response, 200)
    assert "You are signed out" in page.text and "not registered" in page.text
    assert hook.ended == ["alice"]


@pytest.mark.rule("logout.redirect.registered")
@pytest.mark.parametrize("uri", [BACK + "\r\nLocation: https://evil.example", BACK + "\x00",
                                 BACK + "\x1b[2J"])
async def test_control_characters_in_the_post_logout_uri_are_a_400_page(
    harness: Harness, hook: Hook, uri: str,
) -> None:
    response = await end_session(harness, id_token_hint=id_token(),
                                 post_logout_redirect_uri=uri)
    assert "control character" in assert_page(response, 400).text
    assert hook.ended == []


@pytest.mark.rule("logout.redirect.registered")
async def test_a_post_logout_uri_without_a_client_is_not_redirected_to(
    harness: Harness, hook: Hook,
) -> None:
    page = read_page((await end_session(harness, post_logout_redirect_uri=BACK)).text)
    assert [i["name"] for i in page.inputs] == ["csrf_token"]  # no address carried on
    response = await confirm(harness, page, extra={"post_logout_redirect_uri": BACK})
    assert "not registered" in assert_page(response, 200).text
    assert hook.ended == ["alice"]


@pytest.mark.rule("logout.hint-verified")
@pytest.mark.parametrize("hint", [
    pytest.param(lambda: id_token(key="evil"), id="signed-by-another-key"),
    pytest.param(lambda: id_token(kid="k2", key="evil"), id="unknown-kid"),
    pytest.param(lambda: id_token(alg="ES256"), id="es256-unpublished"),
    pytest.param(unsigned, id="alg-none"),
    pytest.param(hmac_with_public_key, id="hs256-with-the-public-key"),
    pytest.param(lambda: id_token(claims(iss="https://evil.example/oauth")), id="other-issuer"),
    pytest.param(lambda: id_token(claims(sub="")), id="no-subject"),
    pytest.param(lambda: id_token(claims(aud=[])), id="no-audience"),
    pytest.param(lambda: id_token(typ="at+jwt"), id="a-jwt-access-token"),
    pytest.param(lambda: id_token()[:-4] + "AAAA", id="tampered-signature"),
    pytest.param(lambda: "not.a.jwt", id="garbage"),
    pytest.param(lambda: id_token() + "." + id_token(), id="too-many-parts"),
])
async def test_a_hint_we_did_not_issue_is_refused_and_ends_nothing(
    harness: Harness, hook: Hook, hint: object,
) -> None:
    response = await end_session(harness, id_token_hint=hint(),  # type: ignore[operator]
                                 post_logout_redirect_uri=BACK, state="s")
    page = assert_page(response, 400)
    assert "The id_token_hint is not an ID token this server issued." in page.text
    assert hook.ended == []


@pytest.mark.rule("logout.hint-verified")
async def test_a_client_id_the_hint_was_not_issued_to_is_refused(
    harness: Harness, hook: Hook,
) -> None:
    response = await end_session(harness, id_token_hint=id_token(), client_id="spa",
                                 post_logout_redirect_uri=SPA_BACK)
    assert "not the client the id_token_hint was issued to" in assert_page(response, 400).text
    assert hook.ended == []


async def test_a_hint_without_signing_keys_is_refused(store: TokenStore, hook: Hook) -> None:
    async with open_harness(store, logout=hook) as harness:
        response = await end_session(harness, id_token_hint=id_token())
        assert_page(response, 400)
    assert hook.ended == []


async def test_nobody_signed_in_is_sent_back_without_the_hook(
    harness: Harness, hook: Hook,
) -> None:
    base, _, params = answer(await end_session(harness, None, client_id="web",
                                               post_logout_redirect_uri=BACK, state="z"))
    assert (base, params, hook.ended) == (BACK, {"state": "z"}, [])


async def test_a_relying_party_may_post_the_request(harness: Harness, hook: Hook) -> None:
    response = await harness.http.post(
        "/oauth/end_session", data={"id_token_hint": id_token(), "post_logout_redirect_uri": BACK},
        headers={"x-test-user": "alice", "sec-fetch-site": "cross-site"})
    assert answer(response)[0] == BACK and hook.ended == ["alice"]


async def test_head_never_logs_out(harness: Harness, hook: Hook) -> None:
    response = await harness.http.head("/oauth/end_session/", params={
        "id_token_hint": id_token(), "post_logout_redirect_uri": BACK},
        headers={"x-test-user": "alice"})
    assert response.status_code == 200 and "location" not in response.headers
    assert hook.ended == []


@pytest.mark.parametrize("query", [
    "client_id=web&client_id=spa", "state=a&state=b",
    "post_logout_redirect_uri=x&post_logout_redirect_uri=y", "client_id=nobody",
    "client_id=%00", "state=" + "a" * 5000, "client_id=%ff",
])
async def test_malformed_requests_are_a_400_page_and_end_nothing(
    harness: Harness, hook: Hook, query: str,
) -> None:
    url = httpx.URL("https://testserver/oauth/end_session/", query=query.encode())
    response = await harness.http.get(url, headers={"x-test-user": "alice"})
    assert_page(response, 400)
    assert hook.ended == []


async def test_a_bearer_token_is_refused_and_other_methods_get_405(
    harness: Harness, hook: Hook,
) -> None:
    response = await harness.http.get("/oauth/end_session/", params={"access_token": "x"},
                                      headers={"x-test-user": "alice"})
    assert_page(response, 400)
    response = await harness.http.put("/oauth/end_session/")
    assert assert_page(response, 405) and response.headers["allow"] == "GET, HEAD, POST"
    assert hook.ended == []


async def test_the_metadata_names_the_endpoint_only_with_a_logout_hook(
    harness: Harness, store: TokenStore,
) -> None:
    document = (await harness.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert document["end_session_endpoint"] == "https://testserver/oauth/end_session/"
    async with open_harness(store, seeded=False) as plain:
        document = (await plain.http.get("/oauth/.well-known/oauth-authorization-server")).json()
        assert "end_session_endpoint" not in document
        assert (await plain.http.get("/oauth/end_session/")).status_code == 404


async def test_a_sync_hook_is_called_too(store: TokenStore) -> None:
    ended: list[str] = []
    async with open_harness(store, signing_keys=LogoutKeys(),
                            logout=lambda request: ended.append("sync")) as harness:
        await update_client(store, "web", post_logout_redirect_uris=[BACK])
        answer(await end_session(harness, id_token_hint=id_token(),
                                 post_logout_redirect_uri=BACK))
    assert ended == ["sync"]


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_the_hint_is_blanked_in_the_scope_the_access_log_reads(
    harness: Harness, hook: Hook,
) -> None:
    hint = id_token()
    scope, status = await asgi_get(harness, f"id_token_hint={hint}&state=s".encode())
    assert status == 200 and hook.ended == ["alice"]
    assert scope["query_string"] == b"id_token_hint=redacted&state=s"


async def asgi_get(harness: Harness, query: bytes) -> tuple[dict[str, object], int]:
    """GET end_session/ through ASGI, returning the scope as the server left it."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope: dict[str, object] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "https", "server": ("testserver", 443), "client": ("127.0.0.1", 1),
        "path": "/oauth/end_session/", "raw_path": b"/oauth/end_session/", "root_path": "",
        "query_string": query, "headers": [(b"host", b"testserver"), (b"x-test-user", b"alice")],
    }
    await harness.app(scope, receive, send)  # type: ignore[arg-type]
    return scope, int(sent[0]["status"])  # type: ignore[call-overload]


@pytest.mark.rule("redis.auth-503")
async def test_an_unreachable_store_is_a_503_page_and_ends_nothing(hook: Hook) -> None:
    store = TokenStore.from_url(None)
    async with open_harness(store, signing_keys=LogoutKeys(), logout=hook) as harness:
        await update_client(store, "web", post_logout_redirect_uris=[BACK])
        redis_of(store).connection_pool.connection_kwargs["server"].connected = False
        response = await end_session(harness, client_id="web", post_logout_redirect_uri=BACK)
        page = assert_page(response, 503)
        assert response.headers["retry-after"] == "5"
        assert page.text.startswith("Service temporarily unavailable")
    assert hook.ended == []
    await store.aclose()


async def test_a_failing_hook_is_a_generic_500_page(store: TokenStore) -> None:
    def broken(request: Request) -> None:
        raise RuntimeError("db password is hunter2")

    async with open_harness(store, signing_keys=LogoutKeys(), logout=broken) as harness:
        response = await end_session(harness, id_token_hint=id_token())
        page = assert_page(response, 500)
        assert "hunter2" not in response.text and "RuntimeError" not in page.text


async def test_plain_http_is_refused_outside_debug(harness: Harness, hook: Hook) -> None:
    response = await harness.http.get("http://testserver/oauth/end_session/",
                                      params={"id_token_hint": id_token()},
                                      headers={"x-test-user": "alice"})
    assert "HTTPS is required" in assert_page(response, 400).text
    assert hook.ended == []


async def test_a_confirmation_repeating_a_field_is_refused(harness: Harness, hook: Hook) -> None:
    page = read_page((await end_session(harness, client_id="web")).text)
    fields = [(i["name"], i["value"]) for i in page.inputs if i.get("type") == "hidden"]
    body = "&".join(f"{k}={v}" for k, v in [*fields, *fields, ("decision", "logout")])
    response = await harness.http.post(
        "/oauth/end_session/", content=body.encode(),
        headers={"x-test-user": "alice", "content-type": "application/x-www-form-urlencoded",
                 **BROWSER})
    assert_page(response, 403)
    assert hook.ended == []


async def test_a_confirmation_after_signing_out_elsewhere_just_goes_back(
    harness: Harness, hook: Hook,
) -> None:
    page = read_page((await end_session(harness, client_id="web",
                                        post_logout_redirect_uri=BACK, state="q")).text)
    fields = {i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    response = await harness.http.post("/oauth/end_session/",
                                       data={**fields, "decision": "logout"}, headers=BROWSER)
    assert answer(response)[2] == {"state": "q"} and hook.ended == []


@pytest.mark.parametrize("client_id", ["a b", "x" * 129, "web/../spa"])
async def test_a_client_id_that_cannot_be_one_is_unknown(
    harness: Harness, hook: Hook, client_id: str,
) -> None:
    response = await end_session(harness, client_id=client_id)
    assert "The client is unknown." in assert_page(response, 400).text or \
        "too long" in response.text
    assert hook.ended == []


@pytest.mark.rule("logout.hint-verified")
async def test_a_hint_for_several_audiences_names_its_client_by_azp(
    harness: Harness, hook: Hook,
) -> None:
    several = id_token(claims(aud=["web", "spa"], azp="spa"))
    base, _, _ = answer(await end_session(harness, id_token_hint=several,
                                          post_logout_redirect_uri=SPA_BACK))
    assert base == SPA_BACK and hook.ended == ["alice"]
    ambiguous = id_token(claims(aud=["web", "spa"]))
    page = assert_page(await end_session(harness, id_token_hint=ambiguous,
                                         post_logout_redirect_uri=SPA_BACK), 200)
    assert "not registered" in page.text
