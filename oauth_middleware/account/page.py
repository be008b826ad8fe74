"""The connected-apps page's HTML: the person's grants grouped by client, and the headers.

Jinja2 with autoescaping forced on (client titles and scope titles are text people typed);
no script runs on the page, so the Content-Security-Policy allows none.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import Response

from oauth_middleware.account.forms import FIELD
from oauth_middleware.models import Client, RememberedConsent, Scope, UserGrant
from oauth_middleware.store import TokenStore
from oauth_middleware.web import html_response

#: No script, no plugin, no framing: the page needs only inline CSS.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                           "base-uri 'none'; frame-ancestors 'none'")
#: Fixed messages a redirect may ask for with ``?done=<key>``: request data is never echoed.
NOTICES: dict[str, str] = {
    "revoked": "Revoked: that app can no longer use what you granted it there.",
    "disconnected": "Disconnected: the app's access is revoked and it must ask you again.",
}


@dataclass(frozen=True)
class ConnectedApp:
    """One client as the person sees it: its grants and the consent remembered for it."""

    client_id: str
    title: str
    registered: bool
    grants: list[UserGrant]
    consent: RememberedConsent | None

    @property
    def last_used(self) -> float:
        return max([g.last_used for g in self.grants] + [self._consent_time])

    @property
    def _consent_time(self) -> float:
        return self.consent.updated_at if self.consent is not None else 0.0


def when(timestamp: float | None) -> str:
    """A stored time for people, in UTC."""
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


_ENV = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                   autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True)
_ENV.filters["when"] = when


def render(template: str, status_code: int = 200, **context: object) -> Response:
    response = html_response(_ENV.get_template(template).render(**context), status_code)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


async def connected_apps(store: TokenStore, user: str) -> list[ConnectedApp]:
    """Every client ``user`` has a live grant with or a remembered consent for, most
    recently used first."""
    grants = await store.list_user_grants(user)
    _, consents = await store.list_remembered_consents(user=user)
    remembered = {c.client_id: c for c in consents if c.user == user}
    by_client: dict[str, list[UserGrant]] = {}
    for grant in grants:
        by_client.setdefault(grant.client_id, []).append(grant)
    ids = sorted(set(by_client) | set(remembered))
    records: list[Client | None] = list(await asyncio.gather(*map(store.get_client, ids)))
    apps = [ConnectedApp(client_id=cid, title=record.title if record else cid,
                         registered=record is not None, grants=by_client.get(cid, []),
                         consent=remembered.get(cid))
            for cid, record in zip(ids, records, strict=True)]
    return sorted(apps, key=lambda app: (-app.last_used, app.client_id))


async def show(store: TokenStore, user: str, csrf_token: str, notice: str | None) -> Response:
    apps = await connected_apps(store, user)
    wanted = {s for app in apps for g in app.grants for s in g.scopes}
    wanted |= {s for app in apps if app.consent for s in app.consent.scopes}
    scopes: dict[str, Scope] = await store.get_scopes(wanted) if wanted else {}
    titles = {s: scopes[s].display_title if s in scopes else s for s in wanted}
    return render("connected_apps.html", user=user, apps=apps, titles=titles, notice=notice,
                  csrf_field=FIELD, csrf_token=csrf_token)
