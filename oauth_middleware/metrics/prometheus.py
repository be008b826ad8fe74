"""Prometheus metrics through ``prometheus-client`` (the ``metrics`` extra).

One :class:`PrometheusMetrics` is handed to the middleware and the authorization
server (``metrics=``) and serves ``/metrics`` (:meth:`PrometheusMetrics.app`).
Its series (docs/operating.md says what to alert on):

* ``oauth_requests_total{endpoint, outcome}``: ``outcome`` is ``ok``, ``anonymous``
  or an OAuth error code; ``endpoint`` is ``middleware`` or a server endpoint's name.
* ``oauth_request_duration_seconds{endpoint}``: the server's endpoints (``token`` first).
* ``oauth_token_resolve_seconds``: the middleware's wait for its token source, one
  Redis round trip (or a cache hit) with a :class:`TokenStore`.
* ``oauth_throttled_total{endpoint}``, ``oauth_unavailable_total{endpoint}`` (429s, 503s).
* From each watched store, read when scraped: ``oauth_redis_errors_total{kind}`` and
  ``oauth_cache_hits_total``, ``oauth_cache_misses_total``,
  ``oauth_cache_invalidations_total``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, cast

from starlette.types import ASGIApp

from oauth_middleware.metrics.sink import Metrics
from oauth_middleware.store import TokenStore

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app
    from prometheus_client.core import CounterMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as missing:  # pragma: no cover - the extra is installed in the test env
    raise ImportError('PrometheusMetrics needs prometheus-client: '
                      'pip install "oauth-middleware[metrics]"') from missing

#: Latency buckets (seconds): a Redis round trip is about a millisecond; 2 s is the outage bound.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Redis failure kinds the gateway counts.
ERROR_KINDS = ("unavailable", "refused", "not_durable")


class PrometheusMetrics(Metrics):
    """Counters and histograms in ``registry`` (a new one by default, so two instances never
    clash); ``store``: the store whose Redis errors and cache counts are exported."""

    enabled: ClassVar[bool] = True

    def __init__(self, store: TokenStore | None = None, *,
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._requests = Counter("oauth_requests", "Requests by endpoint and outcome",
                                 ("endpoint", "outcome"), registry=self.registry)
        self._counted: dict[tuple[str, str], Counter] = {}
        self._durations = Histogram("oauth_request_duration_seconds",
                                    "Time the server's endpoints took to answer",
                                    ("endpoint",), buckets=BUCKETS, registry=self.registry)
        self._resolve = Histogram("oauth_token_resolve_seconds",
                                  "Time the middleware waited for its token source",
                                  buckets=BUCKETS, registry=self.registry).observe
        self._throttled = Counter("oauth_throttled", "Requests refused by the throttle (429)",
                                  ("endpoint",), registry=self.registry)
        self._unavailable = Counter("oauth_unavailable", "503 answers: the store failed",
                                    ("endpoint",), registry=self.registry)
        self._stores = _StoreCollector()
        self.registry.register(self._stores)
        if store is not None:
            self.watch(store)

    def watch(self, store: TokenStore) -> None:
        """Export ``store``'s Redis error and cache counts too (summed over watched stores)."""
        self._stores.stores.append(store)

    def request(self, endpoint: str, outcome: str) -> None:
        # the labelled child looked up once per pair (labels() takes a lock and builds a
        # tuple); the pairs are a bounded vocabulary, so is this dict
        child = self._counted.get((endpoint, outcome))
        if child is None:
            child = self._counted[endpoint, outcome] = self._requests.labels(endpoint, outcome)
        child.inc()

    def duration(self, endpoint: str, seconds: float) -> None:
        self._durations.labels(endpoint).observe(seconds)

    def resolve_time(self, seconds: float) -> None:
        self._resolve(seconds)

    def throttled(self, endpoint: str) -> None:
        self._throttled.labels(endpoint).inc()

    def unavailable(self, endpoint: str) -> None:
        self._unavailable.labels(endpoint).inc()

    def app(self) -> ASGIApp:
        """The ``/metrics`` ASGI app (Prometheus text format) to mount."""
        return cast(ASGIApp, make_asgi_app(self.registry))


class _StoreCollector(Collector):
    """The stores' own counts, read at scrape time: nothing is paid per request for them."""

    def __init__(self) -> None:
        self.stores: list[TokenStore] = []

    def collect(self) -> Iterator[Metric]:
        errors = CounterMetricFamily("oauth_redis_errors", "Redis failures by kind",
                                     labels=("kind",))
        totals = dict.fromkeys(ERROR_KINDS, 0)
        hits = misses = invalidations = 0
        for store in self.stores:
            stats = store.stats()
            for kind, count in stats.errors.items():
                totals[kind] = totals.get(kind, 0) + count
            hits += stats.cache_hits
            misses += stats.cache_misses
            invalidations += stats.cache_invalidations
        for kind, count in totals.items():
            errors.add_metric((kind,), count)
        yield errors
        yield CounterMetricFamily("oauth_cache_hits", "Reads the local cache answered",
                                  value=hits)
        yield CounterMetricFamily("oauth_cache_misses",
                                  "Reads that went to Redis while the local cache was on",
                                  value=misses)
        yield CounterMetricFamily("oauth_cache_invalidations",
                                  "Invalidation messages Redis sent the local cache",
                                  value=invalidations)
