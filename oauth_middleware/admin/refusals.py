"""Why the admin turns a request away, as exceptions the app renders once (RFC 9110 §15.5).

Raised deep (access checks, form reading, CSRF, lookups) and turned into an HTML
page with the right status in exactly one place, ``app.AdminApp``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar


class Refusal(Exception):
    """A request the admin will not serve; ``message`` is fixed text shown on the page."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        return {}


class Forbidden(Refusal):
    status_code = 403
    title = "Forbidden"


class NotFound(Refusal):
    status_code = 404
    title = "Not found"


class Conflict(Refusal):
    """What the form was built on changed meanwhile (RFC 9110 §15.5.10): nothing was saved."""

    status_code = 409
    title = "Changed meanwhile"


class MethodNotAllowed(Refusal):
    status_code = 405
    title = "Method not allowed"

    def __init__(self, allowed: Iterable[str]) -> None:
        super().__init__("This address does not answer that method.")
        self.allowed = sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set()))

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class TooLarge(Refusal):
    status_code = 413
    title = "Request too large"


class Unavailable(Refusal):
    """The store cannot be reached: fail closed, tell the browser when to come back."""

    status_code = 503
    title = "Temporarily unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__("The token store cannot be reached right now. Try again in a moment.")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
