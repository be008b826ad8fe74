"""``signing.sign_compact``: the one place ID tokens and JWT access tokens are signed.

Every token is checked with joserfc's own reader, as a relying party would; the rotation
test signs through the store-backed key ring on every store backend.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from oauth_middleware import signing
from oauth_middleware.keyring import StoreKeys
from oauth_middleware.keyring._stored import REFRESH_EVERY
from oauth_middleware.models import Client
from oauth_middleware.server.oidc import id_token
from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock

CLAIMS = {"iss": "https://as.example", "sub": "alice", "aud": "web", "iat": 1, "exp": 2,
          "nonce": "n\u00e9", "amr": ["pwd"]}


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return header


@pytest.mark.parametrize(("alg", "key"), [
    ("ES256", lambda: ECKey.generate_key("P-256", parameters={"kid": "e1"})),
    ("RS256", lambda: RSAKey.generate_key(2048, parameters={"kid": "r1"})),
])
def test_a_signed_token_verifies_with_joserfc_and_names_its_key_and_type(
    alg: str, key: Any
) -> None:
    made = key()
    token = signing.sign_compact(made, alg, "at+jwt", CLAIMS)
    decoded = jwt.decode(token, made, algorithms=[alg])
    assert decoded.claims == CLAIMS
    assert header_of(token) == {"alg": alg, "typ": "at+jwt", "kid": made.kid}
    other = ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)
    with pytest.raises(BadSignatureError):
        jwt.decode(token, other, algorithms=[alg])


def test_a_key_of_another_type_or_curve_than_the_alg_signs_nothing() -> None:
    """Refused every time: a refused key is never remembered as checked, and a key
    remembered for one algorithm is checked again for another."""
    good = ECKey.generate_key("P-256", parameters={"kid": "e1"})
    signing.sign_compact(good, "ES256", "JWT", CLAIMS)
    wrong: list[tuple[Any, str]] = [
        (ECKey.generate_key("P-256"), "RS256"), (ECKey.generate_key("P-384"), "ES256"),
        (RSAKey.generate_key(2048), "ES256"), (good, "RS256"), (good, "ES384")]
    for _ in range(2):
        for key, alg in wrong:
            with pytest.raises(JoseError):
                signing.sign_compact(key, alg, "JWT", CLAIMS)


def test_the_payload_is_compact_utf8_json_whichever_token_came_before() -> None:
    """The one shared encoder keeps no state between tokens: each payload is exactly
    its own claims, without spaces or ``\\u`` escapes."""
    key = ECKey.generate_key("P-256", parameters={"kid": "e1"})
    for claims in (CLAIMS, {"sub": "b\u00f6b", "aud": ["x", "y"]}, CLAIMS):
        payload = signing.sign_compact(key, "ES256", "JWT", claims).split(".")[1]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert raw == json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()


def test_claims_that_are_not_json_are_refused_not_signed() -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "e1"})
    with pytest.raises(ValueError, match="not JSON compliant"):
        signing.sign_compact(key, "ES256", "JWT", {"exp": float("inf")})
    with pytest.raises(TypeError):
        signing.sign_compact(key, "ES256", "JWT", {"exp": object()})


def test_the_header_memo_is_bounded_and_each_token_names_its_own_key() -> None:
    """More kids than the memo holds: it never grows past its bound, and a header is never
    taken from another key's entry (each token verifies with its own key only)."""
    signing._HEADERS.clear()
    keys: list[Any] = [ECKey.generate_key("P-256", parameters={"kid": f"k{n}"})
            for n in range(signing.HEADER_MEMO_SIZE + 5)]
    for key in keys + keys[:3]:
        token = signing.sign_compact(key, "ES256", "JWT", CLAIMS)
        assert header_of(token)["kid"] == key.kid
        assert jwt.decode(token, KeySet(keys), algorithms=["ES256"]).claims == CLAIMS
        assert len(signing._HEADERS) <= signing.HEADER_MEMO_SIZE
    kidless = ECKey.generate_key("P-256")
    kidless_header = header_of(signing.sign_compact(kidless, "ES256", "JWT", CLAIMS))
    assert kidless_header.get("kid", kidless.kid) == kidless.kid


@pytest.mark.rule("jwks.rotation")
async def test_id_tokens_after_a_rotation_name_and_verify_with_the_new_key_only(
    store: TokenStore, clock: FakeClock
) -> None:
    """A rotation by another worker (the CLI) is signed with here within ``refresh_every``:
    the remembered header of the old key is never put on a token the new key signs."""
    here, cli = StoreKeys(store, b"s" * 32), StoreKeys(store, b"s" * 32)
    client = Client(client_id="web", title="Web", id_token_signed_response_alg="ES256")
    old = await here.signing_key("ES256")
    before = await id_token.sign(here, client, CLAIMS)
    (made,) = await cli.rotate(["ES256"])
    clock.advance(REFRESH_EVERY)
    after = await id_token.sign(here, client, CLAIMS)
    new = await here.signing_key("ES256")
    assert header_of(before)["kid"] == old.kid and header_of(after)["kid"] == made.kid
    assert jwt.decode(after, new, algorithms=["ES256"]).claims == CLAIMS
    with pytest.raises(BadSignatureError):
        jwt.decode(after, old, algorithms=["ES256"])
    published = KeySet.import_key_set(await here.public_jwks())  # type: ignore[arg-type]
    for token in (before, after):  # both verify against the published set by their kid
        assert jwt.decode(token, published, algorithms=["ES256"]).claims == CLAIMS


def test_the_memo_keeps_no_private_key_alive_and_a_reused_id_is_checked_again() -> None:
    """A retired key dropped by its ring is freed (the memo holds it weakly); whatever
    object later gets its id is checked and given its own header, never the old one's."""
    import gc
    import weakref

    signing._HEADERS.clear()
    key = ECKey.generate_key("P-256", parameters={"kid": "old"})
    signing.sign_compact(key, "ES256", "JWT", CLAIMS)
    gone = weakref.ref(key)
    slot = ("ES256", "JWT", id(key))
    del key
    gc.collect()
    assert gone() is None and signing._HEADERS[slot][0]() is None
    for _ in range(50):  # CPython hands freed ids out again; try to land on the old one
        new = ECKey.generate_key("P-256", parameters={"kid": "new"})
        token = signing.sign_compact(new, "ES256", "JWT", CLAIMS)
        assert header_of(token)["kid"] == "new"
        assert jwt.decode(token, new, algorithms=["ES256"]).claims == CLAIMS
