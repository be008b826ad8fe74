"""HTML for the demo's own pages (home, login, client app), with the server's page headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from oauth_middleware.identity import logged_in_user
from oauth_middleware.server.responses import HTML_HEADERS, redirect

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True))


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200
         ) -> Response:
    # Who is signed in comes from the session only: a bearer token sent along is nobody's login.
    name = logged_in_user(request)
    user = request.scope.get("user") if name is not None else None
    html = _ENV.get_template(template).render(
        user=name, logout_token=getattr(user, "logout_token", ""), **context)
    return HTMLResponse(html, status_code=status_code, headers=HTML_HEADERS)


def see_other(url: str) -> Response:
    return redirect(url)
