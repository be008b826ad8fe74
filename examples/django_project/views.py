"""The example API's views: the token the middleware validated is ``get_access_token(request)``.

Django's ASGI request keeps the ASGI scope as ``request.scope``, which is where
:class:`~oauth_middleware.OAuthMiddleware` leaves the token, so the same helper as
in Starlette reads it.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed, JsonResponse

from oauth_middleware import AccessToken, get_access_token

#: In memory, per process, and bounded: an example, not a database.
items: deque[str] = deque(maxlen=100)


def current_token(request: HttpRequest) -> AccessToken:
    """The token the middleware validated for this request (its client, user and scopes)."""
    token = get_access_token(request)  # Django's ASGI request has .scope, like Starlette's
    if token is None:  # only on a route the mapping leaves open
        raise PermissionDenied("no token")
    return token


def health(request: HttpRequest) -> HttpResponseBase:
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    return JsonResponse({"status": "ok"})


def item_list(request: HttpRequest) -> HttpResponseBase:
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    token = current_token(request)
    if request.method == "GET":
        return JsonResponse({"items": list(items), "client": token.client_id,
                             "scopes": sorted(token.scopes)})
    name = _name(request.body)
    if name is None:
        return JsonResponse({"error": 'send JSON {"name": "..."}, 1 to 100 printable '
                                      "characters"}, status=400)
    items.append(name)
    return JsonResponse({"added": name, "by": token.client_id}, status=201)


def _name(body: bytes) -> str | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not 0 < len(name) <= 100 or not name.isprintable():
        return None
    return name
