"""OpenTelemetry spans (the ``otel`` extra, issue 18): the token endpoint's and the
middleware's token resolution, recorded with the SDK's in-memory exporter; nothing of
it when the API is absent or no tracer provider is configured; no secret in a span."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from oauth_middleware import tracing
from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.store import TokenStore
from tests.server.token_harness import (
    TOKEN_PATH,
    auth_of,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
)


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A configured provider, as the app's own setup would make it (not the process-wide
    one: the API lets that be set once)."""
    recorded = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield recorded
    provider.shutdown()


def _spans(exporter: InMemorySpanExporter) -> list[tuple[str, dict[str, object]]]:
    return [(s.name, dict(s.attributes or {})) for s in exporter.get_finished_spans()]


@pytest.mark.rule("rest.no-secret-in-events")
async def test_the_token_endpoint_and_each_resolution_are_spans_without_a_secret(
        store: TokenStore, exporter: InMemorySpanExporter) -> None:
    web = await confidential(store)
    code = await new_code(store, "web")
    async with http(build_app(store)) as client:
        issued = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        token = issued.json()["access_token"]
        used = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        unknown = await client.get("/me", headers={"Authorization": "Bearer " + "A" * 43})
        refused = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert issued.status_code == used.status_code == 200
    assert unknown.status_code == 401 and refused.status_code == 400
    assert _spans(exporter) == [
        ("oauth_middleware.token", {"http.response.status_code": 200}),
        ("oauth_middleware.resolve", {"oauth.token.found": True}),
        ("oauth_middleware.resolve", {"oauth.token.found": False}),
        ("oauth_middleware.token", {"http.response.status_code": 400}),
    ]
    everything = json.dumps([s.to_json() for s in exporter.get_finished_spans()])
    assert web.client_secret is not None
    for secret in (code, token, issued.json()["refresh_token"], web.client_secret):
        assert secret not in everything


async def test_without_a_configured_provider_nothing_is_traced(store: TokenStore) -> None:
    """The API's stand-in provider (nothing configured) gives no tracer: the middleware
    keeps its untraced resolution and the server's endpoints no span."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.tracer() is None
    app = build_app(store)
    middleware = OAuthMiddleware(app, store=store)
    assert middleware._resolve == middleware.verifier.resolve
    assert app.state.server.config.tracer is None


def test_without_the_api_installed_there_is_no_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "trace", None)
    assert tracing.tracer() is None
