"""Brute-force throttling for the token family (RFC 6749 §2.3.1, §4.3.2, §10.10).

RFC 6749 §2.3.1 says the server MUST protect endpoints that check passwords or
secrets against brute force. Only what a person may have chosen can be guessed:
a password (the password grant) and a client secret a host set itself
(``register_client(client_secret=...)``). Generated client secrets, codes,
refresh tokens and PKCE verifiers carry 128 bits or more; counting their
failures protects nothing, and counting ``invalid_grant`` per client only let
anyone lock a client's every user out, so it is not done.

Count first: a failure is counted by one script that increments the counters
(creating each with its TTL) and returns the new counts, and the answer is
decided from those counts. Of N concurrent wrong guesses exactly the limit are
judged, the others get 429. A success is judged by the counters as they are once
the secret was checked, so a right guess sent among wrong ones passes only if
fewer than the limit of failures were counted before it.

Reserve first, for passwords: the ``verify_password`` hook hashes (scrypt,
bcrypt), and a sync hook takes a thread of the pool the host's sync endpoints
share. Reading the counters before the hook let N attempts fired at once all
read "no failures" and all reach it. So one script reserves a place for the
attempt, refused (429) while the address's failures plus its attempts in flight
reach its allowance: at most the allowance of checks from one address run, in
flight or counted, per window. Ending the attempt frees its place in the same
script that counts its failure, or that reads the counters after a success, so
the password grant makes no more round trips than before; an attempt that ends
otherwise (the hook raised, the request was cancelled) frees it on the way out,
and one that never does (its worker died) stops counting after
``attempt_timeout`` by the store's clock. A right password in flight holds one of
its address's places: while it is checked, one wrong password fewer is judged.
Client secrets are not reserved: ``verify_client_secret`` is one salted SHA-256
on the loop (secrets are high-entropy or host-chosen, never slow-hashed), cheaper
than the round trip a reservation costs, and a busy client rightly sends many
requests at once with its right secret.

Nobody can lock anybody else out. Counters are per subject (client id,
normalised username) AND caller address: a limit reached refuses that address
for that subject only, so the attacker locks out himself. The subject's count
over all addresses refuses nobody by itself: past its threshold each address is
allowed one failure instead of the usual limit, which slows a distributed
guesser down while a right secret from an address without failures still passes.
A success forgets nothing (so a guesser sharing an address with a busy client
gains no fresh allowance from its successes); windows start at the first
failure, are never extended, and end by the store's clock.

The refusal is 429 ``slow_down`` with ``Retry-After``, identical for a right and
a wrong guess. ``slow_down`` is a registered token-endpoint error (RFC 8628
§3.5, IANA "OAuth Extensions Error" registry) meaning "ask again, later": not
``invalid_client`` (a client would conclude its secret is wrong), not
``invalid_grant`` (clients drop refresh tokens on it, and a person would be told
a right password is wrong), not ``temporarily_unavailable`` (an authorization
endpoint error, and here the 503 of an unreachable store).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio
from starlette.types import Scope

from oauth_middleware.audit import AuditTrail
from oauth_middleware.errors import SlowDown
from oauth_middleware.security import fingerprint, new_secret
from oauth_middleware.server.config import ThrottlePolicy
from oauth_middleware.store import StoreUnavailable, TokenStore

Bucket = Literal["client", "password", "user_code", "device"]
#: A counter's state: (failures in its window, seconds left).
State = tuple[int, int]
#: Longest caller name kept when it is not an IP address (e.g. a Unix socket's).
MAX_ADDRESS = 256
#: Callers whose counted address is remembered, at most; and the longest host remembered
#: (an IPv6 address with a zone is under 64 characters; a longer name is parsed each time).
ADDRESS_MEMO = 4096
REMEMBERED_HOST = 64

logger = logging.getLogger("oauth_middleware.server")


def caller_address(scope: Scope) -> str:
    """The caller as the ASGI server set ``scope["client"]``; "" when it did not.

    Behind a proxy, uvicorn's ``--proxy-headers`` with ``--forwarded-allow-ips``
    sets it from the proxy's header; nothing here reads ``X-Forwarded-For``,
    which any caller can write. An IPv6 caller counts by its /64 (one subscriber
    gets a whole /64 and could otherwise rotate through it); an IPv4-mapped IPv6
    address is its IPv4 address.
    """
    try:
        host = str(scope["client"][0])
    except (KeyError, TypeError, IndexError):
        return ""
    return _remembered(host) if len(host) <= REMEMBERED_HOST else _counted_as(host)


def _counted_as(host: str) -> str:
    """:func:`caller_address` of a host."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_ADDRESS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


#: :func:`_counted_as`, remembered: parsing an address is a few µs of ``ipaddress`` per
#: call and every token-family request asks twice (its client's authentication, its
#: grant), mostly from few callers. A pure function of a short host, bounded in count: a
#: caller rotating addresses only evicts (SECURITY.md, bounded memory).
_remembered = functools.lru_cache(maxsize=ADDRESS_MEMO)(_counted_as)


def normalised_username(username: str) -> str:
    """The username as counted: NFKC, case-folded, trimmed (" Bob ", "BOB", fullwidth "bob"
    are one).

    Only the counters use it; the ``verify_password`` hook gets the username as sent.
    """
    once = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", once).strip()


