"""The pure rules the authorization server and the toolbox share (``policy``), and the
signing key both web layers derive (``web.signing_key``): what each refusal says, word for
word, since these sentences reach the token endpoint's JSON and the operator's terminal."""

from __future__ import annotations

import pytest

from oauth_middleware.errors import InvalidScope
from oauth_middleware.models import Client, Scope
from oauth_middleware.policy import check_typed_text, grantable_scopes, validate_client_id
from oauth_middleware.store import TokenStore
from oauth_middleware.web import signing_key


def _client(*scopes: str) -> Client:
    return Client(client_id="web", title="Web", scopes=scopes)


@pytest.mark.parametrize(("client", "asked", "description"), [
    (_client(), None, "No scope was requested and the client has no default scope."),
    (_client("read"), ["write"], "A requested scope is not allowed for this client."),
    (_client(), ["gone"], "A requested scope is unknown or disabled."),
    (_client(), ["off"], "A requested scope is unknown or disabled."),
])
async def test_each_scope_refusal_says_why_in_its_own_words(
    store: TokenStore, client: Client, asked: list[str] | None, description: str,
) -> None:
    await store.save_scope(Scope("read", "Read"))
    await store.save_scope(Scope("off", "Off", enabled=False))
    with pytest.raises(InvalidScope) as refused:
        await grantable_scopes(store, client, asked)
    assert refused.value.description == description


async def test_a_client_list_is_the_default_and_enabled_scopes_are_granted(
    store: TokenStore,
) -> None:
    await store.save_scope(Scope("read", "Read"))
    await store.save_scope(Scope("write", "Write"))
    assert await grantable_scopes(store, _client("read", "write"), None) == {"read", "write"}
    assert await grantable_scopes(store, _client(), ["write", "write"]) == {"write"}


def test_a_client_id_outside_the_url_safe_set_is_refused_naming_the_set() -> None:
    assert validate_client_id("a-Z_0.9~") == "a-Z_0.9~"
    for bad in ("", "a b", "é", "x" * 129):
        with pytest.raises(ValueError, match=r"^a client id ") as refused:
            validate_client_id(bad)
        assert str(refused.value) == (
            "a client id is 1 to 128 of the characters A-Z a-z 0-9 . _ ~ -")


def test_multiline_text_keeps_newlines_and_tabs_but_never_other_controls() -> None:
    assert check_typed_text("one\n\ttwo", "description", multiline=True) == "one\n\ttwo"
    for text, where in (("X\x1b", 2), ("XX\r", 3)):
        with pytest.raises(ValueError, match=r"^the description ") as refused:
            check_typed_text(text, "description", multiline=True)
        assert str(refused.value) == (
            f"the description must not contain control characters "
            f"(U+{ord(text[-1]):04X} at character {where}): remove it")
    with pytest.raises(ValueError, match=r"U\+000A at character 4"):
        check_typed_text("one\ntwo", "title")


def test_without_a_secret_key_outside_debug_the_fix_is_named() -> None:
    with pytest.raises(ValueError, match=r"^secret_key is required") as refused:
        signing_key(None, debug=False)
    assert str(refused.value) == ("secret_key is required (the same value on every worker), "
                                  "e.g. secret_key=os.environ['OAUTH_SECRET_KEY']")


def test_debug_without_a_key_signs_with_a_fresh_256_bit_key_per_process() -> None:
    first, second = signing_key(None, debug=True), signing_key(None, debug=True)
    assert len(first) == len(second) == 32 and first != second
    assert signing_key("k" * 32, debug=False) == b"k" * 32
