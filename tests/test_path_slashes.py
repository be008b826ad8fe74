"""A scope key protects its path however many slashes the request doubles (RFC 3986 §3.3).

Werkzeug (Flask) merges repeated slashes before it routes: ``POST //items`` runs
the view of ``/items``. The middleware matched the path as sent, so ``//items``
matched no key: an anonymous caller or an ``items:read`` token reached the
``POST /items`` view of the Flask example (which appended the item, then refused
the anonymous one). Keys are now matched on the path with slashes merged.
"""

from __future__ import annotations

import httpx
import pytest
from flask import Flask, request

from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.wsgi import protect_wsgi
from tests.raw_asgi import call
from tests.redis_process import free_port
from tests.servers import UvicornProcess

SCOPES = {"GET /items": "items:read", "POST /items": "items:write"}
PATHS = ["//items", "///items", "/items"]
SECRET = "example-secret-0123456789"


def _flask() -> tuple[Flask, list[str]]:
    app = Flask(__name__)
    items: list[str] = []

    @app.route("/items", methods=["GET", "POST"])
    def items_view() -> dict[str, list[str]]:
        if request.method == "POST":
            items.append("new")
        return {"items": items}

    return app, items


@pytest.mark.rule("resource.missing-401", "resource.insufficient-scope",
                  "resource.app-not-called")
@pytest.mark.parametrize("path", PATHS)
async def test_doubled_slashes_reach_no_flask_view_without_the_scope(
    store: TokenStore, path: str
) -> None:
    reader = await store.issue(NewTokens(client_id="c", subject="c",
                                         scopes=frozenset({"items:read"})))
    flask_app, items = _flask()
    app = protect_wsgi(flask_app, store=store, scopes=SCOPES)
    anonymous = await call(app, "POST", path)
    read_only = await call(app, "POST", path, headers=[
        (b"authorization", f"Bearer {reader.access_token}".encode())])
    listed = await call(app, "GET", path)
    assert anonymous.status == 401, anonymous.body
    assert anonymous.header("www-authenticate") == 'Bearer realm="api"'
    assert read_only.status == 403, read_only.body
    assert read_only.header("www-authenticate") == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token does not carry the required scope.", '
        'scope="items:write"')
    assert listed.status == 401
    assert items == []


def test_the_flask_example_under_uvicorn_refuses_a_doubled_slash_post() -> None:
    """As sent on the wire: uvicorn hands ``//items`` on unchanged."""
    port = free_port()
    env = {"OAUTH_ISSUER": f"http://127.0.0.1:{port}/oauth", "EXAMPLE_CLIENT_SECRET": SECRET,
           "REDIS_URL": "", "OAUTH_SECRET_KEY": ""}
    with UvicornProcess("examples.flask_app:app", env=env, port=port), \
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        issued = http.post("/oauth/token/", auth=("example-service", SECRET),
                           data={"grant_type": "client_credentials", "scope": "items:read"})
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        anonymous = http.post(f"http://127.0.0.1:{port}//items", json={"name": "forged"})
        read_only = http.post(f"http://127.0.0.1:{port}//items", json={"name": "forged"},
                              headers=bearer)
        listed = http.get("/items", headers=bearer)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == (
        'Bearer realm="api"')
    assert read_only.status_code == 403
    assert read_only.json()["error"] == "insufficient_scope"
    assert listed.json()["items"] == []
