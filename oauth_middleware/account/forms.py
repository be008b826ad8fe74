"""The connected-apps page's forms: bounded ``application/x-www-form-urlencoded`` bodies only.

A hostile or broken form (wrong type, too large, not ASCII, a field twice, a NUL) is a
4xx page that changes nothing, never a 500.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from oauth_middleware.content_length import BodyGone, BodyTooLarge, read_bounded

#: The form field carrying the CSRF token.
FIELD = "csrf_token"
FORM_TYPE = "application/x-www-form-urlencoded"
#: Bytes of form body accepted: the forms carry a token and an id.
MAX_BODY = 8 * 1024
MAX_FIELDS = 10


class Refused(Exception):
    """A request answered with a page saying why; nothing was changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields, each sent once; :class:`Refused` for anything else."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise Refused(400, f"Forms must be sent as {FORM_TYPE}. Nothing was changed.")
    try:
        body = await read_bounded(request, MAX_BODY)
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_FIELDS)
    except BodyTooLarge:
        raise Refused(413, "The form is too large. Nothing was changed.") from None
    except (BodyGone, UnicodeDecodeError, ValueError):
        raise Refused(400, "The form could not be read. Nothing was changed.") from None
    form = dict(pairs)
    if len(form) != len(pairs) or any("\x00" in k or "\x00" in v for k, v in pairs):
        raise Refused(400, "The form could not be read. Nothing was changed.")
    return form
