"""Dynamic client registration (RFC 7591 §3) and its management (RFC 7592 §2).

``POST register/`` registers a client from its JSON metadata
(:mod:`.registration_metadata`) and answers, once, its ``client_id``, its secret
when confidential, and a ``registration_access_token`` that is stored only as a
digest. With that token as a bearer, ``GET``/``PUT``/``DELETE
register/<client_id>`` read, replace and remove the client; removing revokes its
tokens, as removing any client does. Only clients registered here can be managed
here: a host's own clients have no registration token.

Every registration request counts against its caller's address first (one
script counts, :mod:`.throttle`'s pattern): of N sent at once exactly the
allowance is served, the rest get 429 ``slow_down``, whether they were valid or
not, and an initial access token cannot be guessed faster either. The number of
dynamically registered clients is capped server-wide, counted by the script that
writes (403 ``access_denied`` past it, logged for the operator).
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import replace
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from oauth_middleware.audit import note, removed
from oauth_middleware.error_response import render
from oauth_middleware.errors import (
    AccessDenied,
    InvalidClientMetadata,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    OAuthError,
    ServerError,
    SlowDown,
)
from oauth_middleware.models import Client
from oauth_middleware.policy import validate_client_id
from oauth_middleware.security import (
    constant_time_equals,
    digest,
    hash_client_secret,
    new_client_id,
    new_generation,
    new_secret,
    verify_client_secret,
)
from oauth_middleware.server import registration_metadata as rm
from oauth_middleware.server.boundary import JsonEndpoint, read_body
from oauth_middleware.server.config import RegistrationPolicy, ServerConfig
from oauth_middleware.server.responses import json_response
from oauth_middleware.server.throttle import caller_address

logger = logging.getLogger("oauth_middleware.server")
_BUCKET = "registration"


def routes(config: ServerConfig) -> list[BaseRoute]:
    """``register/`` and ``register/<client_id>``, when registration is enabled."""
    policy = config.registration
    if policy is None:
        return []
    collection = RegistrationEndpoint(config, policy)
    item = ClientConfigurationEndpoint(config, policy)
    return [Route("/register/", collection, name="oauth_register"),
            Route("/register", collection),
            Route("/register/{client_id}", item, name="oauth_client_configuration")]


async def note_use(config: ServerConfig, client: Client) -> None:
    """A code or token went to ``client``: if it registered itself, note when, and restart
    its expiry (``RegistrationPolicy.expire_unused_after``). One write, dynamic clients only."""
    if client.dynamic:
        policy = config.registration
        await config.store.touch_dynamic_client(
            client.client_id,
            expire_unused_after=None if policy is None else policy.expire_unused_after)


def _bearer(request: Request) -> str:
    """The bearer token of the Authorization header (RFC 6750 §2.1), or MissingToken."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken()
    return token.strip()


