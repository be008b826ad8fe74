"""Secret generation, digests and constant-time comparison (RFC 6749 §10.10, RFC 9700 §4).

This is the only module that creates, hashes or compares a secret. Named
defaults below are the security policy; change them here, nowhere else.

Token format: ``<grant id>.<secret>``. The grant id is random, not secret, and
is the Redis hash tag that keeps every key of one grant in one cluster slot, so
the scripts that rotate and revoke a grant touch one slot (only a grant's keys
are co-located: see :mod:`oauth_middleware.store.keys`). The secret part carries
:data:`TOKEN_BYTES` bytes from :mod:`secrets`; a refresh token's secret ends
with a seal of its grant's key (:func:`new_refresh_token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets

#: Bytes of randomness in every token, code, transaction id and client secret (256 bits).
TOKEN_BYTES = 32
#: Bytes of randomness in a grant id (the public half of a token, 128 bits).
GRANT_ID_BYTES = 16
#: Bytes of randomness in a generated client id.
CLIENT_ID_BYTES = 18
#: Characters of a SHA-256 hex digest shown in logs and listings instead of a token.
FINGERPRINT_CHARS = 12
#: Characters of a whole SHA-256 hex digest (what :func:`digest` returns).
DIGEST_CHARS = 64
#: The hashing method recorded in stored client-secret hashes.
SECRET_HASH_METHOD = "sha256"

_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_SHAPE = re.compile(r"([A-Za-z0-9_-]{16,64})\.[A-Za-z0-9_-]{32,128}")


def new_secret(nbytes: int = TOKEN_BYTES) -> str:
    """A URL-safe random string (base64url, no padding) of ``nbytes`` random bytes."""
    return secrets.token_urlsafe(nbytes)


def _word(nbytes: int) -> str:
    """URL-safe random text that never starts with ``-``.

    Ids and tokens are typed as command-line arguments (``oauth-middleware
    client show ID``, ``curl``); one starting with a dash would read as an option.
    Redrawing the 1 in 64 values that start with one costs under 0.1 bit.
    """
    while (value := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return value


def new_grant_id() -> str:
    return _word(GRANT_ID_BYTES)


def new_token(grant_id: str) -> str:
    """A bearer token, refresh token or code that belongs to the grant ``grant_id``."""
    return f"{grant_id}.{secrets.token_urlsafe(TOKEN_BYTES)}"


#: Characters of the seal a refresh token carries after its random part (128-bit HMAC tag).
SEAL_CHARS = 22


def new_seal_key() -> str:
    """A grant's refresh-token sealing key (hex, 256 bits), stored with the grant's record."""
    return secrets.token_hex(TOKEN_BYTES)


def new_refresh_token(grant_id: str, seal_key: str) -> str:
    """A refresh token of the grant ``grant_id``, sealed with the grant's key (RFC 9700 §4.14.2).

    The seal lets the server recognise every refresh token the grant ever issued,
    current or rotated away, while storing only the current one's digest and the
    key: a rotated-away token presented again is then known for a replay of a
    real token (the family is revoked), and a made-up one with a real grant id
    is only unknown (the grant id is public: resource servers see it).
    """
    body = f"{grant_id}.{secrets.token_urlsafe(TOKEN_BYTES)}"
    return body + _seal(seal_key, body)


def sealed_by(token: str, seal_key: str) -> bool:
    """True when ``token`` carries a valid seal of ``seal_key`` (constant time)."""
    body, tag = token[:-SEAL_CHARS], token[-SEAL_CHARS:]
    if not seal_key or "." not in body:  # also every token too short to carry a seal
        return False
    try:
        seal = _seal(seal_key, body)
    except ValueError:  # not hex: no key new_seal_key made, so it sealed nothing
        return False
    return constant_time_equals(tag, seal)


def _seal(seal_key: str, body: str) -> str:
    mac = hmac.new(bytes.fromhex(seal_key), body.encode("utf-8", "surrogateescape"),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode("ascii")


def new_client_id() -> str:
    return _word(CLIENT_ID_BYTES)


def new_generation() -> str:
    """A client registration's generation: random, so a client id registered again never
    shares one with an earlier registration (not a secret: it only has to differ)."""
    return secrets.token_urlsafe(GRANT_ID_BYTES)


def grant_id_of(token: str) -> str | None:
    """The grant id a token names, or None when the value is not shaped like one of ours.

    A JWT access token of ours (RFC 9068) names its grant in its ``jti``
    (:func:`new_jwt_id`). Its signature is not checked here: the store holds the
    digest of every token it issued, so a made-up JWT naming a real grant finds nothing.
    """
    match = _TOKEN_SHAPE.fullmatch(token)
    if match:
        return match.group(1)
    return _jwt_grant_id(token) if token.count(".") == 2 else None


#: A JWT's ``jti`` as :func:`new_jwt_id` makes it: the grant id, a dot, 128 random bits.
_JTI_SHAPE = re.compile(r"([A-Za-z0-9_-]{16,64})\.[A-Za-z0-9_-]{22}")
#: Largest JWT payload read for its ``jti`` (a token is capped at 4096 characters anyway).
_MAX_PAYLOAD = 4096


def new_jwt_id(grant_id: str) -> str:
    """A JWT access token's ``jti`` (RFC 7519 §4.1.7): unique, naming its grant; not secret."""
    return f"{grant_id}.{secrets.token_urlsafe(16)}"


