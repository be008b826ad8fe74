"""CSRF tokens for every state-changing form of the admin (RFC 6749 §10.12's advice, applied).

A token is an itsdangerous-signed, timestamped value bound to the signed-in
admin: it is refused for anyone else, after ``max_age`` seconds, or when its
signature does not verify. No state is kept; the signature is the proof.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from oauth_middleware import csrf

#: The form field every POST carries.
FIELD = "csrf_token"
#: Seconds a page's forms stay usable (a working day).
MAX_AGE = 8 * 3600


class CsrfTokens(csrf.CsrfTokens):
    """The admin's tokens: bound to the signed-in admin (shared implementation, own salt)."""

    def __init__(self, secret_key: bytes, *, max_age: int = MAX_AGE,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(secret_key, salt="oauth_middleware.admin.csrf", max_age=max_age,
                         clock=clock)
