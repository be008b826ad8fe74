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
* From each watched store: ``oauth_redis_errors_total{kind}`` and
  ``oauth_cache_hits_total``, ``oauth_cache_misses_total``,
  ``oauth_cache_invalidations_total``.

Requests are counted in plain dicts and lists, and ``prometheus-client`` turns them into
its text format when scraped (a collector): its own ``Counter`` and ``Histogram`` take a
lock per update, microseconds the protected route would pay on every request. The counts
are updated and read on the event loop's thread, where the middleware and the server run.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from typing import ClassVar, cast

from starlette.types import ASGIApp

from oauth_middleware.metrics.sink import Metrics
from oauth_middleware.store import TokenStore

try:
    from prometheus_client import CollectorRegistry, make_asgi_app
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as missing:  # pragma: no cover - the extra is installed in the test env
    raise ImportError('PrometheusMetrics needs prometheus-client: '
                      'pip install "oauth-middleware[metrics]"') from missing

#: Latency buckets (seconds): a Redis round trip is about a millisecond; 2 s is the outage bound.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Redis failure kinds the gateway counts.
ERROR_KINDS = ("unavailable", "refused", "not_durable")


class _Histogram:
    """Observations per bucket (the last: above every bound) and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        running, pairs = 0, []
        for bound, count in zip((*map(repr, BUCKETS), "+Inf"), self.counts, strict=True):
            running += count
            pairs.append((bound, float(running)))
        return pairs


class PrometheusMetrics(Metrics):
    """The counts, exported in ``registry`` (a new one by default, so two instances never
    clash); ``store``: the store whose Redis errors and cache counts are exported too."""

    enabled: ClassVar[bool] = True

    def __init__(self, store: TokenStore | None = None, *,
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.durations: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.resolves = _Histogram()
        self.throttles: defaultdict[str, int] = defaultdict(int)
        self.unavailables: defaultdict[str, int] = defaultdict(int)
        self.stores: list[TokenStore] = []
        self.registry.register(_Collector(self))
        if store is not None:
            self.watch(store)

    def watch(self, store: TokenStore) -> None:
        """Export ``store``'s Redis error and cache counts too (summed over watched stores)."""
        self.stores.append(store)

    def request(self, endpoint: str, outcome: str) -> None:
        self.requests[endpoint, outcome] += 1

    def duration(self, endpoint: str, seconds: float) -> None:
        self.durations[endpoint].observe(seconds)

    def resolve_time(self, seconds: float) -> None:
        self.resolves.observe(seconds)

    def throttled(self, endpoint: str) -> None:
        self.throttles[endpoint] += 1

    def unavailable(self, endpoint: str) -> None:
        self.unavailables[endpoint] += 1

    def app(self) -> ASGIApp:
        """The ``/metrics`` ASGI app (Prometheus text format) to mount."""
        return cast(ASGIApp, make_asgi_app(self.registry))


class _Collector(Collector):
    """Turns the counts into metric families when Prometheus scrapes."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        requests = CounterMetricFamily("oauth_requests", "Requests by endpoint and outcome",
                                       labels=("endpoint", "outcome"))
        for labels, count in sorted(m.requests.items()):
            requests.add_metric(labels, count)
        yield requests
        durations = HistogramMetricFamily("oauth_request_duration_seconds",
                                          "Time the server's endpoints took to answer",
                                          labels=("endpoint",))
        for endpoint, histogram in sorted(m.durations.items()):
            durations.add_metric((endpoint,), histogram.cumulative(), histogram.total)
        yield durations
        resolves = HistogramMetricFamily("oauth_token_resolve_seconds",
                                         "Time the middleware waited for its token source")
        resolves.add_metric((), m.resolves.cumulative(), m.resolves.total)
        yield resolves
        for name, doc, counts in (
                ("oauth_throttled", "Requests refused by the throttle (429)", m.throttles),
                ("oauth_unavailable", "503 answers: the store failed", m.unavailables)):
            family = CounterMetricFamily(name, doc, labels=("endpoint",))
            for endpoint, count in sorted(counts.items()):
                family.add_metric((endpoint,), count)
            yield family
        yield from _store_families(m.stores)


def _store_families(stores: list[TokenStore]) -> Iterator[Metric]:
    """The stores' own counts: nothing is paid per request for them."""
    errors = dict.fromkeys(ERROR_KINDS, 0)
    hits = misses = invalidations = 0
    for store in stores:
        stats = store.stats()
        for kind, count in stats.errors.items():
            errors[kind] = errors.get(kind, 0) + count
        hits += stats.cache_hits
        misses += stats.cache_misses
        invalidations += stats.cache_invalidations
    family = CounterMetricFamily("oauth_redis_errors", "Redis failures by kind", labels=("kind",))
    for kind, count in errors.items():
        family.add_metric((kind,), count)
    yield family
    yield CounterMetricFamily("oauth_cache_hits", "Reads the local cache answered", value=hits)
    yield CounterMetricFamily("oauth_cache_misses",
                              "Reads that went to Redis while the local cache was on",
                              value=misses)
    yield CounterMetricFamily("oauth_cache_invalidations",
                              "Invalidation messages Redis sent the local cache",
                              value=invalidations)
