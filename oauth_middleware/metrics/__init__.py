"""Metrics for monitoring (the ``metrics`` extra for Prometheus); see docs/operating.md."""

from oauth_middleware.metrics.sink import NO_METRICS, Metrics

__all__ = ["NO_METRICS", "Metrics"]
