"""Signed, expiring CSRF tokens bound to what they protect (RFC 6749 §10.12).

One implementation for the consent form (bound to the user and the pending
transaction) and the admin's forms (bound to the signed-in admin). A token is an
itsdangerous-signed, timestamped value: it is refused for any other binding,
after ``max_age`` seconds, or when its signature does not verify. The salt keeps
each use apart from every other signature made with the same secret key, and
the timestamps come from the store's clock so tests move time instead of sleeping.
Each token carries 256 random bits from :mod:`secrets` and is signed with
HMAC-SHA256 (itsdangerous defaults to SHA-1).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from oauth_middleware.security import constant_time_equals, digest, new_secret

#: Longest token accepted; anything longer is not one of ours.
MAX_LENGTH = 512


class _ClockedSigner(TimestampSigner):
    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


class CsrfTokens:
    """Issues and checks tokens bound to a tuple of values (user, transaction, ...)."""

    def __init__(self, secret_key: bytes, *, salt: str, max_age: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt=salt, signer=_ClockedSigner,
            signer_kwargs={"clock": clock, "digest_method": hashlib.sha256})

    @staticmethod
    def _binding(values: tuple[str, ...]) -> str:
        return digest(":".join(digest(v) for v in values))

    def issue(self, *bound_to: str) -> str:
        return self._serializer.dumps([self._binding(bound_to), new_secret()])

    def verify(self, token: str | None, *bound_to: str) -> bool:
        """True only for an unexpired token this key signed for exactly ``bound_to``."""
        if not token or len(token) > MAX_LENGTH:
            return False
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except BadData:
            return False
        if not isinstance(data, list) or len(data) != 2 or not isinstance(data[0], str):
            return False
        return constant_time_equals(data[0], self._binding(bound_to))
