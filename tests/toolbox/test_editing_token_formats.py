"""``update_client`` changes how a client's tokens look: the access token format and its
algorithm (RFC 9068), and the ID token algorithm (OpenID Connect Dynamic Client Registration
1.0 §2); None keeps each. Both store backends."""

from __future__ import annotations

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.toolbox import update_client

CB = "https://a.example/cb"


async def formats(store: TokenStore) -> tuple[str, str, str]:
    client = await store.get_client("app")
    assert client is not None
    return (client.access_token_format, client.access_token_alg,
            client.id_token_signed_response_alg)


async def test_an_edit_switches_formats_and_algorithms_and_none_keeps_them(
    store: TokenStore,
) -> None:
    await register_client(store, "App", "app", CB)
    await update_client(store, "app", access_token_format="jwt", access_token_alg="ES256",
                        id_token_signed_response_alg="ES256")
    assert await formats(store) == ("jwt", "ES256", "ES256")
    await update_client(store, "app", title="App 2")
    assert await formats(store) == ("jwt", "ES256", "ES256")
    await update_client(store, "app", access_token_alg="")
    assert await formats(store) == ("jwt", "", "ES256")
    await update_client(store, "app", access_token_alg="ES256")
    await update_client(store, "app", access_token_format="opaque",
                        id_token_signed_response_alg="")
    assert await formats(store) == ("opaque", "", "")


@pytest.mark.parametrize(("options", "message"), [
    ({"access_token_format": "paseto"}, "access_token_format is one of opaque, jwt"),
    ({"access_token_alg": "HS256", "access_token_format": "jwt"},
     "access_token_alg is one of RS256, ES256"),
    ({"access_token_alg": "ES256"}, "access_token_alg needs access_token_format='jwt'"),
    ({"access_token_format": "opaque", "access_token_alg": "RS256"},
     "access_token_alg needs access_token_format='jwt'"),
    ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg must be one of"),
    ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg must be one of"),
])
async def test_a_refused_format_changes_nothing(
    store: TokenStore, options: dict[str, str], message: str
) -> None:
    await register_client(store, "App", "app", CB)
    before = await store.get_client("app")
    with pytest.raises(ValueError, match=message):
        await update_client(store, "app", **options)  # type: ignore[arg-type]
    assert await store.get_client("app") == before
