"""auth/: the consent page and the decision POST (RFC 6749 §4.1.2, §4.2.2, §10.12).

The page shows who asks for what; the user may only remove scopes. Approve
gives a code (or a token in the fragment), deny gives ``access_denied``. The
decision is accepted once, from the same user, with a valid CSRF token, and
never from another site.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from oauth_middleware import Scope, TokenStore, csrf, issue_token, register_client
from oauth_middleware.security import digest
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.server.consent import origin_of
from oauth_middleware.store import MAX_LIFETIME
from tests.conftest import FakeClock
from tests.raw_asgi import call
from tests.server.authorize_harness import (
    CHALLENGE,
    SPA_REDIRECT,
    WEB_REDIRECT,
    FormFields,
    Harness,
    Page,
    answer,
    assert_page,
    open_harness,
    read_page,
)
from tests.store_helpers import get_code, get_pending, redis_of, texts

WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read polls:vote", "state": "st ü&#"}
SPA = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "token",
       "scope": "polls:read polls:vote", "state": "st"}


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        yield h


@pytest.mark.rule("auth.consent.shows-client-and-scopes")
async def test_consent_page_shows_the_client_and_the_scope_titles(harness: Harness) -> None:
    response = await harness.authorize(**WEB)
    page = assert_page(response, 200)
    assert "Authorize Poll Reader?" in page.text
    assert {"id": "client", "href": "https://client.example/about", "rel": "noopener noreferrer",
            "target": "_blank"} in page.links
    assert "Reads and votes in your polls." in page.text
    assert "Read your polls" in page.text and "Vote in polls" in page.text
    assert "client.example" in page.text


@pytest.mark.rule("auth.csrf.transaction")
async def test_consent_form_is_one_post_with_hidden_fields_ticked_scopes_and_two_buttons(
    harness: Harness
) -> None:
    page = await harness.consent(**WEB)
    assert page.forms == [{"method": "post", "action": "/oauth/auth/"}]
    assert page.hidden("transaction") and page.hidden("csrf_token")
    assert [(c["value"], "checked" in c) for c in page.checkboxes()] == [
        ("polls:read", True), ("polls:vote", True)]
    assert [(b["name"], b["value"], b["type"]) for b in page.buttons] == [
        ("decision", "approve", "submit"), ("decision", "deny", "submit")]


@pytest.mark.rule("auth.csrf.transaction", "rest.no-raw-secrets")
async def test_the_pending_request_is_stored_server_side_bound_to_the_user(
    harness: Harness, clock: FakeClock
) -> None:
    page = await harness.consent(code_challenge=CHALLENGE, code_challenge_method="S256", **WEB)
    transaction = page.hidden("transaction")
    pending = await get_pending(harness.store, transaction, user="alice")
    assert pending is not None
    assert (pending.user, pending.client_id, pending.redirect_uri, pending.scopes,
            pending.state, pending.code_challenge) == (
        "alice", "web", WEB_REDIRECT, ("polls:read", "polls:vote"), "st ü&#", CHALLENGE)
    assert pending.created_at == clock.now
    keys = texts(list(await redis_of(harness.store).keys("*")))
    assert not [k for k in keys if transaction in k]
    assert harness.store.keys.pending("alice", digest(transaction)) in keys
    assert await get_pending(harness.store, transaction, user="mallory") is None


@pytest.mark.rule("responses.html.escaped")
async def test_a_link_that_is_not_http_is_not_rendered_as_a_link(harness: Harness) -> None:
    for n, link in enumerate(("javascript:alert(1)", "javascript://client.example/%0aalert(1)",
                              "https:client.example")):
        await register_client(harness.store, "Sneaky", f"sneaky{n}", WEB_REDIRECT, public=False,
                              link=link, scopes_list=["polls:read"])
        response = await harness.authorize(client_id=f"sneaky{n}", response_type="code")
        page = assert_page(response, 200)
        assert page.links == []
        assert "javascript:" not in response.text
        assert "Authorize Sneaky?" in page.text


async def test_an_http_or_https_link_is_rendered_as_a_link(harness: Harness) -> None:
    for n, link in enumerate(("http://client.example/about", "https://client.example/about")):
        await register_client(harness.store, "Plain", f"plain{n}", WEB_REDIRECT, public=False,
                              link=link, scopes_list=["polls:read"])
        page = assert_page(await harness.authorize(client_id=f"plain{n}", response_type="code"),
                           200)
        assert [a.get("href") for a in page.links] == [link]


@pytest.mark.rule("responses.html.escaped")
async def test_titles_and_descriptions_are_html_escaped(harness: Harness) -> None:
    await harness.store.save_scope(Scope("x:y", "<b onmouseover=alert(1)>bold</b>"))
    await register_client(harness.store, "<script>alert(1)</script>", "xss", WEB_REDIRECT,
                          public=False, description='"><img src=x onerror=alert(2)>',
                          link='https://a.example/"onmouseover="alert(3)', scopes_list=["x:y"])
    response = await harness.authorize(client_id="xss", response_type="code")
    page = assert_page(response, 200)
    for raw in ("<script>alert(1)", "<img src=x", "<b onmouseover", '"onmouseover="'):
        assert raw not in response.text
    assert "<script>alert(1)</script>" in page.text
    assert page.links[0]["href"] == 'https://a.example/"onmouseover="alert(3)'


@pytest.mark.rule("auth.csrf.get-never-grants")
async def test_a_get_never_grants_while_consent_is_not_remembered(harness: Harness) -> None:
    """remember_consent off (the default): a GET carrying the consent form's own fields
    grants nothing. With it on, a GET may answer from what the user approved before
    (test_authorize_remembered.py)."""
    page = await harness.consent(decision="approve", **WEB)
    response = await harness.authorize(decision="approve", transaction=page.hidden("transaction"),
                                       csrf_token=page.hidden("csrf_token"), **WEB)
    assert response.status_code == 200
    assert await harness.code_keys() == []


@pytest.mark.rule("token.code.binding", "responses.redirect.303")
async def test_approve_redirects_with_a_code_bound_to_the_request(harness: Harness) -> None:
    page = await harness.consent(code_challenge=CHALLENGE, code_challenge_method="S256", **WEB)
    response = await harness.decide(page)
    assert response.headers["cache-control"] == "no-store"
    base, where, params = answer(response)
    assert (base, where, set(params)) == (WEB_REDIRECT, "query", {"code", "state"})
    assert params["state"] == "st ü&#"
    record = await get_code(harness.store, params["code"])
    assert record is not None
    assert (record.client_id, record.subject, record.redirect_uri, record.redirect_uri_explicit,
            record.scopes, record.code_challenge, record.code_challenge_method) == (
        "web", "alice", WEB_REDIRECT, True, frozenset({"polls:read", "polls:vote"}),
        CHALLENGE, "S256")
    assert record.expires_at - record.issued_at == harness.server.config.code_lifetime
    assert len(await harness.code_keys()) == 1


@pytest.mark.rule("token.code.binding")
async def test_a_code_lives_as_long_as_the_servers_code_lifetime_says(store: TokenStore) -> None:
    async with open_harness(store, code_lifetime=30) as harness:
        page = await harness.consent(**WEB)
        _, _, params = answer(await harness.decide(page))
        record = await get_code(store, params["code"])
        assert record is not None and record.expires_at - record.issued_at == 30
        (key,) = await harness.code_keys()
        assert 0 < await redis_of(store).pttl(key) <= 30_000


@pytest.mark.rule("auth.consent.remove-only")
async def test_an_unticked_scope_is_not_granted(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    _, _, params = answer(await harness.decide(page, scopes=["polls:vote"]))
    record = await get_code(harness.store, params["code"])
    assert record is not None and record.scopes == frozenset({"polls:vote"})


@pytest.mark.parametrize("added", ["polls:vote", "polls:secret", "admin:all"])
@pytest.mark.rule("auth.consent.remove-only")
async def test_a_scope_that_was_not_requested_is_refused(harness: Harness, added: str) -> None:
    page = await harness.consent(**{**WEB, "scope": "polls:read"})
    response = await harness.decide(page, scopes=["polls:read", added])
    assert "names a scope that was not requested" in assert_page(response, 400).text
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.consent.deny")
async def test_unticking_every_scope_is_access_denied(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    _, _, params = answer(await harness.decide(page, scopes=[]))
    assert (params["error"], params["state"]) == ("access_denied", "st ü&#")
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.consent.deny", "auth.state.round-trip")
async def test_deny_redirects_access_denied_with_state_and_grants_nothing(
    harness: Harness
) -> None:
    page = await harness.consent(**WEB)
    base, where, params = answer(await harness.decide(page, "deny"))
    assert (base, where) == (WEB_REDIRECT, "query")
    assert params == {"error": "access_denied", "state": "st ü&#",
                      "error_description": "The resource owner denied the request."}
    assert await harness.code_keys() == []
    assert await get_pending(harness.store, page.hidden("transaction"), user="alice") is None


@pytest.mark.rule("auth.implicit")
async def test_implicit_approve_puts_the_token_in_the_fragment_without_a_refresh_token(
    harness: Harness
) -> None:
    page = await harness.consent(**SPA)
    response = await harness.decide(page, scopes=["polls:read"])
    base, where, params = answer(response)
    assert (base, where) == (SPA_REDIRECT, "fragment")
    assert set(params) == {"access_token", "token_type", "expires_in", "scope", "state"}
    assert (params["token_type"], params["expires_in"], params["scope"], params["state"]) == (
        "Bearer", "3600", "polls:read", "st")
    token = await harness.store.resolve(params["access_token"])
    assert token is not None
    assert (token.subject, token.client_id, token.scopes) == (
        "alice", "spa", frozenset({"polls:read"}))
    assert await redis_of(harness.store).keys(f"{harness.store.keys.prefix}rt:*") == []
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.implicit")
async def test_an_implicit_fragment_lists_every_approved_scope_space_separated(
    harness: Harness
) -> None:
    page = await harness.consent(**SPA)
    _, where, params = answer(await harness.decide(page, scopes=["polls:vote", "polls:read"]))
    assert (where, params["scope"], params["token_type"]) == (
        "fragment", "polls:read polls:vote", "Bearer")
    token = await harness.store.resolve(params["access_token"])
    assert token is not None and token.scopes == {"polls:read", "polls:vote"}


@pytest.mark.rule("auth.implicit", "auth.error.codes")
async def test_implicit_deny_answers_in_the_fragment(harness: Harness) -> None:
    page = await harness.consent(**SPA)
    _, where, params = answer(await harness.decide(page, "deny"))
    assert (where, params["error"], params["state"]) == ("fragment", "access_denied", "st")


@pytest.mark.rule("auth.redirect.registered-query-kept")
async def test_a_registered_uri_with_a_query_keeps_it_on_success(harness: Harness) -> None:
    registered = "https://client.example/cb?tenant=7"
    await register_client(harness.store, "Tenant", "tenant", registered, public=False,
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    page = await harness.consent(client_id="tenant", response_type="code", state="a&b")
    location = (await harness.decide(page)).headers["location"]
    assert location.startswith(registered + "&code=")
    assert location.endswith("&state=a%26b")


#: The page text of a consent form refused for its CSRF token or repeated fields.
NOT_VERIFIED = "cannot be completed The consent form could not be verified. Error: access_denied"


def _forge(forgery: str, page: Page, other: Page) -> tuple[tuple[str, ...], FormFields]:
    """(fields to drop, fields to replace) for one way of forging the decision."""
    token = page.hidden("csrf_token")
    tampered = token[:-2] + ("BB" if token.endswith("AA") else "AA")
    forged: dict[str, tuple[tuple[str, ...], FormFields]] = {
        "no_token": (("csrf_token",), {}),
        "no_transaction": (("transaction",), {}),
        "bad_token": ((), {"csrf_token": tampered}),
        "other_token": ((), {"csrf_token": other.hidden("csrf_token")}),
        "repeated_token": ((), {"csrf_token": [token, token]}),
    }
    return forged[forgery]


@pytest.mark.parametrize("forgery", ["no_token", "no_transaction", "bad_token", "other_token",
                                     "repeated_token"])
@pytest.mark.rule("auth.csrf.transaction")
async def test_a_forged_decision_is_refused_and_leaves_the_request_answerable(
    harness: Harness, forgery: str
) -> None:
    page = await harness.consent(**WEB)
    drop, extra = _forge(forgery, page, await harness.consent(**WEB))
    forged = await harness.decide(page, drop=drop, extra=extra)
    assert NOT_VERIFIED in assert_page(forged, 403).text
    assert await harness.code_keys() == []
    genuine = await harness.decide(page)
    assert "code" in answer(genuine)[2]


@pytest.mark.parametrize("salt", ["oauth_middleware.admin.csrf", "itsdangerous.Signer"])
@pytest.mark.rule("auth.csrf.transaction")
async def test_a_token_signed_with_the_same_key_for_another_use_is_refused(
    harness: Harness, salt: str
) -> None:
    """The consent salt keeps its tokens apart from every other signature of the secret
    key: the admin's forms, or anything signed under itsdangerous's default salt (which
    Starlette's session cookies use, often with the same key)."""
    page = await harness.consent(**WEB)
    elsewhere = csrf.CsrfTokens(harness.server.config.secret_key, salt=salt, max_age=600,
                                clock=harness.store.clock)
    token = elsewhere.issue("alice", page.hidden("transaction"))
    forged = await harness.decide(page, extra={"csrf_token": token})
    assert NOT_VERIFIED in assert_page(forged, 403).text
    assert await harness.code_keys() == []
    assert "code" in answer(await harness.decide(page))[2]


@pytest.mark.rule("auth.csrf.transaction")
async def test_another_user_cannot_answer_the_consent_of_alice(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    forged = await harness.decide(page, user="mallory")
    assert_page(forged, 403)
    assert await harness.code_keys() == []
    transaction = page.hidden("transaction")
    assert await get_pending(harness.store, transaction, user="alice") is not None


@pytest.mark.rule("auth.csrf.transaction")
async def test_an_anonymous_decision_is_refused(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    assert "not signed in" in assert_page(await harness.decide(page, user=None), 403).text
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.csrf.transaction")
async def test_a_consent_form_is_accepted_once(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    assert "code" in answer(await harness.decide(page))[2]
    for decision in ("approve", "deny"):
        replay = await harness.decide(page, decision)
        assert "expired or was already answered" in assert_page(replay, 403).text
    assert len(await harness.code_keys()) == 1


@pytest.mark.rule("auth.csrf.transaction")
async def test_an_expired_csrf_token_is_refused(harness: Harness, clock: FakeClock) -> None:
    page = await harness.consent(**WEB)
    clock.advance(harness.server.config.consent_lifetime + 1)
    assert_page(await harness.decide(page), 403)
    assert await harness.code_keys() == []


CROSS_SITE, CROSS_ORIGIN = "Cross-site requests are refused.", "Cross-origin requests are refused."


@pytest.mark.parametrize(("headers", "message"), [
    ({"sec-fetch-site": "cross-site"}, CROSS_SITE),
    ({"Sec-Fetch-Site": "same-site"}, CROSS_SITE),
    ({"sec-fetch-site": "none"}, CROSS_SITE),
    ({"origin": "https://evil.example"}, CROSS_ORIGIN),
    ({"origin": "http://testserver"}, CROSS_ORIGIN),
    ({"origin": "https://testserver:8443"}, CROSS_ORIGIN),
    ({"origin": "https://evil.example", "sec-fetch-site": "cross-site"}, CROSS_SITE),
])
@pytest.mark.rule("auth.csrf.cross-site")
async def test_a_cross_site_decision_is_refused_even_with_a_valid_token(
    harness: Harness, headers: dict[str, str], message: str
) -> None:
    page = await harness.consent(**WEB)
    refused = await harness.decide(page, headers=headers)
    assert f"cannot be completed {message} Error: access_denied" in assert_page(refused, 403).text
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.csrf.cross-site")
async def test_origin_null_is_refused_unless_fetch_metadata_says_same_origin(
    harness: Harness
) -> None:
    # Under Referrer-Policy: no-referrer a browser's own same-origin form POST says
    # "Origin: null"; without Sec-Fetch-Site that could be a sandboxed cross-site frame.
    page = await harness.consent(**WEB)
    refused = await harness.decide(page, bare=True, headers={"origin": "null"})
    assert "Cross-origin requests are refused." in assert_page(refused, 403).text
    accepted = await harness.decide(page, headers={"origin": "null"})
    assert "code" in answer(accepted)[2]


@pytest.mark.rule("auth.csrf.transaction")
async def test_a_decision_without_fetch_metadata_relies_on_the_csrf_token(
    harness: Harness
) -> None:
    """Without Origin or Sec-Fetch-Site (an old browser, a privacy proxy) the request is not
    refused as cross-site: the CSRF token alone decides, so a forged one is refused."""
    page = await harness.consent(**WEB)
    for forgery in ("no_token", "bad_token", "other_token"):
        drop, extra = _forge(forgery, page, await harness.consent(**WEB))
        forged = await harness.decide(page, bare=True, drop=drop, extra=extra)
        assert NOT_VERIFIED in assert_page(forged, 403).text, forgery
        assert await harness.code_keys() == []
    response = await harness.decide(page, bare=True)
    code = answer(response)[2]["code"]
    record = await get_code(harness.store, code)
    assert record is not None
    assert (record.client_id, record.subject) == ("web", "alice")


@pytest.mark.rule("abuse.malformed-400")
async def test_a_decision_must_be_approve_or_deny(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    for decision in ("maybe", ""):
        refused = assert_page(await harness.decide(page, decision), 400)
        assert ("cannot be completed The consent form carries no decision. "
                "Error: invalid_request") in refused.text
    twice = await harness.decide(page, extra={"decision": ["approve", "deny"]})
    assert NOT_VERIFIED in assert_page(twice, 403).text
    assert "code" in answer(await harness.decide(page))[2]


NOT_A_FORM = "The consent form must be application/x-www-form-urlencoded."


@pytest.mark.parametrize(("content_type", "body", "status", "message"), [
    (None, b"decision=approve", 400, NOT_A_FORM),
    ("application/json", b'{"decision": "approve"}', 400, NOT_A_FORM),
    ("multipart/form-data; boundary=x", b"--x--", 400, NOT_A_FORM),
    ("application/x-www-form-urlencoded;charset=x", b"decision=approve&csrf_token=%zz", 400,
     "The request contains a malformed percent-escape."),
    ("Application/X-WWW-Form-Urlencoded", b"a=" + b"b" * 40_000, 413,
     "The consent form is too large."),
])
@pytest.mark.rule("abuse.malformed-400")
async def test_a_malformed_decision_body_is_refused(
    harness: Harness, content_type: str | None, body: bytes, status: int, message: str
) -> None:
    typed = {} if content_type is None else {"content-type": content_type}
    response = await harness.http.post("/oauth/auth/", content=body, headers={
        **typed, "x-test-user": "alice"})
    assert f"cannot be completed {message} Error: " in assert_page(response, status).text
    assert await harness.code_keys() == []


async def test_consent_never_logs_the_user_out(harness: Harness) -> None:
    # oauthost's consent view called logout(); here the host's session is never touched.
    logged_in = await harness.http.post("/login", data={"username": "erin", "next": "/whoami"})
    assert logged_in.status_code == 303
    earlier = await issue_token(harness.store, "web", user="erin", scopes=["polls:read"])
    response = await harness.http.get("/oauth/auth/", params=WEB)
    page = read_page(response.text)
    approved = await harness.decide(page, user=None)
    assert "code" in answer(approved)[2]
    assert (await harness.http.get("/whoami")).json() == {"user": "erin"}
    assert await harness.store.resolve(earlier.access_token) is not None
    again = await harness.http.get("/oauth/auth/", params=WEB)
    assert again.status_code == 200


async def test_a_scope_disabled_while_the_user_decides_is_not_granted(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    await harness.store.save_scope(Scope("polls:vote", "Vote in polls", enabled=False))
    _, _, params = answer(await harness.decide(page))
    assert (params["error"], params["state"]) == ("invalid_scope", "st ü&#")
    assert await harness.code_keys() == []


async def test_a_client_removed_while_the_user_decides_gets_nothing(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    await harness.store.delete_client("web")
    assert "no longer registered" in assert_page(await harness.decide(page), 400).text
    assert await harness.code_keys() == []


@pytest.mark.rule("responses.html.escaped")
async def test_templates_can_be_overridden_and_stay_escaped(
    store: TokenStore, tmp_path: Path
) -> None:
    (tmp_path / "consent.html").write_text(
        '<!doctype html><h1 id="mine">Custom for {{ client.title }}</h1>'
        '<form method="post" action="{{ action }}">'
        '<input type="hidden" name="transaction" value="{{ transaction }}">'
        '<input type="hidden" name="csrf_token" value="{{ csrf_token }}">'
        '{% for s in scopes %}<input type="checkbox" name="scope" value="{{ s.identifier }}"'
        ' checked>{% endfor %}<button name="decision" value="approve">ok</button></form>'
    )
    async with open_harness(store, templates=tmp_path) as harness:
        await register_client(harness.store, "<i>Tag</i>", "tag", WEB_REDIRECT, public=False,
                              scopes_list=["polls:read"], register_unknown_scopes=False)
        response = await harness.authorize(client_id="tag", response_type="code")
        assert_page(response, 200)
        assert "Custom for &lt;i&gt;Tag&lt;/i&gt;" in response.text
        assert "code" in answer(await harness.decide(read_page(response.text)))[2]
        error = await harness.authorize(client_id="nope")
        assert "The client is unknown." in assert_page(error, 400).text  # built-in error.html


@pytest.mark.rule("auth.csrf.cross-site")
async def test_repeated_origin_or_fetch_metadata_headers_are_refused(harness: Harness) -> None:
    page = await harness.consent(**WEB)
    for name, value in (("origin", "https://testserver"), ("sec-fetch-site", "same-origin")):
        request = harness.http.build_request("POST", page.forms[0]["action"], data={
            "transaction": page.hidden("transaction"), "csrf_token": page.hidden("csrf_token"),
            "decision": "approve"}, headers={"x-test-user": "alice"})
        request.headers.update({"origin": "https://testserver", "sec-fetch-site": "same-origin"})
        raw = [(k, v) for k, v in request.headers.raw if k.decode().lower() != name]
        raw += [(name.encode(), value.encode())] * 2
        request.headers = httpx.Headers(raw)
        assert_page(await harness.http.send(request), 403)
    assert await harness.code_keys() == []


@pytest.mark.rule("abuse.caps")
async def test_a_streamed_oversized_decision_body_is_refused(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"a=" + b"b" * 1024 + b"&"

    response = await harness.http.post("/oauth/auth/", content=chunks(), headers={
        "content-type": "application/x-www-form-urlencoded", "x-test-user": "alice"})
    assert "content-length" not in response.request.headers
    assert_page(response, 413)


@pytest.mark.rule("auth.implicit")
async def test_an_implicit_token_of_a_never_expiring_client_has_no_expires_in(
    harness: Harness
) -> None:
    await register_client(harness.store, "Kiosk", "kiosk", SPA_REDIRECT, public=True,
                          token_lifetime=None, grant_types=["implicit"],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    page = await harness.consent(client_id="kiosk", response_type="token")
    _, where, params = answer(await harness.decide(page))
    assert (where, set(params)) == ("fragment", {"access_token", "token_type", "scope"})


@pytest.mark.rule("responses.html.escaped")
async def test_a_malformed_client_link_is_not_rendered(harness: Harness) -> None:
    await register_client(harness.store, "Broken Link", "broken", WEB_REDIRECT, public=False,
                          link="https://[not-an-ip/", scopes_list=["polls:read"])
    response = await harness.authorize(client_id="broken", response_type="code")
    assert assert_page(response, 200).links == []


@pytest.mark.parametrize(("issuer", "origin"), [
    ("https://example.com/oauth", "https://example.com"),
    ("https://Example.COM:443/oauth", "https://example.com"),
    ("https://example.com:8443/oauth", "https://example.com:8443"),
    ("http://127.0.0.1:8000/oauth", "http://127.0.0.1:8000"),
    ("https://[::1]:443/oauth", "https://[::1]"),
    ("https://[::1]:8443/", "https://[::1]:8443"),
])
@pytest.mark.rule("auth.csrf.cross-site")
def test_the_issuer_origin_is_serialized_as_browsers_send_it(issuer: str, origin: str) -> None:
    assert origin_of(issuer) == origin


@pytest.mark.rule("responses.5xx-generic")
@pytest.mark.parametrize("broken", ["{{ no_such_variable.attribute }}", "{{ descripton }}"])
async def test_a_broken_error_template_override_falls_back_to_the_generic_500_page(
    store: TokenStore, tmp_path: Path, broken: str
) -> None:
    """A misspelt name in an override fails loudly: never a page with a blank where the
    description should be."""
    (tmp_path / "error.html").write_text(broken)
    async with open_harness(store, templates=tmp_path) as harness:
        response = await harness.authorize(client_id="nope")
        page = assert_page(response, 500)
        assert page.text == "Server errorThe server could not complete the request."


async def test_consent_lifetime_is_a_checked_server_option(store: TokenStore) -> None:
    server = AuthorizationServer(store=store, issuer="https://a.example/oauth",
                                 secret_key=b"k" * 32, consent_lifetime=30)
    assert server.config.consent_lifetime == 30
    with pytest.raises(ValueError, match="consent_lifetime"):
        AuthorizationServer(store=store, issuer="https://a.example/oauth",
                            secret_key=b"k" * 32, consent_lifetime=0)


@pytest.mark.parametrize("lifetime", [0, MAX_LIFETIME + 1, 10**20])
async def test_refresh_lifetime_is_refused_at_construction_past_ten_years(
    store: TokenStore, lifetime: int
) -> None:
    """The store would refuse every refresh token of such a server: say so at start-up."""
    with pytest.raises(ValueError, match=f"refresh_lifetime must be 1 to {MAX_LIFETIME}"):
        AuthorizationServer(store=store, issuer="https://a.example/oauth",
                            secret_key=b"k" * 32, refresh_lifetime=lifetime)
    server = AuthorizationServer(store=store, issuer="https://a.example/oauth",
                                 secret_key=b"k" * 32, refresh_lifetime=MAX_LIFETIME)
    assert server.config.refresh_lifetime == MAX_LIFETIME


@pytest.mark.rule("abuse.malformed-400", "responses.5xx-generic")
async def test_a_consent_post_whose_client_goes_away_is_no_server_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A browser that disconnects mid-form made auth/ log a traceback at ERROR and answer
    500: any client could fill the error log that way."""
    with caplog.at_level("INFO"):
        response = await call(harness.app, "POST", "/oauth/auth/", chunks=[b"transaction=a"],
                              disconnect=True, headers=[
                                  (b"x-test-user", b"alice"),
                                  (b"content-type", b"application/x-www-form-urlencoded")])
    assert response.status == 400
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("x-frame-options") == "DENY"
    assert ("cannot be completed The browser went away before the form was read. "
            "Error: invalid_request") in read_page(response.body.decode()).text
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize("length", [b"x1", b"-1", b"1 2"])
@pytest.mark.rule("abuse.malformed-400")
async def test_a_consent_post_with_a_malformed_content_length_is_refused(
    harness: Harness, length: bytes
) -> None:
    response = await call(harness.app, "POST", "/oauth/auth/", body=b"decision=approve",
                          headers=[(b"x-test-user", b"alice"), (b"content-length", length),
                                   (b"content-type", b"application/x-www-form-urlencoded")])
    assert response.status == 400
    assert response.header("x-frame-options") == "DENY"
    assert ("cannot be completed The Content-Length header is malformed. "
            "Error: invalid_request") in read_page(response.body.decode()).text
    assert await harness.code_keys() == []
