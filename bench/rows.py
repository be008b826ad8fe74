"""The rows of the table: which app, which request, what answer counts as success.

Server rows follow RFC 6749 §4.1.3, §4.4, §6, RFC 7009 §2.1 and RFC 7662 §2.1:
form-encoded POSTs with HTTP Basic client authentication. Pooled rows replace
``{VALUE}`` in the body with a fresh code or token per request.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from bench.seed import ES256_CLIENT_ID, REDIRECT_URI, SCOPE, Seeded
from bench.wrk import Request
from oauth_middleware.models import TOKEN_EXCHANGE
from oauth_middleware.server.exchange_policy import ACCESS_TOKEN_TYPE

App = Literal["bare", "protected", "audience", "cached", "jwt", "dpop", "peer", "cluster",
              "cluster2", "cluster_cached", "metrics", "audited", "protected2"]
Pool = Literal["codes", "oidc_codes", "oidc_es256_codes", "refresh", "access", "proofs"]
FORM = "application/x-www-form-urlencoded"
#: Shaped like one of our tokens, but never issued: the lookup runs and misses.
UNKNOWN_TOKEN = "A" * 22 + "." + "B" * 43


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    app: App
    request: Request
    expect: int = 200
    pool: Pool | None = None
    #: Authorization-server rows: skipped while the endpoint answers 501.
    server: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def _basic(seeded: Seeded, es256: bool = False) -> dict[str, str]:
    client_id, secret = ((ES256_CLIENT_ID, seeded.es256_secret) if es256
                         else (seeded.client_id, seeded.client_secret))
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
            "Content-Type": FORM}


def _post(path: str, body: str, seeded: Seeded, es256: bool = False) -> Request:
    return Request("POST", path, _basic(seeded, es256), body)


def cluster_rows(seeded: Seeded) -> list[Row]:
    """The same requests through a 3-primary Redis Cluster (its own seeded client and
    token): against ``header``, ``token_cc`` and ``cached`` of the same run, and two workers
    against one."""
    bearer = {"Authorization": f"Bearer {seeded.token}"}
    return [
        Row("cluster_header", "cluster: protected, header token", "cluster",
            Request(headers=bearer)),
        Row("cluster_cc", "cluster: token client_credentials", "cluster",
            _post("/oauth/token", f"grant_type=client_credentials&scope={SCOPE}", seeded),
            server=True),
        Row("cluster_cached", "cluster: protected, header token, local_cache=True",
            "cluster_cached", Request(headers=bearer)),
        Row("cluster_header_2w", "cluster: protected, header token, 2 workers", "cluster2",
            Request(headers=bearer)),
    ]


def rows(seeded: Seeded, peer_token: str | None, cluster: Seeded | None = None) -> list[Row]:
    bearer = {"Authorization": f"Bearer {seeded.token}"}
    redirect = quote(REDIRECT_URI, safe="")
    table = [
        Row("bare", "bare route (no middleware)", "bare", Request()),
        Row("header", "protected, header token", "protected", Request(headers=bearer)),
        Row("header_metrics", "protected, header token, Prometheus metrics on", "metrics",
            Request(headers=bearer)),
        Row("header_2w", "protected, header token, 2 workers (unpinned)", "protected2",
            Request(headers=bearer)),
        Row("body", "protected, form-body token", "protected",
            Request("POST", "/me", {"Content-Type": FORM}, f"access_token={seeded.token}")),
        Row("query", "protected, query token", "protected",
            Request(path=f"/me?access_token={seeded.token}")),
        Row("our_jwt", "protected, our JWT access token (revocation checked in Redis)",
            "protected", Request(headers={"Authorization": f"Bearer {seeded.our_jwt}"})),
        Row("audience", "protected, header token, require_audience=True (RFC 8707)",
            "audience", Request(headers={"Authorization": f"Bearer {seeded.audience_token}"})),
        Row("dpop", "protected, DPoP-bound token, a fresh proof per request (RFC 9449)", "dpop",
            Request(headers={"Authorization": f"DPoP {seeded.dpop_token}", "DPoP": "{VALUE}"}),
            pool="proofs"),
        Row("invalid", "unknown token (401)", "protected",
            Request(headers={"Authorization": f"Bearer {UNKNOWN_TOKEN}"}), expect=401),
        Row("cached", "protected, header token, local_cache=True", "cached",
            Request(headers=bearer)),
        Row("foreign_jwt", "protected, foreign JWT (JWTVerifier, keys cached, no Redis)", "jwt",
            Request(headers={"Authorization": f"Bearer {seeded.foreign_jwt}"})),
        Row("token_cc", "token: client_credentials", "protected",
            _post("/oauth/token", f"grant_type=client_credentials&scope={SCOPE}", seeded),
            server=True),
        Row("token_cc_cached", "token: client_credentials, local_cache=True", "cached",
            _post("/oauth/token", f"grant_type=client_credentials&scope={SCOPE}", seeded),
            server=True),
        Row("token_exchange", "token: token exchange (RFC 8693), impersonation", "protected",
            _post("/oauth/token", f"grant_type={quote(TOKEN_EXCHANGE, safe='')}"
                  "&subject_token={VALUE}"
                  f"&subject_token_type={quote(ACCESS_TOKEN_TYPE, safe='')}&scope={SCOPE}",
                  seeded), pool="access", server=True),
        Row("token_code", "token: authorization_code redemption", "protected",
            _post("/oauth/token", f"grant_type=authorization_code&code={{VALUE}}"
                  f"&redirect_uri={redirect}", seeded), pool="codes", server=True),
        Row("token_code_oidc", "token: authorization_code redemption with an RS256 ID token",
            "protected", _post("/oauth/token", f"grant_type=authorization_code&code={{VALUE}}"
                               f"&redirect_uri={redirect}", seeded),
            pool="oidc_codes", server=True),
        Row("token_code_oidc_es256", "token: authorization_code redemption with an ES256 "
            "ID token", "protected",
            _post("/oauth/token", f"grant_type=authorization_code&code={{VALUE}}"
                  f"&redirect_uri={redirect}", seeded, es256=True),
            pool="oidc_es256_codes", server=True),
        Row("token_refresh", "token: refresh_token", "protected",
            _post("/oauth/token", "grant_type=refresh_token&refresh_token={VALUE}", seeded),
            pool="refresh", server=True),
        Row("revoke", "revoke (RFC 7009)", "protected",
            _post("/oauth/revoke", "token={VALUE}&token_type_hint=access_token", seeded),
            pool="access", server=True),
        Row("introspect", "introspect (RFC 7662)", "protected",
            _post("/oauth/introspect", f"token={seeded.token}", seeded), server=True),
        *audited_rows(seeded),
    ]
    if cluster is not None:
        table += cluster_rows(cluster)
    if peer_token is not None:
        table.append(Row("peer", "peer: django-oauth-toolkit, header token", "peer",
                         Request(path="/me/", headers={"Authorization": f"Bearer {peer_token}"})))
    return table


def audited_rows(seeded: Seeded) -> list[Row]:
    """The token endpoint rows again with an audit trail on (an event per request)."""
    redirect = quote(REDIRECT_URI, safe="")
    return [
        Row("token_cc_audited", "token: client_credentials, audit trail on", "audited",
            _post("/oauth/token", f"grant_type=client_credentials&scope={SCOPE}", seeded),
            server=True),
        Row("token_code_audited", "token: authorization_code, audit trail on", "audited",
            _post("/oauth/token", f"grant_type=authorization_code&code={{VALUE}}"
                  f"&redirect_uri={redirect}", seeded), pool="codes", server=True),
        Row("token_refresh_audited", "token: refresh_token, audit trail on", "audited",
            _post("/oauth/token", "grant_type=refresh_token&refresh_token={VALUE}", seeded),
            pool="refresh", server=True),
        Row("revoke_audited", "revoke (RFC 7009), audit trail on", "audited",
            _post("/oauth/revoke", "token={VALUE}&token_type_hint=access_token", seeded),
            pool="access", server=True),
    ]