async def _json_body(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise InvalidRequest("The body must be application/json (RFC 7591 §3.1).")
    return rm.parse_json(await read_body(request, rm.MAX_BODY))


def _metadata_of(client: Client) -> rm.Metadata:
    return rm.Metadata(
        redirect_uris=client.redirect_uris, grant_types=client.grant_types,
        auth_method="none" if client.public else "client_secret_basic",
        client_name="" if client.title == client.client_id else client.title,
        client_uri=client.link, scopes=client.scopes,
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        require_par=client.require_pushed_authorization_requests,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        dpop_bound=client.require_dpop)


class _Registration(JsonEndpoint):
    def __init__(self, config: ServerConfig, policy: RegistrationPolicy) -> None:
        super().__init__(config)
        self.policy = policy
        keys = config.signing_keys
        #: What ``id_token_signed_response_alg`` may name: the key ring's algorithms.
        self.signed: tuple[str, ...] = keys.algorithms if keys is not None else ()

    def render(self, exc: OAuthError) -> Response:
        """A ``Bearer`` challenge on every 401: the tokens judged here are bearer tokens."""
        if isinstance(exc, MissingToken):
            return render(exc, self.config.realm).response()
        return super().render(exc)

    def answer(self, client: Client, metadata: rm.Metadata, token: str,
               secret: str | None = None, status: int = 200) -> Response:
        body: dict[str, object] = {"client_id": client.client_id,
                                   "client_id_issued_at": int(client.created_at)}
        if secret is not None:
            body["client_secret"] = secret
        if not client.public:
            body["client_secret_expires_at"] = 0
        body.update(rm.described(metadata))
        body["registration_access_token"] = token
        body["registration_client_uri"] = self.config.url(f"register/{client.client_id}")
        return json_response(body, status)


class RegistrationEndpoint(_Registration):
    """``POST register/``: RFC 7591 §3.1 registration."""

    async def respond(self, request: Request, query: bytes) -> Response:
        await self._count(request)
        policy = self.policy
        if policy.gated:
            await self._check_initial_token(_bearer(request), policy)
        metadata = await rm.validate(await _json_body(request), policy, self.store,
                                     frozenset(self.config.grant_types), self.signed)
        client_id, token = new_client_id(), new_secret()
        secret = None if metadata.public else new_secret()
        client = Client(
            client_id=client_id, title=metadata.client_name or client_id,
            redirect_uris=metadata.redirect_uris, public=metadata.public,
            secret_hash=None if secret is None else hash_client_secret(secret),
            scopes=metadata.scopes, grant_types=metadata.grant_types, link=metadata.client_uri,
            post_logout_redirect_uris=metadata.post_logout_redirect_uris,
            require_pushed_authorization_requests=metadata.require_par,
            id_token_signed_response_alg=metadata.id_token_signed_response_alg,
            require_dpop=metadata.dpop_bound,
            created_at=time.time(), generation=new_generation(), dynamic=True,
            registration_token_hash=digest(token))
        written = await self.store.register_dynamic_client(
            client, cap=policy.max_clients, expire_unused_after=policy.expire_unused_after)
        if written < 0:
            logger.warning("dynamic registration refused: %d clients registered (the cap)",
                           policy.max_clients)
            raise AccessDenied("The server accepts no more dynamically registered clients.")
        if written == 0:
            raise ServerError()  # a random 128-bit id taken: not worth a retry path
        logger.info("client %s registered dynamically", client_id)
        await note(self.config.audit, "client.registered", actor="registration",
                   client=client_id, scopes=client.scopes)
        return self.answer(client, metadata, token, secret, status=201)

    async def _count(self, request: Request) -> None:
        """Count this request against its address's allowance first; refuse past it."""
        policy = self.policy
        pair, _ = await self.store.throttle.count_failures(
            _BUCKET, "register", caller_address(request.scope), window=policy.window)
        if pair[0] > policy.per_address:
            raise SlowDown(retry_after=pair[1])

    @staticmethod
    async def _check_initial_token(token: str, policy: RegistrationPolicy) -> None:
        expected = policy.initial_access_token
        if callable(expected):
            verdict = expected(token)
            ok = bool(await verdict if inspect.isawaitable(verdict) else verdict)
        else:
            ok = expected is not None and constant_time_equals(token, expected)
        if not ok:
            raise InvalidToken("The initial access token is invalid.")


class ClientConfigurationEndpoint(_Registration):
    """``GET``/``PUT``/``DELETE register/<client_id>``: RFC 7592 §2 management."""

    methods: ClassVar[frozenset[str]] = frozenset({"GET", "PUT", "DELETE"})

    async def respond(self, request: Request, query: bytes) -> Response:
        token = _bearer(request)
        client = await self._client(request.path_params.get("client_id", ""), token)
        if request.method == "GET":
            return self.answer(client, _metadata_of(client), token)
        if request.method == "DELETE":
            await self.store.delete_client(client.client_id)
            revoked = await self.store.revoke_client_tokens(client.client_id)
            logger.info("client %s deleted by its registration token", client.client_id)
            await removed(self.config.audit, client.client_id, revoked,
                          actor=f"client:{client.client_id}", reason="registration token")
            return Response(status_code=204, headers={"Cache-Control": "no-store",
                                                      "Pragma": "no-cache"})
        return await self._replace(request, client, token)

    async def _client(self, client_id: str, token: str) -> Client:
        """The dynamic client this token manages; one refusal for every other case
        (unknown id, a host's client, a wrong token), so nothing is learnt from it."""
        try:
            client = await self.store.get_client(validate_client_id(client_id))
        except ValueError:
            client = None
        stored = client.registration_token_hash if client is not None else None
        if client is None or not client.dynamic or stored is None \
                or not constant_time_equals(digest(token), stored):
            raise InvalidToken("The registration access token is invalid.")
        return client

    async def _replace(self, request: Request, client: Client, token: str) -> Response:
        """RFC 7592 §2.2: the metadata replaced, validated as a registration is."""
        data = await _json_body(request)
        if data.get("client_id") != client.client_id:
            raise InvalidClientMetadata("client_id must be the client's own.")
        secret = data.get("client_secret")
        if secret is not None and not (isinstance(secret, str)
                                       and verify_client_secret(client.secret_hash, secret)):
            raise InvalidClientMetadata("client_secret does not match.")
        fields = {k: v for k, v in data.items() if k not in rm.SERVER_FIELDS}
        fields.setdefault("token_endpoint_auth_method", _metadata_of(client).auth_method)
        metadata = await rm.validate(fields, self.policy, self.store,
                                     frozenset(self.config.grant_types), self.signed)
        if metadata.public != client.public:
            raise InvalidClientMetadata("token_endpoint_auth_method cannot switch between "
                                        "public and confidential: register a new client.")
        updated = replace(client, title=metadata.client_name or client.client_id,
                          redirect_uris=metadata.redirect_uris, scopes=metadata.scopes,
                          grant_types=metadata.grant_types, link=metadata.client_uri,
                          post_logout_redirect_uris=metadata.post_logout_redirect_uris,
                          require_pushed_authorization_requests=metadata.require_par,
                          id_token_signed_response_alg=metadata.id_token_signed_response_alg,
                          require_dpop=metadata.dpop_bound)
        if not await self.store.save_client(updated, only="same"):
            raise InvalidToken("The registration access token is invalid.")
        await note(self.config.audit, "client.changed", actor=f"client:{client.client_id}",
                   client=client.client_id, reason="registration token")
        return self.answer(updated, metadata, token)
