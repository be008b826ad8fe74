"""The middleware takes any verifier: ``async resolve(token) -> AccessToken | None``."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_middleware import AccessToken, OAuthMiddleware, TokenVerifier
from oauth_middleware.store import StoreUnavailable, TokenStore

GOOD = "good-token"


class DictVerifier:
    """A verifier that is no TokenStore: tokens from a dict, every lookup recorded."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.asked: list[str] = []

    async def resolve(self, token: str) -> AccessToken | None:
        self.asked.append(token)
        if self.down:
            raise StoreUnavailable()
        if token != GOOD:
            return None
        return AccessToken(grant_id="g1", client_id="svc", subject="alice",
                           scopes=frozenset({"items:read"}), expires_at=None)


async def _get(verifier: TokenVerifier, token: str) -> httpx.Response:
    async def items(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity,
                             "client": request.scope["oauth"].client_id})

    app = Starlette(routes=[Route("/items", items)])
    app.add_middleware(OAuthMiddleware, verifier=verifier, scopes={"/items": "items:read"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        return await client.get("/items", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.rule("resource.invalid-token", "redis.resource-503")
async def test_a_foreign_verifier_decides_valid_invalid_and_unavailable() -> None:
    verifier = DictVerifier()
    ok = await _get(verifier, GOOD)
    bad = await _get(verifier, "other-token")
    down = await _get(DictVerifier(down=True), GOOD)
    assert ok.status_code == 200 and ok.json() == {"user": "alice", "client": "svc"}
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert down.status_code == 503 and down.json()["error"] == "temporarily_unavailable"
    assert down.headers["retry-after"] == "5" and "www-authenticate" not in down.headers
    assert verifier.asked == [GOOD, "other-token"]


def test_token_store_is_a_verifier(store: TokenStore) -> None:
    verifier: TokenVerifier = store  # mypy checks the protocol statically, too
    assert isinstance(verifier, TokenVerifier)
    assert isinstance(DictVerifier(), TokenVerifier)


@pytest.mark.parametrize(("options", "message"), [
    ({}, r"pass either store="),
    ({"verifier": DictVerifier(), "store": TokenStore.from_url(None)},
     r"pass store= or verifier=, not both"),
    ({"store": "redis://localhost:6379/0"}, r"store='redis://localhost:6379/0' \(str\) is wrong: "
                                            r"pass a store, not a URL"),
    ({"verifier": object()}, r"verifier must have an async resolve\(token\)"),
])
def test_middleware_names_the_token_source_it_cannot_use(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        OAuthMiddleware(Starlette(), **options)  # type: ignore[arg-type]
