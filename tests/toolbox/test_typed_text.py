"""What people type is checked where it is stored (SECURITY.md "At rest, in memory, in logs").

Redirect URIs hold no character RFC 3986 never allows raw; titles, descriptions,
links, registrants and scope titles hold no control character; and a confidential
client gets the implicit grant only when that is forced (RFC 9700 §2.1.2). Every
refusal is a ValueError naming the fix, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from oauth_middleware.redirects import InvalidRedirectURI
from oauth_middleware.scope_registry import add_scope
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    add_redirect_uri,
    issue_code,
    issue_token,
    register_client,
    update_client,
)

CB = "https://app.example/cb"
#: Terminal escapes (an OSC title change, a C1 CSI), NUL, CR, a bidi override, a line
#: separator and a lone surrogate (what a non-UTF-8 argv byte becomes in Python).
CONTROLS = ["\x1b]0;pwned\x07", "\x00", "a\rb", "\u202e", "\x9b31m", "\u2028", "\udc80", "\x7f"]


@pytest.mark.parametrize("uri", [
    'https://app.example/c"b', "https://app.example/<cb>", "https://app.example/c\\b",
    "https://app.example/{cb}", "https://app.example/c|b", "https://app.example/c^b",
    "https://app.example/c`b", "https://app.example/c%zzb", "https://app.example/cb%",
    "https://app.example/cb%2", " https://app.example/cb", "https://app.example/c b",
    "https://app.example/cb\x1b[2J",
])
@pytest.mark.rule("rest.typed-text.redirect-uri", "auth.redirect.registration-rules")
async def test_redirect_uris_with_characters_rfc3986_never_allows_raw_are_refused(
    store: TokenStore, uri: str
) -> None:
    with pytest.raises(InvalidRedirectURI) as refused:
        await register_client(store, "T", "t", [CB, uri])
    message = str(refused.value)
    assert "percent-encode" in message or "escape such as %20" in message or "spaces" in message
    assert await store.get_client("t") is None
    await register_client(store, "T", "t", CB)
    with pytest.raises(InvalidRedirectURI):
        await add_redirect_uri(store, "t", uri)
    with pytest.raises(InvalidRedirectURI):
        await update_client(store, "t", redirect_uris=[CB, uri])
    client = await store.get_client("t")
    assert client is not None and client.redirect_uris == (CB,)


@pytest.mark.rule("rest.typed-text.redirect-uri", "auth.redirect.registration-rules")
async def test_percent_encoded_characters_are_accepted_in_a_redirect_uri(
    store: TokenStore,
) -> None:
    uri = "https://app.example/c%22b%7B%7D?next=%3Cx%3E"
    registered = await register_client(store, "T", "t", uri)
    assert registered.client.redirect_uris == (uri,)


@pytest.mark.rule("auth.implicit.not-confidential")
async def test_a_confidential_client_is_refused_the_implicit_grant_unless_forced(
    store: TokenStore,
) -> None:
    grants = ["authorization_code", "implicit"]
    with pytest.raises(ValueError, match=r"RFC 9700 §2\.1\.2.*allow_confidential_implicit=True"):
        await register_client(store, "Web", "web", CB, public=False, grant_types=grants)
    assert await store.get_client("web") is None
    forced = await register_client(store, "Web", "web", CB, public=False, grant_types=grants,
                                   allow_confidential_implicit=True)
    assert forced.client.grant_types == ("authorization_code", "implicit")
    assert not forced.client.public and forced.client_secret
    # A client forced once keeps its grants through later edits.
    edited = await update_client(store, "web", title="Web 2")
    assert edited.client.grant_types == ("authorization_code", "implicit")
    spa = await register_client(store, "SPA", "spa", CB, public=True, grant_types=grants)
    assert spa.client.grant_types == ("authorization_code", "implicit")


@pytest.mark.rule("auth.implicit.not-confidential")
async def test_an_edit_cannot_give_a_confidential_client_the_implicit_grant_unless_forced(
    store: TokenStore,
) -> None:
    await register_client(store, "SPA", "spa", CB, grant_types=["implicit"])
    await register_client(store, "Web", "web", CB, public=False)
    for client_id, change in (("spa", {"public": False}),
                              ("web", {"grant_types": ["authorization_code", "implicit"]})):
        before = await store.get_client(client_id)
        with pytest.raises(ValueError, match="allow_confidential_implicit=True"):
            await update_client(store, client_id, **change)
        assert await store.get_client(client_id) == before
    forced = await update_client(store, "spa", public=False, allow_confidential_implicit=True)
    assert forced.client.grant_types == ("implicit",) and forced.client_secret


def _registrations(text: str) -> dict[str, dict[str, Any]]:
    return {"title": {"title": f"T{text}T"}, "description": {"description": f"ok\n{text}ok"},
            "link": {"link": f"https://app.example/{text}/x"},
            "registrant": {"registrant": f"al{text}ice"}}


@pytest.mark.parametrize("text", CONTROLS)
@pytest.mark.parametrize("field", ["title", "description", "link", "registrant"])
@pytest.mark.rule("rest.typed-text.controls")
async def test_typed_text_with_a_control_character_is_refused_at_registration(
    store: TokenStore, field: str, text: str
) -> None:
    options = {"title": "T", **_registrations(text)[field]}
    with pytest.raises(ValueError, match=rf"the {field} must not contain control characters "
                                         r"\(U\+[0-9A-F]{4} at character \d+\): remove it"):
        await register_client(store, identifier="t", redirect_uri=CB, **options)
    assert await store.get_client("t") is None


@pytest.mark.parametrize("text", CONTROLS)
@pytest.mark.rule("rest.typed-text.controls")
async def test_an_edit_or_a_scope_title_with_a_control_character_is_refused(
    store: TokenStore, text: str
) -> None:
    await register_client(store, "T", "t", CB)
    before = await store.get_client("t")
    changes: list[dict[str, Any]] = [
        {"title": f"T{text}T"}, {"description": f"x{text}x"}, {"link": f"x{text}x"}]
    for change in changes:
        with pytest.raises(ValueError, match="must not contain control characters"):
            await update_client(store, "t", **change)
    assert await store.get_client("t") == before
    with pytest.raises(ValueError, match="the scope title must not contain control characters"):
        await add_scope(store, "polls:vote", title=f"Vote{text}!")
    assert await store.get_scopes(["polls:vote"]) == {}


@pytest.mark.rule("rest.typed-text.controls")
async def test_a_description_keeps_its_lines_and_tabs(store: TokenStore) -> None:
    registered = await register_client(store, "T", "t", CB,
                                       description="Line one\n\tLine two — ünïcode ok")
    assert registered.client.description == "Line one\n\tLine two — ünïcode ok"
    scope = await add_scope(store, "polls:vote", title="Vote — ✓")
    assert scope.title == "Vote — ✓"


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.rule("rest.typed-text.controls")
async def test_a_user_id_with_a_control_character_gets_no_token_and_no_code(
    store: TokenStore, control: str
) -> None:
    """The host's code (and the CLI's ``token issue --user``) names the user; the id
    reaches the admin, the connected-apps page and terminals, so it is typed text too."""
    await register_client(store, "T", "t", CB, scopes_list=["a:b"])
    with pytest.raises(ValueError, match="control characters"):
        await issue_token(store, "t", user=f"al{control}ice")
    with pytest.raises(ValueError, match="control characters"):
        await issue_code(store, "t", user=f"al{control}ice", redirect_uri=CB,
                         code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert await store.list_tokens(client_id="t") == (0, [])
    issued = await issue_token(store, "t", user="alice")
    assert issued.access_token
