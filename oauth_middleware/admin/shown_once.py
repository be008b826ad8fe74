"""The one page that shows a secret: right after it was created, never again (DESIGN decision 3).

Only its digest or hash is stored, so this answer is the one chance to copy it;
like every admin page it is ``Cache-Control: no-store``, so no cache keeps it.
"""

from __future__ import annotations

from starlette.responses import Response

from oauth_middleware.admin.request import AdminRequest, client_path
from oauth_middleware.models import IssuedTokens
from oauth_middleware.toolbox import IssuedCode, RegisteredClient


def _page(req: AdminRequest, client_id: str, heading: str,
          secrets: list[tuple[str, str, str]], facts: list[tuple[str, str]]) -> Response:
    return req.render("shown_once.html", section="clients", heading=heading,
                      client_id=client_id, secrets=secrets, facts=facts,
                      back=req.href(client_path(client_id)))


def client_secret(req: AdminRequest, registered: RegisteredClient, heading: str) -> Response:
    client = registered.client
    return _page(req, client.client_id, heading,
                 [("Client secret", "client-secret", registered.client_secret or "")],
                 [("Client id", client.client_id), ("Title", client.title)])


def tokens(req: AdminRequest, issued: IssuedTokens) -> Response:
    token = issued.token
    secrets = [("Access token", "access-token", issued.access_token)]
    if issued.refresh_token is not None:
        secrets.append(("Refresh token", "refresh-token", issued.refresh_token))
    subject = token.subject if token.subject_type == "user" else f"{token.subject} (the client)"
    expires = token.expires_in(req.store.clock())
    return _page(req, token.client_id, "Token issued", secrets, [
        ("Client id", token.client_id), ("For", subject),
        ("Scopes", " ".join(sorted(token.scopes))), ("Fingerprint", token.fingerprint),
        ("Expires in", "never" if expires is None else f"{expires} s"),
    ])


def code(req: AdminRequest, issued: IssuedCode) -> Response:
    return _page(req, issued.client_id, "Authorization code issued",
                 [("Authorization code", "authorization-code", issued.code)], [
                     ("Client id", issued.client_id), ("For", issued.user),
                     ("Redirect URI", issued.redirect_uri),
                     ("Scopes", " ".join(sorted(issued.scopes))),
                     ("PKCE challenge (S256)", issued.code_challenge or "none"),
                     ("Expires in", f"{issued.expires_in} s, single use"),
                 ])
