"""The demo's two users. A real app has its own user store; the server only needs hooks.

``verify_password`` and ``is_admin`` serve the login and the admin; ``userinfo`` is the
OpenID Provider's claims hook (OpenID Connect Core 1.0 §5.1): the server keeps only the
claims the granted scopes cover, so it may answer everything it knows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from oauth_middleware.security import constant_time_equals, new_secret


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str = field(repr=False)
    salt: str = field(repr=False)
    is_admin: bool = False


def _hash(password: str, salt: str) -> str:
    return hashlib.scrypt(password.encode(), salt=salt.encode(), n=2**12, r=8, p=1).hex()


def _user(username: str, password: str, *, is_admin: bool = False) -> User:
    salt = new_secret(16)
    return User(username, _hash(password, salt), salt, is_admin)


USERS: dict[str, User] = {
    user.username: user
    for user in (_user("alice", "alice-password", is_admin=True), _user("bob", "bob-password"))
}
_DUMMY = _user("nobody", new_secret())


def verify_password(username: str, password: str) -> str | None:
    """The ``verify_password`` hook: the user id, or None (same work for unknown users)."""
    user = USERS.get(username, _DUMMY)
    ok = constant_time_equals(_hash(password, user.salt), user.password_hash)
    return user.username if ok and user is not _DUMMY else None


#: What the demo knows of each user, as standard claims (OpenID Connect Core 1.0 §5.1).
CLAIMS: dict[str, dict[str, object]] = {
    "alice": {"name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell",
              "preferred_username": "alice", "email": "alice@example.com",
              "email_verified": True, "phone_number": "+44 1865 000000",
              "phone_number_verified": False,
              "address": {"locality": "Oxford", "country": "GB"}},
    "bob": {"name": "Bob Builder", "given_name": "Bob", "family_name": "Builder",
            "preferred_username": "bob", "email": "bob@example.com",
            "email_verified": False},
}


def userinfo(user_id: str, scopes: frozenset[str]) -> dict[str, object]:
    """The ``userinfo`` hook: every claim known; the server filters them by ``scopes``."""
    return CLAIMS.get(user_id, {})


def is_admin(username: str | None) -> bool:
    user = USERS.get(username or "")
    return bool(user and user.is_admin)