class Throttle:
    def __init__(self, store: TokenStore, policy: ThrottlePolicy,
                 audit: AuditTrail | None = None) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit

    def limits(self, bucket: Bucket) -> tuple[int, int]:
        """(failures allowed per address, failures over all addresses that lower it to one)."""
        policy = self.policy
        if bucket == "client":
            return policy.client_failures, policy.client_failures_overall
        if bucket == "user_code":
            return policy.user_code_failures, policy.user_code_failures_overall
        if bucket == "device":
            return policy.device_requests, policy.device_requests_overall
        return policy.password_failures, policy.password_failures_overall

    async def check(self, bucket: Bucket, subject: str, address: str) -> None:
        """Raise :class:`SlowDown` if ``address`` may not try ``subject`` now.

        Called once a client secret proved right: the read that decides a success.
        """
        pair, overall = await self.store.throttle.failures_from(bucket, subject, address)
        self.judge(bucket, pair, overall)

    async def failed(self, bucket: Bucket, subject: str, address: str) -> None:
        """Count a failure first, then judge it by the counts before it: raise
        :class:`SlowDown` if it was over the limit (else the caller raises its own error)."""
        pair, overall = await self.store.throttle.count_failures(bucket, subject, address,
                                                        window=self.policy.window)
        await self.judge_failure(bucket, subject, (pair[0] - 1, pair[1]),
                                 (overall[0] - 1, overall[1]))

    async def judge_failure(self, bucket: Bucket, subject: str, pair: State, overall: State
                            ) -> None:
        """:meth:`judge` a failure by the counts before it; the failure that first goes
        over a limit is an audit event (``throttle.engaged``), the ones after it are not:
        a guessing loop must not flush the trail's bounded stream. The subject (a client
        id or a username as typed, which may be a mistyped secret) is named by its
        fingerprint only."""
        try:
            self.judge(bucket, pair, overall)
        except SlowDown:
            per_address, threshold = self.limits(bucket)
            if self.audit is not None and (pair[0] == per_address or overall[0] == threshold):
                await self.audit.note("throttle.engaged", fingerprint=fingerprint(subject),
                                      reason=bucket)
            raise

    async def spend(self, bucket: Bucket, subject: str, address: str) -> None:
        """Count one request that costs storage (a device code), judged as a failure is:
        counted first, so of N concurrent requests past the allowance none gets through."""
        await self.failed(bucket, subject, address)

    @asynccontextmanager
    async def attempt(self, bucket: Bucket, subject: str, address: str
                      ) -> AsyncIterator[Attempt]:
        """Reserve a place for one check of ``subject`` from ``address`` before it runs,
        or raise :class:`SlowDown`; the body ends it with :meth:`Attempt.failed` or
        :meth:`Attempt.passed`, and leaving otherwise frees the place."""
        current = Attempt(self, bucket, subject, address)
        try:
            await current.reserve()
            yield current
        finally:
            if not current.ended:  # also a reservation cancelled before its reply came
                await current.abandon()

    def judge(self, bucket: Bucket, pair: State, overall: State) -> None:
        """Refuse when the address has used its allowance for this subject."""
        per_address, threshold = self.limits(bucket)
        allowance = per_address if overall[0] < threshold else 1
        if pair[0] >= allowance:
            raise SlowDown(retry_after=pair[1])


class Attempt:
    """One check in flight, holding a place in its address's allowance until it ends."""

    def __init__(self, throttle: Throttle, bucket: Bucket, subject: str, address: str) -> None:
        self.throttle, self.bucket = throttle, bucket
        self.subject, self.address = subject, address
        #: Names this attempt's place (random, not a secret: it only has to be unique).
        self.attempt_id = new_secret(12)
        self.ended = False

    async def reserve(self) -> None:
        """Take a place, or raise :class:`SlowDown` (nothing to free then)."""
        throttle = self.throttle
        per_address, threshold = throttle.limits(self.bucket)
        try:
            reserved, pair = await throttle.store.throttle.reserve_attempt(
                self.bucket, self.subject, self.address, attempt=self.attempt_id,
                hold=throttle.policy.attempt_timeout, allowance=per_address,
                threshold=threshold)
        except StoreUnavailable:
            self.ended = True  # freeing would wait out the same outage: the place expires
            raise
        if not reserved:
            self.ended = True
            raise SlowDown(retry_after=pair[1])  # 0, no window yet: 1 s, checks in flight

    async def failed(self) -> None:
        """Count the failure and free the place in one step, then judge the failure by the
        counts before it: raise :class:`SlowDown` if it was over the limit."""
        pair, overall = await self._end(self.throttle.policy.window)
        await self.throttle.judge_failure(self.bucket, self.subject, (pair[0] - 1, pair[1]),
                                          (overall[0] - 1, overall[1]))

    async def passed(self) -> None:
        """Free the place, reading the counters as they are now in the same step: raise
        :class:`SlowDown` if what failed meanwhile used the address's allowance up."""
        pair, overall = await self._end(None)
        self.throttle.judge(self.bucket, pair, overall)

    async def abandon(self) -> None:
        """Free the place of a check that ended without an answer (the hook raised, the
        request was cancelled). Shielded, so a cancelled request still frees it; a store
        that fails here is only logged: the place stops counting by itself."""
        with anyio.CancelScope(shield=True):
            try:
                await self._end(None)
            except Exception as error:  # the exception that ended the attempt goes on
                logger.warning("a %s attempt's place was not freed (%s); it expires in %d s",
                               self.bucket, type(error).__name__,
                               self.throttle.policy.attempt_timeout)

    async def _end(self, failed_window: int | None) -> tuple[State, State]:
        try:
            states = await self.throttle.store.throttle.end_attempt(
                self.bucket, self.subject, self.address, attempt=self.attempt_id,
                failed_window=failed_window)
        except StoreUnavailable:
            self.ended = True  # trying again would wait out the same outage: the place expires
            raise
        self.ended = True
        return states
