"""The demo's operations endpoints (issue 18): /healthz, /readyz, /metrics, request ids."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.demo.harness import WEB_SECRET, Demo


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
