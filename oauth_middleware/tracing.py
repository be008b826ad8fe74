"""OpenTelemetry spans (the ``otel`` extra): the authorization server's JSON endpoints
(``token/`` above all) and the middleware's token resolution.

Decided once, when an app is built, as metrics are: without ``opentelemetry-api``
installed, or with no tracer provider configured by then (the API's stand-in provider),
:func:`tracer` is None and the callers keep their untraced path, so nothing of this runs
per request. Configure the provider first (``trace.set_tracer_provider(...)``, or the
``opentelemetry-instrument`` launcher), then build the apps.

A span says which step ran and how it ended (``http.response.status_code``,
``oauth.token.found``), never a token, code, secret or user: spans leave the process
for a collector with their attributes, as log lines do.
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import trace
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

#: The instrumentation scope's name, and the prefix of every span's.
NAME = "oauth_middleware"


def tracer() -> Any | None:
    """The library's tracer from the configured provider; None: no tracing."""
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer(NAME)