def _jwt_grant_id(token: str) -> str | None:
    payload = token.split(".")[1]
    if len(payload) > _MAX_PAYLOAD or not _URLSAFE.fullmatch(payload):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, RecursionError):  # binascii, UTF-8 and JSON errors are ValueErrors
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    match = _JTI_SHAPE.fullmatch(jti) if isinstance(jti, str) else None
    return match.group(1) if match else None


def digest(value: str) -> str:
    """SHA-256 hex digest: how tokens, codes and transaction ids are stored and looked up."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def fingerprint(value: str) -> str:
    """A short, non-reversible label for a secret, safe for logs and admin listings."""
    return digest(value)[:FINGERPRINT_CHARS]


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """The one place secrets are compared: constant time, False on any type mix-up."""
    a_bytes = a.encode("utf-8", "surrogateescape") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8", "surrogateescape") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def hash_client_secret(secret: str, *, salt: str | None = None) -> str:
    """A self-describing hash ``sha256$<salt>$<hex>`` of a high-entropy client secret.

    Client secrets we generate carry 256 random bits, so a fast salted hash is
    enough and keeps the token endpoint fast; a slow password hash would only
    cost throughput without adding safety against guessing.
    """
    salt = salt or secrets.token_hex(16)
    value = hashlib.sha256(f"{salt}${secret}".encode("utf-8", "surrogateescape")).hexdigest()
    return f"{SECRET_HASH_METHOD}${salt}${value}"


def verify_client_secret(stored: str | None, secret: str) -> bool:
    """True only when ``secret`` matches ``stored``; anything unexpected fails closed."""
    if not stored:
        return False
    method, _, rest = stored.partition("$")
    salt, _, expected = rest.partition("$")
    if method != SECRET_HASH_METHOD or not salt or not expected:
        return False
    return constant_time_equals(hash_client_secret(secret, salt=salt), stored)


def pkce_s256(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding (RFC 7636 §4.2).

    A verifier outside ASCII raises: callers check its shape first (RFC 7636 §4.1),
    and an error handler would only map distinct verifiers to one challenge.
    """
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def is_urlsafe(value: str) -> bool:
    return bool(_URLSAFE.fullmatch(value))


#: The hash behind each JWS algorithm's ``at_hash`` / ``c_hash`` (OpenID Connect Core 1.0
#: §3.1.3.6, §3.3.2.11): the one its signature uses (EdDSA's Ed25519: SHA-512).
_JWS_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def half_hash(value: str, alg: str) -> str:
    """``at_hash`` / ``c_hash``: base64url of the left half of the hash of ``value``'s ASCII."""
    make = hashlib.sha512 if alg == "EdDSA" else _JWS_HASHES.get(alg[-3:])
    if make is None:
        raise ValueError(f"no at_hash is defined for the JWS algorithm {alg!r}")
    raw = make(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw[: len(raw) // 2]).rstrip(b"=").decode("ascii")


def pairwise_subject(secret_key: bytes, sector: str, user: str) -> str:
    """A pairwise ``sub`` (OpenID Connect Core 1.0 §8.1): stable for one user and sector,
    unlinkable across sectors without ``secret_key``. HMAC, keyed by a key derived for this
    use only, over the length-prefixed sector and user (no two pairs give the same input)."""
    key = hmac.new(secret_key, b"oauth_middleware.oidc.pairwise", hashlib.sha256).digest()
    message = f"{len(sector)}:{sector}{user}".encode("utf-8", "surrogateescape")
    raw = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
