"""CSRF tokens for every state-changing form of the admin (RFC 6749 §10.12's advice, applied).

A token is an itsdangerous-signed, timestamped value bound to the signed-in
admin: it is refused for anyone else, after ``max_age`` seconds, or when its
signature does not verify. No state is kept; the signature is the proof.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from oauth_middleware.security import constant_time_equals, digest, new_secret

#: The form field every POST carries.
FIELD = "csrf_token"
#: Seconds a page's forms stay usable (a working day).
MAX_AGE = 8 * 3600
#: Longest token accepted; anything longer is not one of ours.
MAX_LENGTH = 512


class _ClockSigner(TimestampSigner):
    """A timestamp signer reading the store's clock, so tests move time instead of sleeping."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


class CsrfTokens:
    """Issues and checks the tokens; the salt keeps them apart from every other signed value."""

    def __init__(self, secret_key: bytes, *, max_age: int = MAX_AGE,
                 clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="oauth_middleware.admin.csrf", signer=_ClockSigner,
            signer_kwargs={"clock": clock})
        self.max_age = max_age

    def issue(self, user: str) -> str:
        return self._serializer.dumps([digest(user), new_secret(16)])

    def verify(self, user: str, token: str) -> bool:
        """True only for an unexpired token this key signed for ``user``."""
        if not token or len(token) > MAX_LENGTH:
            return False
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except BadData:
            return False
        if not isinstance(data, list) or len(data) != 2 or not isinstance(data[0], str):
            return False
        return constant_time_equals(data[0], digest(user))
