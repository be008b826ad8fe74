"""The audit trail, newest first: filtered by user, client and type, a page at a time.

The cursor is the id of the last event shown (``<ms>-<seq>``, checked here); the next
page reads the stream before it with ``XREVRANGE``, so pages stay stable while new
events arrive. Read-only: the stream is trimmed by its own bound, never from here.
"""

from __future__ import annotations

import re

from starlette.responses import Response

from oauth_middleware.admin.refusals import Refusal
from oauth_middleware.admin.request import AdminRequest
from oauth_middleware.audit import EVENT_TYPES, AuditTrail

#: A stream entry id: milliseconds and a sequence number.
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
#: Longest search value kept (user ids and client ids are shorter).
MAX_QUERY = 300


def search_of(req: AdminRequest) -> dict[str, str]:
    """The filters from the query string; an unknown type is refused, not ignored."""
    get = req.request.query_params.get
    search = {name: (get(name) or "").strip()[:MAX_QUERY] for name in ("user", "client", "type")}
    if search["type"] and search["type"] not in EVENT_TYPES:
        raise Refusal("There is no event of that type.")
    return search


async def listing(req: AdminRequest) -> Response:
    search = search_of(req)
    cursor = req.request.query_params.get("cursor", "") or ""
    if cursor and not _ENTRY_ID.fullmatch(cursor):
        raise Refusal("The page cursor is not valid.")
    trail = req.config.audit or AuditTrail(req.store)
    events, next_cursor = await trail.page(
        before=cursor or None, count=req.config.page_size,
        match={k: v for k, v in search.items() if v})
    return req.render("events.html", section="events", search=search, cursor=cursor,
                      next_cursor=next_cursor, events=events, types=sorted(EVENT_TYPES))
