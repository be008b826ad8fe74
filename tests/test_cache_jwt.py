"""Our JWT access tokens in the local cache: a hit costs no Redis read, and a revocation
elsewhere is seen as for any token (the cache is keyed by the token's digest)."""

from __future__ import annotations

from oauth_middleware.models import Client
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.store import TokenStore
from tests.polling import until
from tests.redis_process import RedisProcess
from tests.store_helpers import cache_of
from tests.test_batch import Counting

SECRET_KEY = b"j" * 32


async def _jwt(store: TokenStore) -> str:
    """A JWT access token as the token endpoint makes and stores it."""
    server = AuthorizationServer(store=store, issuer="https://auth.example/oauth",
                                 secret_key=SECRET_KEY)
    client = Client(client_id="web", title="Web", access_token_format="jwt")
    await store.save_client(client)
    grant = server.grants.token["client_credentials"]
    spec = grant.new_tokens(client, subject="web", subject_type="client",
                            scopes=frozenset({"polls:results"}), refresh=False)
    token = (await store.issue(spec)).access_token
    assert token.count(".") == 2
    return token


async def test_a_jwt_is_served_from_the_cache_and_refused_once_revoked_elsewhere(
    cached: TokenStore, own_redis: RedisProcess
) -> None:
    token = await _jwt(cached)
    cache = cache_of(cached)
    await cached.resolve(token)
    await until(lambda: cache.serving, "the cache serves")
    record = await cached.resolve(token)
    assert record is not None and record.subject == "web" and len(cache.entries) == 1
    with Counting(cached) as counting:
        assert await cached.resolve(token) == record
    assert counting.calls == []
    seen = cache.invalidations
    other = TokenStore.from_url(own_redis.url)
    try:
        assert await other.revoke_token(token)
    finally:
        await other.aclose()
    await until(lambda: cache.invalidations > seen, "the invalidation arrived")
    assert await cached.resolve(token) is None
