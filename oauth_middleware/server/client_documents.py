"""Clients whose ``client_id`` is the URL of their metadata (CIMD draft §2-§4, §6).

With ``client_metadata_documents`` set, a ``client_id`` holding ``:`` (which no
registered id can: ``policy.validate_client_id``) is a Client Identifier URL. It
must be canonical, so that one document has one id: ``https``, a lowercase host
name (its last label a word, never a number in disguise) or IP literal, no
userinfo, no default ``:443``, a path without ``.``, ``..`` or empty segments, no
query, no fragment, percent-escapes only where needed (uppercase hex), at most
``MAX_URL`` characters and none a control character, brace or space. It is
fetched SSRF-safe (:mod:`oauth_middleware.safe_fetch`); the document's
``client_id`` must be that URL exactly, and its metadata is validated as a public
dynamic registration (:mod:`.registration_metadata`): ``token_endpoint_auth_method``
``none`` (no secret, no ``private_key_jwt``), redirect URIs by the registration
rules and, unless the policy says otherwise, https ones on the URL's own host. The
document's ``scope`` is not used (a document is written for every server; the
policy's ``scopes`` bound what such clients get here).

The client is then a record in the store (``store.documents``), fresh for the
document's cache lifetime; past it the next ``auth/`` or token-family request
fetches the document again, and a failed fetch refuses the client (for
``failure_ttl`` seconds, then it is tried again). One fetch per URL runs at a time
in a worker, at most ``MAX_FETCHING`` URLs at once; a fetch counts against its
caller's address first (429 past ``per_address``), and past ``max_clients`` document
clients new URLs are refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from oauth_middleware.errors import InvalidClientMetadata, InvalidRedirectUri, SlowDown
from oauth_middleware.models import Client
from oauth_middleware.security import new_generation
from oauth_middleware.server import registration_metadata as rm
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.server.document_policy import MAX_URL, ClientMetadataPolicy
from oauth_middleware.store import TokenStore

logger = logging.getLogger("oauth_middleware.server.documents")

_URL = re.compile(r"https://(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[1-9][0-9]{0,4}))?"
                  r"(?P<path>/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-F]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_BUCKET = "documents"
#: Fetches one worker runs at once; one more is refused at once, not queued. Each holds a
#: thread of the event loop's executor while its name resolves, which a slow DNS server
#: could otherwise fill (and with it every lookup of the process, Redis's included).
MAX_FETCHING = 16


def _never(token: str) -> bool:
    return False


#: The registration rules a document is held to: those of a gated registration of a
#: public client (https redirect URIs allowed, no secret); no token ever passes it.
_PUBLIC_PROFILE = RegistrationPolicy(initial_access_token=_never, allow_confidential=False)


class DocumentRefused(Exception):
    """The client id URL or its document cannot be used; the text says why (our words only)."""


def is_client_id_url(client_id: str) -> bool:
    """Whether ``client_id`` is meant as a URL (no registered id holds a ``:``)."""
    return ":" in client_id


def check_url(value: str) -> str:
    """``value`` if it is a canonical Client Identifier URL (module docstring), else
    :class:`DocumentRefused`."""
    found = _URL.fullmatch(value) if len(value) <= MAX_URL else None
    if found is None:
        raise DocumentRefused(f"the client id must be an https URL with a path, no query, "
                              f"fragment or user name, at most {MAX_URL} characters")
    _check_host(found["host"])
    port = found["port"]
    if port == "443" or (port is not None and int(port) > 65535):
        raise DocumentRefused("the client id URL has a wrong or default (:443) port")
    segments = found["path"].split("/")[1:]
    if any(s in (".", "..") for s in segments) or "" in segments[:-1]:
        raise DocumentRefused("the client id URL path has a dot or empty segment")
    for escape in _ESCAPE.finditer(found["path"]):
        byte = int(escape["hex"], 16)
        if byte in _UNRESERVED or byte < 0x20 or byte == 0x7F:
            raise DocumentRefused("the client id URL has a needless or control percent-escape")
    if found["path"].count("%") != len(_ESCAPE.findall(found["path"])):
        raise DocumentRefused("the client id URL has a malformed percent-escape")
    return value


def _check_host(host: str) -> None:
    if host.startswith("["):  # RFC 5952 §4, and §5 for an IPv4-mapped address
        try:
            ip = ipaddress.IPv6Address(host[1:-1])
            mapped = ip.ipv4_mapped
            canonical = f"[::ffff:{mapped}]" if mapped else f"[{ip.compressed}]"
        except ValueError:
            canonical = ""
    elif host.replace(".", "").isdigit():
        try:
            canonical = str(ipaddress.IPv4Address(host))
        except ValueError:
            canonical = ""
    else:
        labels = host.split(".")
        ok = len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels) \
            and labels[-1][0].isalpha()
        canonical = host if ok else ""
    if canonical != host:
        raise DocumentRefused("the client id URL host is not a canonical name or address")


class DocumentClients:
    """Resolves Client Identifier URLs to clients (module docstring); one per server."""

    def __init__(self, store: TokenStore, policy: ClientMetadataPolicy,
                 enabled: frozenset[str]) -> None:
        try:
            from oauth_middleware import safe_fetch
        except ImportError as exc:  # httpx, an optional dependency
            raise ImportError('Client ID Metadata Documents fetch with httpx: pip install '
                              '"oauth-middleware[client-metadata]"') from exc
        self.store = store
        self.policy = policy
        self.enabled = enabled
        self.fetcher = safe_fetch.SafeFetcher(
            max_bytes=policy.max_bytes, timeout=policy.timeout, resolver=policy.resolver,
            allowed_networks=policy.networks(), verify=policy.tls_context)
        self._refused = safe_fetch.FetchRefused
        self._freshness = safe_fetch.freshness
        #: The fetch of each URL running in this worker, which later askers wait for.
        self._inflight: dict[str, asyncio.Task[Client]] = {}

    async def client(self, client_id: str, caller: str) -> Client:
        """The client ``client_id`` names, fetched if its record is not fresh; else
        :class:`DocumentRefused`, or :class:`SlowDown` when ``caller`` fetched too much."""
        url = check_url(client_id)
        state, stored = await self.store.documents.read(url)
        if state == "ok" and stored is not None:
            return stored
        if state == "failed":
            raise DocumentRefused("its metadata document failed to load moments ago")
        task = self._inflight.get(url)
        if task is None and len(self._inflight) >= MAX_FETCHING:
            raise DocumentRefused("too many documents are being fetched; try again shortly")
        if task is None:  # registered before any await: later askers find it and wait
            task = asyncio.ensure_future(self._load(url, stored, caller))
            self._inflight[url] = task
            task.add_done_callback(lambda _: self._inflight.pop(url, None))
        return await asyncio.shield(task)

    async def _count(self, caller: str) -> None:
        """Count this fetch against the caller's allowance first; refuse past it."""
        policy = self.policy
        pair, _ = await self.store.throttle.count_failures(
            _BUCKET, "fetch", caller, window=policy.window)
        if pair[0] > policy.per_address:
            raise SlowDown(retry_after=pair[1])

    async def _load(self, url: str, stored: Client | None, caller: str) -> Client:
        """Fetch, validate and store the document; the caller who caused it counts it."""
        await self._count(caller)
        try:
            fetched = await self.fetcher.get_json(url)
            client = self._client(url, await self._metadata(url, rm.parse_json(fetched.body)),
                                  stored)
        except (self._refused, DocumentRefused, InvalidClientMetadata,
                InvalidRedirectUri) as exc:
            reason = getattr(exc, "description", None) or str(exc)
            logger.warning("client metadata document %r refused: %s", url, reason)
            if self.policy.failure_ttl:
                await self.store.documents.failed(url, self.policy.failure_ttl)
            raise DocumentRefused(reason) from None
        written = await self.store.documents.store(
            client, replaces=stored.generation if stored else "", cap=self.policy.max_clients,
            lifetime=self._lifetime(fetched.headers))
        if written < 0:
            logger.warning("client metadata document %r refused: %d document clients "
                           "(the cap)", url, self.policy.max_clients)
            raise DocumentRefused("the server accepts no more clients by metadata document")
        if written == 0:  # another worker wrote it meanwhile: theirs is as fresh
            _, again = await self.store.documents.read(url)
            if again is None:
                raise DocumentRefused("the client was removed while its document loaded")
            return again
        logger.info("client metadata document %r loaded", url)
        return client

    async def _metadata(self, url: str, data: dict[str, Any]) -> rm.Metadata:
        """The document's metadata, validated as a public client's registration."""
        if data.get("client_id") != url:
            raise DocumentRefused("the document's client_id is not exactly its URL")
        if "client_secret" in data or "client_secret_expires_at" in data:
            raise DocumentRefused("a metadata document must not carry a client secret")
        if data.get("token_endpoint_auth_method", "none") != "none":
            raise DocumentRefused("token_endpoint_auth_method must be none here "
                                  "(private_key_jwt is not supported)")
        fields = {k: v for k, v in data.items() if k != "scope" and k not in rm.SERVER_FIELDS}
        metadata = await rm.validate(fields, _PUBLIC_PROFILE, self.store, self.enabled)
        host = urlsplit(url).hostname
        if self.policy.same_host_redirects and any(
                urlsplit(uri).scheme == "https" and urlsplit(uri).hostname != host
                for uri in metadata.redirect_uris):
            raise DocumentRefused("https redirect URIs must be on the client id's own host")
        return metadata

    def _client(self, url: str, metadata: rm.Metadata, stored: Client | None) -> Client:
        now = self.store.clock()
        return Client(
            client_id=url, title=metadata.client_name or url, redirect_uris=metadata.redirect_uris,
            public=True, scopes=self.policy.scopes, grant_types=metadata.grant_types,
            link=metadata.client_uri, dynamic=True,
            created_at=stored.created_at if stored else now,
            generation=stored.generation if stored else new_generation())

    def _lifetime(self, headers: Any) -> float:
        """Seconds the document is used: its HTTP freshness within the policy's bounds."""
        policy = self.policy
        fresh = self._freshness(headers, self.store.clock())
        ttl = policy.default_ttl if fresh is None else fresh
        return min(float(policy.max_ttl), max(float(policy.min_ttl), ttl))
