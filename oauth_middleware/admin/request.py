"""What a page handler gets: the request, the admitted user, the form, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware import request_id
from oauth_middleware.admin.config import AdminConfig
from oauth_middleware.admin.csrf import FIELD, CsrfTokens
from oauth_middleware.admin.forms import Form
from oauth_middleware.admin.rendering import NOTICES, render
from oauth_middleware.audit import AuditTrail, EventType, note
from oauth_middleware.store import TokenStore
from oauth_middleware.web import redirect


def href_under(root: str, path: str, **query: object) -> str:
    """A URL below ``root`` (the mount point); empty query values are left out."""
    params = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return f"{root}{path}?{urlencode(params)}" if params else f"{root}{path}"


def client_path(client_id: str, action: str = "") -> str:
    """The admin path of a client's page (or one of its actions)."""
    return f"/clients/{quote(client_id, safe='')}/{action}"


@dataclass
class AdminRequest:
    request: Request
    config: AdminConfig
    csrf: CsrfTokens
    user: str
    params: dict[str, str] = field(default_factory=dict)
    form: Form = field(default_factory=Form)

    @property
    def store(self) -> TokenStore:
        return self.config.store

    def href(self, path: str, **query: object) -> str:
        """A URL under the admin's mount point; empty query values are left out."""
        return href_under(self.request.scope.get("root_path", ""), path, **query)

    def render(self, template: str, status_code: int = 200, *, section: str = "",
               **context: object) -> Response:
        done = self.request.query_params.get("done", "") if self.request.method == "GET" else ""
        return render(
            template, status_code, user=self.user, nav=True, site_title=self.config.title,
            href=self.href, client_path=client_path, csrf_field=FIELD,
            csrf_token=self.csrf.issue(self.user), section=section, notice=NOTICES.get(done),
            **context,
        )

    @property
    def actor(self) -> str:
        """This admin, as audit events name who acted."""
        return f"admin:{self.user}"

    def trail(self) -> AuditTrail | None:
        """The admin's audit trail (None: it keeps none), its events carrying this
        request's id."""
        if self.config.audit is not None:
            request_id.adopt(self.request.scope)
        return self.config.audit

    async def audit(self, type: EventType, **fields: Any) -> None:
        """Record what this admin just changed (when the admin keeps a trail)."""
        await note(self.trail(), type, actor=self.actor, **fields)

    def see_other(self, path: str, **query: object) -> Response:
        """303 to an admin page: after a POST the browser GETs the result (never re-posts)."""
        return redirect(self.href(path, **query))
