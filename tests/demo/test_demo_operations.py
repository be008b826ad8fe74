"""The demo's operations endpoints (issue 18): /healthz, /readyz, /metrics, request ids."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from oauth_middleware.audit import AuditTrail
from oauth_middleware.store import TokenStore
from tests.demo.harness import WEB_SECRET, Demo
from tests.store_helpers import redis_of


async def test_the_demo_serves_probes_and_metrics_counting_its_token_endpoint(demo: Demo) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        healthz = await http.get("/healthz")
        readyz = await http.get("/readyz", headers={"X-Request-ID": "demo-probe"})
        issued = await http.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                 auth=("demo-web", WEB_SECRET))
        refused = await http.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                  auth=("demo-web", "wrong"))
        metrics = await http.get("/metrics/")
    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ready"})
    assert readyz.headers["x-request-id"] == "demo-probe"
    assert (issued.status_code, refused.status_code) == (200, 401)
    assert metrics.status_code == 200
    counted = {(s.labels.get("endpoint"), s.labels.get("outcome")): s.value
               for family in text_string_to_metric_families(metrics.text)
               for s in family.samples if s.name == "oauth_requests_total"}
    assert counted[("token", "ok")] == 1
    assert counted[("token", "invalid_client")] == 1
    assert WEB_SECRET not in metrics.text
    assert issued.json()["access_token"] not in metrics.text


async def test_the_demo_records_audit_events_under_uvicorn_with_the_request_id(
        demo: Demo) -> None:
    """The real server, real Redis: what the token and revocation endpoints did is in the
    stream, with the request's id, and no token or secret."""
    async with httpx.AsyncClient(base_url=demo.url) as http:
        issued = await http.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                 auth=("demo-web", WEB_SECRET),
                                 headers={"X-Request-ID": "demo-issue-1"})
        token = issued.json()["access_token"]
        revoked = await http.post("/oauth/revoke/", data={"token": token},
                                  auth=("demo-web", WEB_SECRET))
    assert issued.status_code == revoked.status_code == 200
    store = TokenStore.from_url(demo.redis_url)
    try:
        found, _ = await AuditTrail(store).page(count=100)
        stream = str(await redis_of(store).xrange(store.keys.events))
    finally:
        await store.aclose()
    mine = [e for e in reversed(found) if e.client == "demo-web"]
    assert [(e.type, e.actor) for e in mine][-2:] == [
        ("token.issued", "client:demo-web"), ("token.revoked", "client:demo-web")]
    assert mine[-2].request_id == "demo-issue-1"
    assert mine[-2].fingerprint == mine[-1].fingerprint != ""
    assert token not in stream and WEB_SECRET not in stream
