"""The shared CSRF tokens: bound to exactly what they protect, signed, expiring, salted."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from oauth_middleware.csrf import MAX_LENGTH, CsrfTokens
from tests.conftest import FakeClock

KEY = b"k" * 32


def test_tokens_verify_only_for_their_exact_binding(clock: FakeClock) -> None:
    tokens = CsrfTokens(KEY, salt="a", max_age=60, clock=clock)
    token = tokens.issue("alice", "txn-1")
    assert tokens.verify(token, "alice", "txn-1")
    assert not tokens.verify(token, "alice", "txn-2")
    assert not tokens.verify(token, "alice")
    assert not tokens.verify(token, "alice:txn-1")
    assert not tokens.verify(None, "alice", "txn-1")
    assert not tokens.verify("x" * (MAX_LENGTH + 1), "alice", "txn-1")
    assert tokens.issue("alice", "txn-1") != token  # a fresh nonce each time


def test_tokens_expire_by_the_injected_clock(clock: FakeClock) -> None:
    tokens = CsrfTokens(KEY, salt="a", max_age=60, clock=clock)
    token = tokens.issue("alice")
    clock.advance(60)
    assert tokens.verify(token, "alice")
    clock.advance(1)
    assert not tokens.verify(token, "alice")


def test_salts_keep_uses_apart(clock: FakeClock) -> None:
    consent = CsrfTokens(KEY, salt="consent", max_age=60, clock=clock)
    admin = CsrfTokens(KEY, salt="admin", max_age=60, clock=clock)
    assert not admin.verify(consent.issue("alice"), "alice")
    assert not CsrfTokens(b"j" * 32, salt="consent", max_age=60, clock=clock).verify(
        consent.issue("alice"), "alice")


def test_tokens_carry_256_random_bits_and_an_hmac_sha256_signature(clock: FakeClock) -> None:
    tokens = CsrfTokens(KEY, salt="a", max_age=60, clock=clock)
    token = tokens.issue("alice")
    payload, _timestamp, signature = token.rsplit(".", 2)
    # itsdangerous compresses a payload (and marks it with a leading ".") when that is
    # shorter, which depends on the random nonce: read both forms.
    compressed = payload.startswith(".")
    payload = payload.removeprefix(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    nonce = json.loads(zlib.decompress(raw) if compressed else raw)[1]
    assert len(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))) == 32
    assert len(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))) == 32


@pytest.mark.parametrize("payload", [
    {"binding": "x"}, {"a": 1, "b": 2}, ["only one"], [1, "nonce"], ["a", "b", "c"], "a string",
])
@pytest.mark.rule("auth.csrf.transaction")
def test_a_signed_token_of_another_shape_is_refused(clock: FakeClock, payload: object) -> None:
    """Signed with the very key and salt (an older format, another use of the key): still
    only the one payload shape, [binding, nonce], can verify."""
    tokens = CsrfTokens(KEY, salt="a", max_age=60, clock=clock)
    forged = tokens._serializer.dumps(payload)
    assert not tokens.verify(forged)
    assert not tokens.verify(forged, "x")
