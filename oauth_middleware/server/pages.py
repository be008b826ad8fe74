"""HTML pages of the authorization endpoint: consent and errors (RFC 6749 §3.1, §4.1.2.1).

Jinja2 renders them with autoescaping forced on for every template, whatever
its file name, so a client title or scope title can never inject markup. A
user's template directory (``AuthorizationServer(templates=...)``) is searched
before the built-in one, so any page can be replaced by a file of the same
name (``consent.html``, ``error.html``, or the shared ``base.html``). Every page
carries :data:`~oauth_middleware.web.HTML_HEADERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from starlette.responses import Response

from oauth_middleware.errors import OAuthError, ServerError, TemporarilyUnavailable
from oauth_middleware.models import Client, Scope
from oauth_middleware.server import consent
from oauth_middleware.web import html_response, safe_link

BUILTIN_TEMPLATES = Path(__file__).resolve().parent / "templates"
_FIELDS = {
    "transaction": consent.TRANSACTION_FIELD, "csrf_token": consent.CSRF_FIELD,
    "scope": consent.SCOPE_FIELD, "decision": consent.DECISION_FIELD,
}


def document_host(client: Client) -> str | None:
    """The host of a metadata-document client's id (CIMD draft §6.3: show it), else None."""
    return urlsplit(client.client_id).netloc if ":" in client.client_id else None


def redirect_host(uri: str) -> str:
    """What to tell the user about where the answer goes: the host, or a private-use scheme."""
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}:"


def _days(seconds: int | None) -> int | None:
    """How long an approval is remembered, in whole days (at least one), for the page."""
    return None if seconds is None else max(1, round(seconds / 86_400))


class Pages:
    """Renders the endpoint's pages from the user's templates first, then the built-in ones."""

    def __init__(self, templates: Path | None = None) -> None:
        loaders: list[BaseLoader] = []
        if templates is not None:
            if not templates.is_dir():
                raise ValueError(f"templates={str(templates)!r} is not a directory: pass the "
                                 "folder holding your consent.html / error.html overrides")
            loaders.append(FileSystemLoader(templates))
        loaders.append(FileSystemLoader(BUILTIN_TEMPLATES))
        self.env = Environment(
            loader=ChoiceLoader(loaders), autoescape=True, undefined=StrictUndefined,
        )

    def render(self, name: str, status_code: int = 200, **context: object) -> Response:
        return html_response(self.env.get_template(name).render(**context), status_code)

    def consent(
        self, *, client: Client, scopes: Sequence[Scope], user: str, redirect_uri: str,
        action: str, transaction: str, csrf_token: str, resources: Sequence[str] = (),
        remember: int | None = None,
        ui_locales: Sequence[str] = (),
    ) -> Response:
        return self.render(
            "consent.html", client=client, client_link=safe_link(client.link), scopes=scopes,
            client_host=document_host(client),
            user=user, redirect_to=redirect_host(redirect_uri), action=action,
            fields=_FIELDS, transaction=transaction, csrf_token=csrf_token,
            resources=resources, remember_days=_days(remember), ui_locales=ui_locales,
        )

    def error(self, exc: OAuthError) -> Response:
        """An error the user sees because it must not (or cannot) go to the client."""
        response = self.render("error.html", exc.status_code, status=exc.status_code,
                               error=exc.error, description=exc.description)
        response.headers.update(exc.headers)
        return response

    def unavailable(self, retry_after: int) -> Response:
        """503 + Retry-After while the store is down: a page, never a redirect."""
        return self.error(TemporarilyUnavailable(retry_after=retry_after))

    def server_error(self) -> Response:
        """A generic 500 that says nothing about the failure; rendered without user templates,
        so a broken override cannot fail again here."""
        exc = ServerError()
        html = (
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Server error</title></head><body><h1>Server error</h1>"
            f"<p id=\"description\">{exc.description}</p></body></html>"
        )
        return html_response(html, exc.status_code)
