"""Secret generation, hashing and comparison: the only module that touches secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import re
import secrets

import pytest

from oauth_middleware import security


@pytest.mark.rule("rest.randomness")
def test_tokens_carry_256_random_bits_in_a_url_safe_alphabet() -> None:
    grant = security.new_grant_id()
    token = security.new_token(grant)
    gid, secret = token.split(".")
    assert gid == grant
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert len({security.new_token(grant) for _ in range(100)}) == 100


@pytest.mark.rule("rest.randomness")
def test_refresh_tokens_carry_256_random_bits_and_a_seal_only_their_grants_key_makes() -> None:
    grant, key = security.new_grant_id(), security.new_seal_key()
    token = security.new_refresh_token(grant, key)
    assert security.grant_id_of(token) == grant
    secret = token.split(".")[1]
    random_part, seal = secret[:-security.SEAL_CHARS], secret[-security.SEAL_CHARS:]
    assert len(base64.urlsafe_b64decode(random_part + "=")) == 32
    assert len(base64.urlsafe_b64decode(seal + "==")) == 16
    assert security.sealed_by(token, key)
    assert not security.sealed_by(token, security.new_seal_key())
    assert not security.sealed_by(token[:-1] + ("A" if token[-1] != "A" else "B"), key)
    other = security.new_grant_id()  # the same secret under another grant id
    assert not security.sealed_by(f"{other}.{secret}", key)
    assert not security.sealed_by(security.new_token(grant), key)
    assert not security.sealed_by(token, "")
    assert not security.sealed_by("", key)
    assert len({security.new_refresh_token(grant, key) for _ in range(100)}) == 100


def _sealed_with(key: bytes, body: str) -> str:
    """``body`` with a seal computed here, as whoever knew ``key`` could."""
    mac = hmac.new(key, body.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()[:16]
    return body + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def test_a_grant_without_a_seal_key_or_with_a_broken_one_recognises_no_refresh_token() -> None:
    """Older grant records have no key (""): a token sealed with the empty key, which anyone
    can make, must not pass for one of theirs; nor anything under a key that is not hex."""
    body = f"{security.new_grant_id()}.{security.new_secret()}"
    assert not security.sealed_by(_sealed_with(b"", body), "")
    key = security.new_seal_key()
    assert security.sealed_by(_sealed_with(bytes.fromhex(key), body), key)
    for broken in ("not-hex", key + "0", "zz" * 32):
        assert not security.sealed_by(_sealed_with(broken.encode(), body), broken)
        assert not security.sealed_by(_sealed_with(b"", body), broken)


@pytest.mark.parametrize("nbytes", [12, 16, 24, 48])
def test_a_secret_carries_the_number_of_random_bytes_asked_for(nbytes: int) -> None:
    value = security.new_secret(nbytes)
    assert len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) == nbytes


def test_secrets_with_bytes_that_are_no_utf8_are_hashed_as_those_bytes_never_refused() -> None:
    """A command-line argument of invalid UTF-8 reaches Python as lone surrogates
    (surrogateescape): hashing and comparing it works on the original bytes."""
    odd = "tok\udcff"
    assert security.digest(odd) == hashlib.sha256(b"tok\xff").hexdigest()
    assert security.constant_time_equals(odd, b"tok\xff")
    assert security.constant_time_equals(b"tok\xff", odd)
    assert not security.constant_time_equals(odd, "tok\ufffd")
    stored = security.hash_client_secret(odd, salt="ab")
    assert stored == "sha256$ab$" + hashlib.sha256(b"ab$tok\xff").hexdigest()
    assert security.verify_client_secret(stored, odd)
    assert not security.verify_client_secret(stored, "tok\ufffd")
    key = security.new_seal_key()
    sealed = _sealed_with(bytes.fromhex(key), f"{security.new_grant_id()}.{odd * 12}")
    assert security.sealed_by(sealed, key)
    forged = sealed[:-security.SEAL_CHARS] + "A" * security.SEAL_CHARS
    assert not security.sealed_by(forged, key)


@pytest.mark.rule("token.client-auth.url-safe-ids", "rest.randomness")
def test_generated_client_ids_and_secrets_are_url_safe() -> None:
    for value in (security.new_client_id(), security.new_secret()):
        assert security.is_urlsafe(value)
    assert len(base64.urlsafe_b64decode(security.new_secret() + "=")) == 32


@pytest.mark.rule("rest.randomness")
def test_randomness_comes_from_secrets_only() -> None:
    source = inspect.getsource(security)
    assert "import secrets" in source
    assert "import random" not in source and "uuid" not in source


@pytest.mark.rule("rest.no-raw-secrets")
def test_digest_and_fingerprint() -> None:
    assert security.digest("abc") == hashlib.sha256(b"abc").hexdigest()
    assert security.fingerprint("abc") == security.digest("abc")[: security.FINGERPRINT_CHARS]


@pytest.mark.rule("rest.no-raw-secrets")
def test_client_secret_hash_describes_itself_and_verifies() -> None:
    stored = security.hash_client_secret("s3cret")
    method, salt, value = stored.split("$")
    assert method == "sha256" and len(salt) == 32 and len(value) == 64
    assert "s3cret" not in stored
    assert security.verify_client_secret(stored, "s3cret")
    assert not security.verify_client_secret(stored, "s3creT")
    assert security.hash_client_secret("s3cret") != stored  # salted


@pytest.mark.parametrize("stored", [None, "", "sha256", "md5$salt$x", "sha256$$x", "sha256$s$"])
@pytest.mark.rule("rest.no-raw-secrets")
def test_malformed_stored_hashes_fail_closed(stored: str | None) -> None:
    assert not security.verify_client_secret(stored, "anything")


@pytest.mark.rule("rest.constant-time")
def test_constant_time_equals_handles_mixed_types() -> None:
    assert security.constant_time_equals("abc", b"abc")
    assert not security.constant_time_equals("abc", "abd")
    assert not security.constant_time_equals("abc", "abcd")


@pytest.mark.rule("auth.pkce.s256-only")
def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert security.pkce_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.rule("rest.randomness")
def test_ids_carry_their_documented_bits_and_never_start_with_a_dash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An id typed on a command line must not read as an option: a dash first is redrawn."""
    assert len(base64.urlsafe_b64decode(security.new_client_id() + "==")) == (
        security.CLIENT_ID_BYTES)
    assert len(base64.urlsafe_b64decode(security.new_grant_id() + "==")) == (
        security.GRANT_ID_BYTES)
    asked: list[int | None] = []
    drawn = iter(["-first", "--second", "third"])

    def token_urlsafe(nbytes: int | None = None) -> str:
        asked.append(nbytes)
        return next(drawn)

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    assert security.new_client_id() == "third"
    assert asked == [security.CLIENT_ID_BYTES] * 3

