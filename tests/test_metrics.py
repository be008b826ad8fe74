"""Prometheus metrics (oauth_middleware.metrics): every series, bounded labels, no secret."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from oauth_middleware import OAuthMiddleware
from oauth_middleware.errors import InvalidRequest
from oauth_middleware.metrics.prometheus import PrometheusMetrics
from oauth_middleware.metrics.sink import ANONYMOUS, ERROR_CODES, OK, outcome
from oauth_middleware.server.token import TokenEndpoint
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import NewTokens, TokenStore
from tests.ops_app import build_ops_app
from tests.polling import until
from tests.redis_process import RedisProcess
from tests.server.token_harness import REDIRECT_URI, auth_of, basic, confidential, http
from tests.store_helpers import cache_of

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
#: Every endpoint label the library names (the middleware and the server's JSON endpoints).
ENDPOINTS = {"middleware", "authorization", "token", "revocation", "introspection", "metadata",
             "jwks", "user_info", "registration", "client_configuration", "device_authorization",
             "pushed_authorization"}


async def scrape(client: httpx.AsyncClient) -> tuple[str, Samples]:
    response = await client.get("/metrics/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def client_token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    response = await client.post("/oauth/token/", headers=basic(client_id, secret),
                                 data={"grant_type": "client_credentials", "scope": "read"})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_metrics_expose_every_series_with_its_labels_after_a_few_requests(
    store: TokenStore,
) -> None:
    registered = await confidential(store, "web")
    assert registered.client_secret is not None
    app = build_ops_app(store)
    async with http(app) as client:
        token = await client_token(client, "web", registered.client_secret)
        ok = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        unknown = await client.get("/me", headers={"Authorization": "Bearer nope.nope"})
        missing = await client.get("/me")
        anonymous = await client.get("/public")
        refusals = [await client.post("/oauth/token/", headers=basic("web", "wrong"),
                                      data={"grant_type": "client_credentials"})
                    for _ in range(3)]
        _, samples = await scrape(client)
    assert [ok.status_code, unknown.status_code, missing.status_code,
            anonymous.status_code] == [200, 401, 401, 200]
    challenge = unknown.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_token"')
    assert [r.status_code for r in refusals] == [401, 401, 429]
    assert refusals[2].json()["error"] == "slow_down"
    requests = "oauth_requests_total"
    assert value(samples, requests, endpoint="token", outcome=OK) == 1
    assert value(samples, requests, endpoint="token", outcome="invalid_client") == 2
    assert value(samples, requests, endpoint="token", outcome="slow_down") == 1
    assert value(samples, requests, endpoint="middleware", outcome=OK) == 1
    assert value(samples, requests, endpoint="middleware", outcome="invalid_token") == 1
    assert value(samples, requests, endpoint="middleware", outcome="missing_token") == 1
    # /public, the token endpoint's own requests and the scrape pass the middleware unlisted
    assert value(samples, requests, endpoint="middleware", outcome=ANONYMOUS) >= 1
    assert value(samples, "oauth_throttled_total", endpoint="token") == 1
    assert value(samples, "oauth_request_duration_seconds_count", endpoint="token") == 4
    # two tokens judged by the middleware: two waits for Redis observed
    assert value(samples, "oauth_token_resolve_seconds_count") == 2
    assert value(samples, "oauth_unavailable_total", endpoint="token") == 0
    for kind in ("unavailable", "refused", "not_durable"):
        assert value(samples, "oauth_redis_errors_total", kind=kind) == 0
    for name in ("oauth_cache_hits_total", "oauth_cache_misses_total",
                 "oauth_cache_invalidations_total"):
        assert (name, ()) in samples


@pytest.mark.rule("rest.metrics-labels-bounded", "rest.no-secret-in-logs")
async def test_no_token_or_secret_reaches_a_label_and_random_input_adds_no_series(
    store: TokenStore,
) -> None:
    registered = await confidential(store, "web")
    assert registered.client_secret is not None
    app = build_ops_app(store)
    async with http(app) as client:
        token = await client_token(client, "web", registered.client_secret)
        await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        await client.get("/me", headers={"Authorization": "Bearer nope.nope"})
        _, before = await scrape(client)
        sent: list[str] = [token, registered.client_secret]

        async def probe() -> httpx.Response:
            junk = secrets.token_urlsafe(32)
            sent.append(junk)
            return await client.get(f"/me/{junk}?access_token={junk}", headers={
                "Authorization": f"Bearer {junk}", "X-Client-Id": junk, "User-Agent": junk})

        async def guess() -> httpx.Response:
            junk = secrets.token_urlsafe(16)
            sent.append(junk)
            return await client.post(f"/oauth/token/{junk}", headers=basic(junk, junk),
                                     data={"grant_type": junk})

        answers = await asyncio.gather(*[probe() for _ in range(25)],
                                       *[guess() for _ in range(25)])
        text, after = await scrape(client)
    assert {r.status_code for r in answers} <= {400, 401, 404, 405}
    for value_sent in sent:
        assert value_sent not in text
    new = {key for key in after if key not in before}
    assert all(name.startswith(("oauth_requests", "oauth_request_duration"))
               for name, _ in new), new
    for _, labels in after:
        found = dict(labels)
        if "endpoint" in found:
            assert found["endpoint"] in ENDPOINTS
        if "outcome" in found:
            assert found["outcome"] in ERROR_CODES | {OK, ANONYMOUS}


@pytest.mark.rule("redis.resource-503", "redis.token-503")
async def test_a_redis_outage_is_counted_as_redis_errors_and_503s(
    own_redis: RedisProcess, own_store: TokenStore,
) -> None:
    registered = await confidential(own_store, "web")
    assert registered.client_secret is not None
    app = build_ops_app(own_store)
    issued = await own_store.issue(NewTokens(client_id="web", subject="alice",
                                             scopes=frozenset({"read"})))
    async with http(app) as client:
        own_redis.kill()
        try:
            refused = await client.get("/me",
                                       headers={"Authorization": f"Bearer {issued.access_token}"})
            token = await client.post("/oauth/token/", headers=auth_of(registered),
                                      data={"grant_type": "client_credentials"})
            page = await client.get("/oauth/auth/", params={
                "response_type": "code", "client_id": "web", "redirect_uri": REDIRECT_URI})
        finally:
            own_redis.start()
        text, samples = await scrape(client)
    assert (refused.status_code, token.status_code, page.status_code) == (503, 503, 503)
    assert "location" not in page.headers
    assert refused.headers["retry-after"] == "5"
    assert token.json()["error"] == "temporarily_unavailable"
    assert value(samples, "oauth_unavailable_total", endpoint="middleware") == 1
    assert value(samples, "oauth_unavailable_total", endpoint="token") == 1
    assert value(samples, "oauth_unavailable_total", endpoint="authorization") == 1
    for endpoint in ("token", "authorization"):
        assert value(samples, "oauth_requests_total", endpoint=endpoint,
                     outcome="temporarily_unavailable") == 1
    assert value(samples, "oauth_redis_errors_total", kind="unavailable") == 3
    assert str(own_redis.port) not in text


async def test_the_authorization_endpoint_counts_its_answers_by_error_code(
    store: TokenStore,
) -> None:
    await confidential(store, "web")
    app = build_ops_app(store)
    request = {"response_type": "code", "client_id": "web", "redirect_uri": REDIRECT_URI}
    async with http(app) as client:
        login = await client.get("/oauth/auth/", params=request)
        unknown = await client.get("/oauth/auth/", params={**request, "client_id": "nobody"})
        wrong_uri = await client.get("/oauth/auth/", params={
            **request, "redirect_uri": "https://evil.example/cb"})
        _, samples = await scrape(client)
    assert login.status_code in (302, 303) and login.headers["location"].startswith("/login")
    assert unknown.status_code == 400 and "location" not in unknown.headers
    assert wrong_uri.status_code == 400 and "location" not in wrong_uri.headers
    counted = {dict(labels)["outcome"]: count for (name, labels), count in samples.items()
               if name == "oauth_requests_total" and dict(labels)["endpoint"] == "authorization"}
    assert counted == {OK: 1, "invalid_request": 2}
    assert value(samples, "oauth_request_duration_seconds_count", endpoint="authorization") == 3


async def test_cache_hits_misses_and_invalidations_are_counted(cached: TokenStore) -> None:
    issued = await cached.issue(NewTokens(client_id="web", subject="alice",
                                          scopes=frozenset({"read"})))
    app = build_ops_app(cached)
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    cache = cache_of(cached)
    async with http(app) as client:
        assert (await client.get("/me", headers=headers)).status_code == 200
        await until(lambda: cache.serving, "the cache serves")
        for _ in range(3):
            assert (await client.get("/me", headers=headers)).status_code == 200
        await cached.revoke_token(issued.access_token)
        refused = await client.get("/me", headers=headers)
        _, samples = await scrape(client)
    assert refused.status_code == 401
    hits = value(samples, "oauth_cache_hits_total")
    misses = value(samples, "oauth_cache_misses_total")
    assert hits >= 2 and misses >= 2
    assert (hits, misses) == (cache.hits, cache.misses)
    assert value(samples, "oauth_cache_invalidations_total") == cache.invalidations >= 1


@pytest.mark.rule("rest.metrics-labels-bounded")
def test_outcomes_are_error_codes_of_the_library_only() -> None:
    forged = InvalidRequest()
    forged.error = "x" * 40  # type: ignore[misc]  # not a code of ours: not a label value
    assert outcome(forged) == "other"
    assert outcome(InvalidRequest()) == "invalid_request"
    assert {"invalid_token", "slow_down", "temporarily_unavailable"} <= ERROR_CODES
    assert TokenEndpoint.endpoint == "token"


def test_a_wrong_metrics_option_names_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="PrometheusMetrics"):
        OAuthMiddleware(lambda *a: None, store=TokenStore.from_url(None),  # type: ignore[arg-type]
                        metrics="prometheus")  # type: ignore[arg-type]


def test_histogram_buckets_are_cumulative_and_a_bound_counts_in_its_own_bucket() -> None:
    metrics = PrometheusMetrics()
    for seconds in (0.001, 0.0011, 3.0):
        metrics.resolve_time(seconds)
    families = {f.name: f for f in text_string_to_metric_families(
        generate_latest(metrics.registry).decode())}
    buckets = {s.labels["le"]: s.value for s in families["oauth_token_resolve_seconds"].samples
               if s.name.endswith("_bucket")}
    assert (buckets["0.0005"], buckets["0.001"], buckets["0.0025"]) == (0, 1, 2)
    assert (buckets["2.5"], buckets["+Inf"]) == (2, 3)
    sums = {s.name: s.value for s in families["oauth_token_resolve_seconds"].samples}
    assert sums["oauth_token_resolve_seconds_count"] == 3
    assert sums["oauth_token_resolve_seconds_sum"] == pytest.approx(3.0021)


async def test_without_metrics_the_middleware_calls_its_token_source_directly(
    store: TokenStore,
) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("never called")

    plain = OAuthMiddleware(app, store=store)
    counted = OAuthMiddleware(app, store=store, metrics=PrometheusMetrics())
    assert plain._resolve == store.resolve  # chosen at construction
    assert counted._resolve == counted._timed_resolve
