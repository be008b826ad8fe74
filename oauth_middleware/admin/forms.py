"""Reading the admin's HTML forms: bounded ``application/x-www-form-urlencoded`` bodies only.

The body is read up to a limit and parsed strictly (UTF-8, a capped number of
fields, no NUL), so a hostile or broken form is a 4xx page, never a 500.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from oauth_middleware.admin.refusals import Refusal, TooLarge
from oauth_middleware.content_length import BodyGone, BodyTooLarge, read_bounded

FORM_TYPE = "application/x-www-form-urlencoded"
#: Bytes of form body accepted.
MAX_BODY = 64 * 1024
#: Fields accepted in one form.
MAX_FIELDS = 200


class Form:
    """The submitted fields, in order; absent fields read as the empty string."""

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        self.pairs = pairs or []

    def get(self, name: str) -> str:
        """The first value of ``name``, without surrounding whitespace."""
        return next((v.strip() for k, v in self.pairs if k == name), "")

    def raw(self, name: str) -> str:
        """The first value of ``name`` exactly as sent (multi-line text)."""
        return next((v for k, v in self.pairs if k == name), "")

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for k, v in self.pairs if k == name]

    def checked(self, name: str) -> bool:
        return bool(self.get(name))

    def has(self, name: str) -> bool:
        """Whether the form sent ``name`` at all (an absent field keeps what is stored)."""
        return any(k == name for k, _ in self.pairs)


async def read_form(request: Request, limit: int = MAX_BODY) -> Form:
    """The request's form, or a :class:`Refusal` for a wrong type, size or encoding."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if not kind and declared in ("", "0") and "transfer-encoding" not in request.headers:
        return Form()  # a POST without a body: an empty form (which no CSRF check passes)
    if kind != FORM_TYPE:
        raise Refusal(f"Forms must be sent as {FORM_TYPE}.")
    try:
        body = await read_bounded(request, limit)
    except ValueError:
        raise Refusal("The Content-Length header is malformed.") from None
    except BodyTooLarge:
        raise TooLarge("The form is too large.") from None
    except BodyGone:  # the browser went away: a refusal, not an ASGI exception
        raise Refusal("The browser went away before the form was read.") from None
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True,
                          errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Refusal("The form could not be read.") from None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise Refusal("The form could not be read.")
    return Form(pairs)
