"""What the library reports for monitoring, and the sink that reports nothing (the default).

The middleware and the authorization server are handed a :class:`Metrics` at
construction; without one they hold :data:`NO_METRICS`, whose methods do nothing,
and the middleware then skips even the clock reads (it picks its path once, in
``__init__``). :class:`~oauth_middleware.metrics.prometheus.PrometheusMetrics`
is the sink that counts.

Every label value is a bounded vocabulary the code names (endpoint names, OAuth
error codes): nothing from a request (a path, a client id, a header) ever becomes
one, so a scan of random URLs cannot grow the series, and no token can land in one.
"""

from __future__ import annotations

from typing import ClassVar

from oauth_middleware.errors import OAuthError

#: An accepted request (middleware) or a served one (the server's endpoints).
OK = "ok"
#: A request without a token on a route that does not need one.
ANONYMOUS = "anonymous"
#: Any error code outside :data:`ERROR_CODES` (none today; a guard for the label vocabulary).
OTHER = "other"


def _codes(cls: type[OAuthError]) -> set[str]:
    found = {cls.error}
    for sub in cls.__subclasses__():
        found |= _codes(sub)
    return found


#: Every error code the library's errors carry: the only refusal outcomes a label takes.
ERROR_CODES = frozenset(_codes(OAuthError))


def outcome(exc: OAuthError) -> str:
    """The label of a refusal: its error code, if it is one of ours."""
    return exc.error if exc.error in ERROR_CODES else OTHER


class Metrics:
    """The events reported. This base counts nothing, so it is the off switch."""

    #: False for the no-op sink: callers with a cheaper path without metrics check this once.
    enabled: ClassVar[bool] = False

    def request(self, endpoint: str, outcome: str) -> None:
        """One request at ``endpoint`` ended with ``outcome`` (OK, ANONYMOUS, an error code)."""

    def duration(self, endpoint: str, seconds: float) -> None:
        """How long ``endpoint`` took to answer (the server's endpoints)."""

    def resolve_time(self, seconds: float) -> None:
        """How long the middleware waited for its token source (the Redis round trip)."""

    def throttled(self, endpoint: str) -> None:
        """``endpoint`` refused a caller with 429 ``slow_down`` (brute-force throttle)."""

    def unavailable(self, endpoint: str) -> None:
        """``endpoint`` answered 503: the store was unreachable or refused."""


#: The shared no-op sink.
NO_METRICS = Metrics()
