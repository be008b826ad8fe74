"""Every requirement of SECURITY.md as a rule with a stable id, its section and its RFC.

One entry per rule (a bullet of SECURITY.md that asks for several independent
things is split). Tests name the rules they prove with
``@pytest.mark.rule("token.code.single-use", ...)``; ``scripts/compliance``
collects the markers and writes docs/compliance.md. Ids are stable: rename one
only together with every marker that uses it (a test fails on unknown ids).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    section: str
    rfc: str
    text: str


RESPONSES = "Responses everywhere"
AUTHORIZE = "Authorization endpoint"
TOKEN = "Token endpoint"
RESOURCE = "Resource protection"
SIDE = "Revocation, introspection, metadata"
AT_REST = "At rest, in memory, in logs"
TRANSPORT = "Transport and abuse"
REDIS = "Redis unavailable or slow: fail closed"
#: SECURITY.md's sections, in its order.
SECTIONS = (RESPONSES, AUTHORIZE, TOKEN, RESOURCE, SIDE, AT_REST, TRANSPORT, REDIS)

RULES: tuple[Rule, ...] = (
    Rule("oidc.id-token.claims", TOKEN, "RFC 7515 §4.1.4; OpenID Connect Core 1.0 §2, "
         "§3.1.3.6", "An ID token is signed by the server's key ring (RS256 unless the client "
         "registered another) under a published kid, and carries iss, sub, aud (the client "
         "id), iat, exp, and auth_time, nonce, acr, amr and at_hash where they apply."),
    Rule("oidc.discovery", SIDE, "RFC 8414 §2, §3; OpenID Connect Discovery 1.0 §3, §4",
         "{issuer}/.well-known/openid-configuration and the RFC 8414 document are the same, "
         "name the userinfo endpoint, the signing algorithms of the key ring, the subject "
         "types and claims, and say request objects are not taken."),
    Rule("responses.token-family.json-no-store", RESPONSES, "RFC 6749 §5.1, §5.2",
         "token/, revoke/, introspect/: every answer is JSON with Cache-Control: no-store "
         "and Pragma: no-cache."),
    Rule("responses.token-family.error-shape", RESPONSES, "RFC 6749 §5.2",
         "Errors are exactly {error, error_description}, the text ASCII-safe (no \" or \\)."),
    Rule("responses.token-family.never-html", RESPONSES, "RFC 6749 §5.1, §5.2",
         "Never HTML, never a traceback, never an error body on a 200."),
    Rule("responses.token-success.shape", RESPONSES, "RFC 6749 §5.1, §3.3",
         "Success: token_type Bearer, expires_in a JSON integer, scope a space-delimited "
         "string, present whenever it differs from what was asked."),
    Rule("responses.html.headers", RESPONSES, "RFC 6749 §10.13; RFC 9700 §4.16",
         "HTML pages carry X-Frame-Options: DENY, CSP frame-ancestors 'none', "
         "Cache-Control: no-store, Referrer-Policy: no-referrer, nosniff."),
    Rule("responses.html.escaped", RESPONSES, "RFC 6749 §10.14",
         "Every value shown on a page is HTML-escaped."),
    Rule("responses.auth.no-cors", RESPONSES, "RFC 9700 §4.16",
         "No CORS headers on auth/."),
    Rule("responses.redirect.303", RESPONSES, "RFC 9700 §4.12; RFC 6749 §5.1",
         "Redirects carrying a code or token are 303 (or 302), never 307/308, with "
         "Cache-Control: no-store."),
    Rule("responses.5xx-generic", RESPONSES, "RFC 6749 §5.2",
         "Any 5xx has a generic body: no traceback, no Redis host/port, no token text."),

    Rule("auth.client-first", AUTHORIZE, "RFC 6749 §3.1.2.4, §4.1.2.1",
         "client_id and redirect_uri are validated first; unknown, missing or repeated "
         "client, unregistered URI or a missing one among several: an HTML page, no "
         "Location. Only then may errors travel by redirect."),
    Rule("auth.redirect.exact-match", AUTHORIZE, "RFC 9700 §2.1, §4.1.3; RFC 8252 §7.3",
         "Redirect URIs match by exact string; the only leeway is the port of a loopback "
         "IP literal for native clients."),
    Rule("auth.redirect.registered-query-kept", AUTHORIZE, "RFC 6749 §3.1.2",
         "A registered URI with a query keeps it; our parameters are appended with &."),
    Rule("auth.redirect.registration-rules", AUTHORIZE,
         "RFC 6749 §3.1.2, §3.1.2.1; RFC 8252 §7.3",
         "Registration refuses fragments, relative URIs, wildcards and plain http: "
         "except loopback."),
    Rule("auth.error.codes", AUTHORIZE, "RFC 6749 §4.1.2.1, §4.2.2.1",
         "Error redirects use unsupported_response_type, invalid_request, "
         "unauthorized_client, invalid_scope, access_denied, temporarily_unavailable; "
         "in the query for code, in the fragment for token."),
    Rule("auth.state.round-trip", AUTHORIZE, "RFC 6749 §4.1.2, §4.1.2.1",
         "state round-trips byte-exact and URL-encoded on success and every error; absent "
         "when not sent."),
    Rule("auth.params.empty-unknown-repeated", AUTHORIZE, "RFC 6749 §3.1",
         "Empty parameters count as omitted, unknown ones are ignored, repeated ones are "
         "errors."),
    Rule("auth.pkce.required-public", AUTHORIZE, "RFC 7636 §4.4.1; RFC 9700 §2.1.1",
         "PKCE is required for public clients and accepted from all."),
    Rule("auth.pkce.s256-only", AUTHORIZE, "RFC 7636 §4.2, §4.3; RFC 9700 §2.1.1",
         "S256 only: a missing or plain method is invalid_request unless the client is "
         "allowed plain; the challenge format is checked."),
    Rule("auth.pkce.metadata", AUTHORIZE, "RFC 8414 §2; RFC 9700 §2.1.1",
         "Metadata advertises the PKCE methods (code_challenge_methods_supported)."),
    Rule("auth.iss-parameter", AUTHORIZE, "RFC 9207 §2, §3; RFC 9700 §4.4.2",
         "Every authorization response, success or error, in the query or the fragment, "
         "carries iss (the configured issuer), and the metadata says "
         "authorization_response_iss_parameter_supported: true."),
    Rule("oidc.nonce.echoed", AUTHORIZE, "RFC 9700 §4.5.3; OpenID Connect Core 1.0 §3.1.2.1, "
         "§3.2.2.1", "The nonce sent to auth/ is stored with the code (or the pending request) "
         "and echoed byte for byte in the ID token; the implicit flow refuses a request "
         "without one (invalid_request)."),
    Rule("oidc.prompt-none.no-page", AUTHORIZE, "RFC 6749 §4.1.2.1; OpenID Connect Core 1.0 "
         "§3.1.2.6", "prompt=none never shows a page: login_required or consent_required go "
         "to the client's redirect URI with state and iss, nothing is stored or issued, and "
         "the answer is the same whoever login_hint names."),
    Rule("oidc.max-age", AUTHORIZE, "RFC 6749 §3.1; OpenID Connect Core 1.0 §3.1.2.1",
         "A sign-in older than max_age sends the user to log in again (login_required under "
         "prompt=none, and when the host gives no auth_time) and the ID token then carries "
         "auth_time."),
    Rule("oidc.id-token-hint.bound", AUTHORIZE, "RFC 7519 §7.2; OpenID Connect Core 1.0 "
         "§3.1.2.1", "An id_token_hint counts only if this server signed it, for this issuer "
         "and for the client now asking (invalid_request otherwise); one naming another user "
         "than the one signed in is login_required under prompt=none, a new login otherwise."),
    Rule("oidc.params.bounded", AUTHORIZE, "RFC 6749 §3.1; OpenID Connect Core 1.0 §3.1.2.1",
         "nonce, prompt, max_age, login_hint, id_token_hint, ui_locales and claims are "
         "bounded, free of control characters and refused when repeated or malformed, "
         "before anything is stored."),
    Rule("auth.login.never-a-token", AUTHORIZE, "RFC 6749 §3.1, §10.2; RFC 9700 §4.14",
         "Who the resource owner is comes only from the host's login: a request to auth/ "
         "or its consent POST that carries a bearer token (Authorization Bearer header, "
         "access_token in the body or query, whatever its value) is a 400 invalid_request "
         "page; nothing is stored or consumed."),
    Rule("auth.login.token-identity-refused", AUTHORIZE, "RFC 6749 §3.1; RFC 9700 §4.14",
         "A token-derived identity (a user's or a client's token) never passes the default "
         "authenticate hook or the admin's is_admin, whatever the middleware order; the "
         "admin refuses any request carrying a bearer token, GET and POST."),
    Rule("auth.login.hook-answer-strict", AUTHORIZE, "RFC 6749 §3.1, §4.3.2",
         "A hook's answer names a user only when it is a non-empty user id: False, True or "
         "an empty string from authenticate or verify_password means nobody (fail closed), "
         "never a user named 'False'."),
    Rule("auth.client-identity-not-a-user", AUTHORIZE, "RFC 6749 §4.4; RFC 9068 §5",
         "A client's own identity (client_credentials) is never a user id, at any surface: "
         "request.user, the demo's /api/me, introspection's sub/username, the CLI's and the "
         "admin's token listings and user searches."),
    Rule("auth.login.before-errors", AUTHORIZE, "RFC 6749 §3.1",
         "An anonymous user is sent to the login URL with next= before any client error "
         "is revealed by redirect."),
    Rule("auth.consent.shows-client-and-scopes", AUTHORIZE, "RFC 6749 §3.3, §10.2",
         "Consent shows the client name and the scope titles."),
    Rule("auth.consent.remove-only", AUTHORIZE, "RFC 6749 §3.3",
         "The user can only remove scopes, never add one."),
    Rule("auth.consent.deny", AUTHORIZE, "RFC 6749 §4.1.2.1",
         "Deny gives access_denied."),
    Rule("auth.csrf.transaction", AUTHORIZE, "RFC 6749 §10.12; RFC 9700 §4.7",
         "The decision POST carries a server-side transaction id and a signed CSRF token "
         "bound to the user and the transaction, accepted once."),
    Rule("auth.csrf.get-never-grants", AUTHORIZE, "RFC 6749 §10.12; OpenID Connect Core 1.0 "
         "§3.1.2.4", "A GET never grants while remember_consent is off (the default); with "
         "it on, a GET (even cross-site) grants only what the same user approved before for "
         "the same client registration, and only to a registered redirect URI; a HEAD never "
         "grants."),
    Rule("auth.consent.remembered", AUTHORIZE,
         "RFC 6749 §10.2; OpenID Connect Core 1.0 §3.1.2.4, §3.1.2.1",
         "Consent is remembered only when the server is configured to (off by default), per "
         "user and client registration, for a bounded lifetime: a GET skips the page only "
         "when every requested scope was approved on it before and may still be granted; "
         "prompt=consent, one scope more, an unticked or denied scope, expiry, or forgetting "
         "it (admin, CLI, revoking the user's grants) asks again."),
    Rule("logout.hint-ends-session", AUTHORIZE, "RFC 6749 §10.12; OpenID Connect "
         "RP-Initiated Logout 1.0 §2",
         "end_session/ ends the host's session at once only for a valid id_token_hint of the "
         "signed-in user; the answer is a 303 with state to a registered post-logout URI."),
    Rule("logout.csrf", AUTHORIZE, "RFC 6749 §10.12; OpenID Connect RP-Initiated Logout 1.0 §2",
         "Without such a hint a GET to end_session/ never logs anyone out: it asks, and the "
         "confirmation is a POST with a CSRF token bound to the user and the request, "
         "refused cross-site (403)."),
    Rule("logout.redirect.registered", AUTHORIZE, "RFC 9700 §4.11; OpenID Connect "
         "RP-Initiated Logout 1.0 §3.1",
         "The user is sent back only to a post_logout_redirect_uri registered, exactly, for "
         "the client the hint or client_id names; any other address gets a page, never a "
         "Location."),
    Rule("logout.hint-verified", AUTHORIZE, "RFC 7515 §5.2; RFC 8725 §3.1; OpenID Connect "
         "RP-Initiated Logout 1.0 §2",
         "An id_token_hint counts only when signed by a published key with an asymmetric "
         "algorithm (never none, never HMAC with a public key), issued by this server, not "
         "a JWT access token, and issued to the client_id sent; otherwise a 400 page."),
    Rule("auth.csrf.cross-site", AUTHORIZE, "RFC 6749 §10.12, §10.13; RFC 9700 §4.7",
         "A cross-site POST is refused (403) and no code is created."),
    Rule("auth.implicit", AUTHORIZE, "RFC 6749 §4.2, §4.2.2",
         "Implicit only for clients allowed it; the token in the fragment; never a "
         "refresh token."),
    Rule("auth.implicit.not-confidential", AUTHORIZE, "RFC 9700 §2.1.2; RFC 6749 §4.2",
         "A confidential client is not registered for the implicit grant unless that is "
         "explicitly forced."),

    Rule("token.post-only", TOKEN, "RFC 6749 §3.2", "The token endpoint takes POST only."),
    Rule("token.form-only", TOKEN, "RFC 6749 §3.2, §4.1.3, Appendix B",
         "application/x-www-form-urlencoded only (a JSON body is invalid_request); "
         "parameters strictly decoded, none repeated."),
    Rule("token.no-query-params", TOKEN, "RFC 6749 §2.3.1, §3.2",
         "OAuth parameters in the query string are invalid_request."),
    Rule("token.body-caps", TOKEN, "RFC 6749 §3.2",
         "Body size and field count are capped (413 / invalid_request, as JSON)."),
    Rule("token.grant-type.selection", TOKEN, "RFC 6749 §5.2",
         "grant_type missing: invalid_request; unknown: unsupported_grant_type; not "
         "allowed for this client: unauthorized_client."),
    Rule("token.client-auth.basic", TOKEN, "RFC 6749 §2.3.1, Appendix B",
         "HTTP Basic: base64, split on the first ':', then URL-decode each half."),
    Rule("token.client-auth.post", TOKEN, "RFC 6749 §2.3, §2.3.1",
         "client_secret_post works; Basic and post at once is invalid_request."),
    Rule("token.client-auth.failure", TOKEN, "RFC 6749 §5.2",
         "Failure is 401 invalid_client with WWW-Authenticate: Basic realm; unknown client "
         "and wrong secret look identical; malformed Basic headers are 401, never 500."),
    Rule("token.client-auth.public", TOKEN, "RFC 6749 §2.1, §3.2.1",
         "Public clients send only client_id, and only for code+PKCE and refresh."),
    Rule("token.client-auth.url-safe-ids", TOKEN, "RFC 6749 §2.2, Appendix A",
         "Generated client ids and secrets use the URL-safe alphabet only."),
    Rule("token.code.random-ttl", TOKEN, "RFC 6749 §4.1.2, §10.10",
         "Authorization codes: at least 128 random bits, at most 10 minutes TTL."),
    Rule("token.code.single-use", TOKEN, "RFC 6749 §4.1.2",
         "A code is used once, by one atomic operation: of N concurrent redemptions "
         "exactly one succeeds."),
    Rule("token.code.replay-revokes", TOKEN, "RFC 6749 §4.1.2, §10.5",
         "A replayed valid code is refused and revokes the tokens issued from it; a replay "
         "with invalid parameters revokes nothing."),
    Rule("token.code.binding", TOKEN, "RFC 6749 §4.1.3; RFC 7636 §4.6",
         "A code is bound to client, redirect_uri, user, scope and PKCE challenge; every "
         "mismatch is invalid_grant."),
    Rule("token.refresh.rotation", TOKEN, "RFC 6749 §6; RFC 9700 §4.14.2",
         "Refresh rotates on every use; the old refresh token dies."),
    Rule("token.refresh.reuse-revokes-family", TOKEN, "RFC 9700 §4.14.2",
         "Reusing a rotated refresh token revokes the whole family."),
    Rule("token.refresh.scope-narrow", TOKEN, "RFC 6749 §6",
         "Scope can be narrowed, never widened (invalid_scope, token not consumed)."),
    Rule("token.refresh.client-bound", TOKEN, "RFC 6749 §6, §10.4",
         "A refresh token is bound to its client."),
    Rule("token.refresh.concurrent", TOKEN, "RFC 9700 §4.14.2",
         "Concurrent refreshes with one token: exactly one wins."),
    Rule("token.resource.bound", TOKEN, "RFC 8707 §2, §2.2",
         "resource (repeatable) at auth/ and token/ is bound to the code and the refresh "
         "token; redemption and refresh may narrow it to a subset, never widen it "
         "(invalid_target, nothing consumed); the access token records it as its audience."),
    Rule("token.resource.invalid-target", TOKEN, "RFC 8707 §2",
         "A resource that is not an absolute URI, has a fragment, is over-long, repeated or "
         "one too many, or that the client may not use, is invalid_target (control "
         "characters are invalid_request, as in any parameter)."),
    Rule("token.resource.defaults", TOKEN, "RFC 8707 §2",
         "A client naming no resource gets its registered resources, else the server's "
         "default_resource, else no audience (as before)."),
    Rule("token.client-credentials", TOKEN, "RFC 6749 §4.4, §4.4.3; RFC 9700 §4.15",
         "client_credentials: confidential clients only, no refresh token, the subject is "
         "the client in a namespace that cannot collide with user ids."),
    Rule("exchange.confidential-only", TOKEN, "RFC 8693 §2.1, §5; RFC 6749 §5.2",
         "Token exchange answers only confidential clients registered for it on a server "
         "configured for it (unauthorized_client otherwise); it issues an access token with "
         "issued_token_type and no refresh token, and refuses another requested_token_type."),
    Rule("exchange.subject", TOKEN, "RFC 8693 §2.1, §2.2.2, §5",
         "A subject_token is one of our live access tokens issued to the caller or meant for an "
         "API it serves, or a user's JWT a trusted issuer verifies; any other (unknown, "
         "expired, revoked, another audience, an untrusted issuer, a refresh token) is "
         "invalid_request, and the new token never outlives it."),
    Rule("exchange.scope-and-audience", TOKEN, "RFC 8693 §2.1; RFC 8707 §2",
         "The exchanged token's scope is never wider than the subject token's (invalid_scope) "
         "nor the client's; its audience is what resource/audience name, invalid_target for "
         "one the client may not use."),
    Rule("exchange.delegation", TOKEN, "RFC 8693 §1.1, §4.1",
         "Delegation needs an actor_token (the caller's own token, or a trusted JWT) naming "
         "someone other than the subject, and records it as act in the record, the JWT and "
         "introspection, nesting earlier actors; impersonation refuses an actor_token and "
         "records none."),
    Rule("exchange.chain-revocation", TOKEN, "RFC 8693 §2.1; RFC 7009 §2.1",
         "Revoking a grant revokes every token exchanged from it, transitively, before the "
         "call returns, concurrent exchanges included; chains are at most MAX_EXCHANGE_DEPTH "
         "deep and EXCHANGED_PER_GRANT wide."),
    Rule("token.password", TOKEN, "RFC 6749 §4.3, §4.3.2; RFC 9700 §2.4",
         "password: off unless the client is allowed it; wrong password, unknown and "
         "inactive user give one identical invalid_grant; throttled."),

    Rule("dpop.server.bind", TOKEN, "RFC 9449 §5, §6.1, §6.2",
         "A token request with a valid DPoP proof gets token_type DPoP and an access token "
         "bound to the proof key's RFC 7638 thumbprint (cnf.jkt in the record, the JWT and "
         "introspection); the proof's htu is the issuer's token/ URL."),
    Rule("dpop.server.refresh-bound", TOKEN, "RFC 9449 §5",
         "A public client's DPoP-bound refresh token is refused (invalid_grant, not "
         "consumed) without a proof made with the same key."),
    Rule("dpop.server.require", TOKEN, "RFC 9449 §5.2",
         "A client registered with require_dpop gets no token without a DPoP proof "
         "(invalid_dpop_proof)."),
    Rule("dpop.server.nonce", TOKEN, "RFC 9449 §8",
         "With dpop_nonce the token endpoint answers use_dpop_nonce with a DPoP-Nonce header "
         "to a proof without the current nonce; nonces rotate per window through the store "
         "and every worker accepts the current and the previous one."),
    Rule("dpop.proof.checks", RESOURCE, "RFC 9449 §4.2, §4.3",
         "A proof is refused unless typ is dpop+jwt, jwk is a public asymmetric key that "
         "verifies the signature, jti is present, htm and htu (normalised, without query) "
         "match the request."),
    Rule("dpop.proof.alg", RESOURCE, "RFC 9449 §4.3; RFC 8725 §3.1",
         "Proofs signed with none or an HMAC are refused: only asymmetric algorithms."),
    Rule("dpop.proof.iat-window", RESOURCE, "RFC 9449 §4.3, §11.1",
         "A proof whose iat is more than 60 seconds off the server's clock is refused."),
    Rule("dpop.proof.size", RESOURCE, "RFC 9449 §4.3",
         "A proof over 8 KiB is refused before it is parsed."),
    Rule("dpop.proof.single-header", RESOURCE, "RFC 9449 §4.3",
         "Two DPoP headers, or an empty one, are invalid_dpop_proof."),
    Rule("dpop.proof.replay", RESOURCE, "RFC 9449 §11.1",
         "A proof's jti is accepted once per key (one SET NX PX in Redis, kept twice the "
         "iat window): of concurrent replays exactly one passes."),
    Rule("dpop.resource.scheme", RESOURCE, "RFC 9449 §7.1, §7.2",
         "A DPoP-bound token presented as Bearer (header, body or query, or at userinfo/ "
         "and introspect/) is refused, and so is a bearer token presented with the DPoP "
         "scheme: 401 invalid_token with a DPoP challenge."),
    Rule("dpop.resource.ath", RESOURCE, "RFC 9449 §4.3, §7.1",
         "At a protected resource the proof must carry ath, the hash of the presented token, "
         "and be made with the token's key: a stolen token without the key is refused."),
    Rule("dpop.resource.nonce", RESOURCE, "RFC 9449 §9",
         "With dpop_nonce a protected resource answers a proof without its current (or "
         "previous) nonce 401 use_dpop_nonce with a DPoP challenge and DPoP-Nonce, before "
         "the proof's jti is spent; nonces rotate per window through the store, shared by "
         "every worker."),
    Rule("dpop.resource.required", RESOURCE, "RFC 9449 §7.1; RFC 9728 §2",
         "With require_dpop a protected resource refuses a token that is not DPoP-bound: "
         "401 invalid_token with a DPoP challenge; a request without credentials gets a "
         "DPoP challenge (realm and algs, no error code)."),
    Rule("dpop.resource.metadata", RESOURCE, "RFC 9728 §2",
         "Protected-resource metadata names dpop_signing_alg_values_supported when the "
         "resource checks proofs, and dpop_bound_access_tokens_required when it requires "
         "them."),
    Rule("dpop.resource.challenge", RESOURCE, "RFC 9449 §7.1",
         "Refusals of DPoP requests are 401 with WWW-Authenticate: DPoP carrying error "
         "(invalid_dpop_proof or invalid_token) and algs."),

    Rule("resource.bearer-case-insensitive", RESOURCE, "RFC 6750 §2.1; RFC 9110 §11.1",
         "The Authorization scheme Bearer is case-insensitive."),
    Rule("resource.form-body", RESOURCE, "RFC 6750 §2.2",
         "A form-body token only on non-GET urlencoded requests; the app still receives "
         "the full, unchanged body."),
    Rule("resource.query", RESOURCE, "RFC 6750 §2.3", "A query token is access_token."),
    Rule("resource.sources-switchable", RESOURCE, "RFC 6750 §2",
         "Each source (header, body, query) can be turned off."),
    Rule("resource.single-method", RESOURCE, "RFC 6750 §2, §3.1",
         "More than one method, two Authorization headers or a repeated access_token: "
         "400 invalid_request."),
    Rule("resource.missing-401", RESOURCE, "RFC 6750 §3, §3.1",
         "No credentials: 401 WWW-Authenticate: Bearer realm with no error attribute."),
    Rule("resource.invalid-token", RESOURCE, "RFC 6750 §3.1",
         "Unknown, expired or revoked token: 401 error=\"invalid_token\"."),
    Rule("resource.insufficient-scope", RESOURCE, "RFC 6750 §3.1",
         "Missing scope: 403 error=\"insufficient_scope\", scope=\"...\"."),
    Rule("resource.malformed-400", RESOURCE, "RFC 6750 §3.1",
         "A malformed request: 400 error=\"invalid_request\"."),
    Rule("resource.no-echo", RESOURCE, "RFC 6750 §3",
         "Request data is never echoed into the WWW-Authenticate header."),
    Rule("resource.one-refusal", RESOURCE, "RFC 6750 §3",
         "The middleware, @oauth_required and RequireScopes refuse alike: same status, "
         "WWW-Authenticate, JSON body {error, error_description} and Cache-Control: no-store."),
    Rule("resource.dropped-token-reason", RESOURCE, "RFC 6750 §3.1",
         "A token the middleware dropped on an unlisted route (invalid, plain HTTP, "
         "malformed) is refused by later layers with that reason, never as a missing token."),
    Rule("resource.cors-preflight", RESOURCE, "Fetch §4.8; RFC 6750 §3",
         "A CORS preflight (OPTIONS + Origin + Access-Control-Request-Method, no "
         "Authorization) passes to the app in either middleware order; other OPTIONS are "
         "protected."),
    Rule("resource.method-case", RESOURCE, "RFC 9110 §9.1",
         "A scope key's method matches the request's method in any case: frameworks "
         "(Django, Flask) dispatch \"post\" as POST."),
    Rule("resource.query-private", RESOURCE, "RFC 6750 §2.3",
         "Successful answers to query-token requests carry Cache-Control: private."),
    Rule("resource.no-token-in-logs", RESOURCE, "RFC 6750 §2.3, §5.3",
         "Tokens never appear in logs (the access log's query string is redacted)."),
    Rule("resource.app-not-called", RESOURCE, "RFC 6750 §3",
         "On any 4xx/5xx the wrapped app is never called."),
    Rule("resource.jwt.typ-alg", RESOURCE, "RFC 9068 §4; RFC 8725 §3.1",
         "JWTVerifier: typ at+jwt (JWT only when configured), alg from an asymmetric "
         "allow-list (never none, never HMAC keyed with the public key), no crit, no nested "
         "JWT, no repeated claim names."),
    Rule("resource.jwt.claims", RESOURCE, "RFC 9068 §4",
         "JWTVerifier: iss exactly the issuer, aud containing ours, exp required, exp, nbf "
         "and iat within a small leeway; another issuer's token is refused even with the "
         "same kid."),
    Rule("resource.jwt.keys", RESOURCE, "RFC 8414 §3.3; RFC 7515 §4.1.2",
         "JWTVerifier: keys only from the issuer's JWKS (jku, x5u, jwk ignored), kept no "
         "longer than the cache bound; an unknown kid refetches at most once per interval."),
    Rule("resource.introspection.cache", RESOURCE, "RFC 7662 §4",
         "IntrospectionVerifier: an active answer is cached no longer than the bound and "
         "never past exp; inactive answers and refresh tokens are refused, never cached."),
    Rule("resource.remote-bounded", RESOURCE, "RFC 7662 §4; RFC 8414 §3",
         "A verifier's call to an issuer or introspection server is bounded as a whole, not "
         "only per read: a server dripping its answer is a 503 within the deadline."),
    Rule("resource.websocket-http-refusal", RESOURCE, "RFC 6750 §3; RFC 6455 §4.2.2",
         "A refused WebSocket handshake gets the HTTP refusal (401/403/400/503, the same "
         "WWW-Authenticate or Retry-After, the JSON body) where the server offers the ASGI "
         "websocket.http.response extension."),
    Rule("resource.websocket-close-codes", RESOURCE, "RFC 6750 §3; RFC 6455 §7.4.1",
         "Without that extension a refused WebSocket is accepted, then closed with 1008 "
         "(1013 when Redis is unavailable) and the error code as the reason."),
    Rule("resource.metadata-served", RESOURCE, "RFC 9728 §3, §3.1, §3.2",
         "With a resource configured, its metadata is served at the path-inserted well-known "
         "URI (https://h/mcp -> https://h/.well-known/oauth-protected-resource/mcp): GET and "
         "HEAD only, JSON, public and briefly cacheable, reachable without a token whatever "
         "the mapping; an app route at that path is served by the app, never hidden."),
    Rule("resource.metadata-content", RESOURCE, "RFC 9728 §2",
         "The document holds resource, authorization_servers (the issuer), scopes_supported "
         "(the scopes the bound routes need) and bearer_methods_supported (the enabled "
         "sources)."),
    Rule("resource.metadata-identifier-exact", RESOURCE, "RFC 9728 §3.3, §1.2",
         "resource is the configured identifier exactly, whatever Host the request carried; "
         "the identifier is checked at construction (https, no query, fragment or userinfo)."),
    Rule("resource.metadata-challenge", RESOURCE, "RFC 9728 §5.1",
         "With a resource configured, every Bearer challenge (middleware, @oauth_required, "
         "RequireScopes; 400, 401 and 403) carries resource_metadata=\"<configured URL>\", "
         "a spoofed Host never changes it, and insufficient_scope keeps its scope=."),
    Rule("oidc.userinfo.bearer", RESOURCE, "RFC 6750 §2.1, §2.2, §3; OpenID Connect Core "
         "1.0 §5.3", "userinfo/ takes the access token from the Authorization header or a form "
         "body, never the URL; it answers only a live user token carrying openid, and every "
         "refusal of the token carries a Bearer challenge."),
    Rule("oidc.claims.scope-bound", RESOURCE, "RFC 6749 §3.3; OpenID Connect Core 1.0 §5.4, "
         "§5.5", "A claim reaches a client only through a granted scope (profile, email, "
         "address, phone): a claims request cannot add one no granted scope covers, and sub "
         "is always the server's, never the host hook's."),
    Rule("oidc.hook.isolated", RESOURCE, "RFC 6749 §5.2; OpenID Connect Core 1.0 §5.3.2",
         "A userinfo hook that raises or answers something that is not a JSON object gives "
         "no claims and a log line naming the failure's type, never a 500 or its message."),
    Rule("oidc.pairwise", RESOURCE, "RFC 6749 §10.8; OpenID Connect Core 1.0 §8.1",
         "With pairwise subjects each sector sees its own sub for a user, stable across "
         "sign-ins and the same in the ID token and at userinfo/."),
    Rule("resource.audience", RESOURCE, "RFC 8707 §2; RFC 9068 §4",
         "With a resource configured, a token whose recorded audience does not include it is "
         "invalid_token (before any scope check); one with no recorded audience passes "
         "unless require_audience=True."),

    Rule("revoke.client-auth", SIDE, "RFC 7009 §2.1",
         "Revocation requires client authentication."),
    Rule("revoke.own-tokens", SIDE, "RFC 7009 §2.1", "A client revokes only its own tokens."),
    Rule("revoke.unknown-200", SIDE, "RFC 7009 §2.2", "Unknown tokens answer 200."),
    Rule("revoke.hint", SIDE, "RFC 7009 §2.1", "A wrong token_type_hint still finds the token."),
    Rule("revoke.refresh-revokes-grant", SIDE, "RFC 7009 §2.1",
         "Revoking a refresh token revokes the access tokens of its grant."),
    Rule("revoke.client-removed", SIDE, "RFC 7009 §2.1; RFC 6749 §2",
         "Once removing a client returns, no token of it is accepted, ever: not one issued "
         "while the removal ran, nor after the same client id is registered again."),
    Rule("revoke.client-leftovers", SIDE, "RFC 7009 §2.1",
         "Revoking and listing a client's tokens work for a client id that is no longer "
         "registered, and leave none of its tokens."),
    Rule("revoke.client-leftovers-only", SIDE, "RFC 7009 §2.1; RFC 6749 §2",
         "Registering a client id again sweeps what an interrupted removal left of it, and "
         "nothing else: a token issued meanwhile to a registration another worker made "
         "stays valid."),
    Rule("rest.client-edit-over-read", AT_REST, "RFC 6749 §2.3.1",
         "A client is written only over the record it was read from: a concurrent edit is "
         "never undone, a rotated secret never comes back, decided in the writing script."),
    Rule("abuse.bounded.client-lists", TRANSPORT, "RFC 6819 §4.4.1.11",
         "A client's redirect URIs and scopes are bounded, at registration, on every edit "
         "and in ensure_client: its record is read on every authorization and token request."),
    Rule("revoke.index-bounded", SIDE, "RFC 7009 §2.1",
         "Revoking a user's or a client's grants drops them from every index, and indexes "
         "are read page by page, never whole."),
    Rule("revoke.index-redis-clock", SIDE, "RFC 7009 §2.1",
         "Every live grant stays in its user's and its client's index while Redis keeps it, "
         "whatever the clock of the host that issued it or of any other host: revoking a "
         "user's or a client's grants finds it, and a cap displaces grants in the order "
         "Redis's clock expires them."),
    Rule("revoke.cache-exact-on-host", SIDE, "RFC 7009 §2.2",
         "With the local cache, no worker on the revoker's host serves a revoked token to a "
         "request sent after the revocation returned: no hit while an invalidation that "
         "reached the host is unread."),
    Rule("revoke.cache-database-swapped", SIDE, "RFC 7009 §2.2",
         "A flush or SWAPDB of the store's database empties every worker's local cache."),
    Rule("revoke.cache-cluster-topology", SIDE, "RFC 7009 §2.2",
         "On a Redis Cluster the local cache tracks every primary and serves no entry across "
         "a slot move, a failover or a lost tracking connection unless Redis has confirmed "
         "it since."),
    Rule("introspect.aud", SIDE, "RFC 7662 §2.2; RFC 8707 §2",
         "Introspection answers a token's audience as aud: one string, or an array of "
         "several; no aud when none was recorded."),
    Rule("introspect.caller-auth", SIDE, "RFC 7662 §2.1, §4",
         "Introspection requires caller authentication."),
    Rule("introspect.inactive", SIDE, "RFC 7662 §2.2",
         "Inactive, unknown and foreign tokens give exactly {\"active\": false}."),
    Rule("metadata.document", SIDE, "RFC 8414 §2, §3",
         "Metadata at /.well-known/oauth-authorization-server: issuer, endpoints, grant "
         "types, response types, code_challenge_methods_supported, auth methods."),

    Rule("rest.randomness", AT_REST, "RFC 6749 §10.10; RFC 6819 §5.1.4.2.2",
         "Every token, code, CSRF token, transaction id and client secret comes from "
         "secrets with at least 256 bits; never random, never uuid."),
    Rule("rest.no-raw-secrets", AT_REST, "RFC 6819 §5.1.4.1.3",
         "Redis keys and values never hold a raw token, code or client secret (SHA-256 "
         "digests; client secrets as a self-describing hash)."),
    Rule("rest.export-digests-only", AT_REST, "RFC 6819 §5.1.4.1.3",
         "An export of the store (store export) holds no raw token, code or client secret, "
         "and a token revoked before the export is absent from it."),
    Rule("rest.constant-time", AT_REST, "RFC 6819 §5.1.4.2.2",
         "Secrets, PKCE challenges and CSRF tokens are compared in constant time."),
    Rule("rest.no-secret-in-logs", AT_REST, "RFC 6750 §5.3; RFC 6819 §5.1.4.1",
         "No secret in any log line, repr, error body or exception message."),
    Rule("rest.no-secret-in-events", AT_REST, "RFC 6819 §5.1.4.1",
         "No audit event (stream entry, log record or hook argument) holds a token, code, "
         "client secret or password: tokens are named by fingerprint, an on_event hook's "
         "failure is logged by its class name only."),
    Rule("rest.early-refusal-redacted", AT_REST, "RFC 6750 §5.3; RFC 6819 §5.1.4.1",
         "The query string is redacted before any refusal (wrong method, plain HTTP, "
         "oversized or malformed body, Redis down): the access log of a request refused "
         "early holds no secret."),
    Rule("rest.log-lines-escaped", AT_REST, "RFC 6819 §5.1.4.1",
         "Request data written into a library log line (a path, a client id) is escaped: "
         "a CR or LF sent by the caller never starts a forged log line."),
    Rule("rest.metrics-labels-bounded", AT_REST, "RFC 6750 §5.3; RFC 6819 §5.1.4.1",
         "Metric labels are endpoint names and the library's own error codes only: no token, "
         "secret, path or client id from a request becomes one, and random input adds no "
         "series."),
    Rule("rest.request-id-safe", AT_REST, "RFC 6819 §5.1.4.1",
         "An X-Request-ID is echoed and logged only when it is one header of 1 to 64 "
         "characters of A-Z a-z 0-9 . _ : - and no part of the request's credentials; "
         "otherwise a random id replaces it."),
    Rule("rest.typed-text.controls", AT_REST, "RFC 6749 §2; RFC 6819 §5.1.4.1",
         "Titles and descriptions that people typed are checked at registration: no "
         "control characters."),
    Rule("rest.typed-text.redirect-uri", AT_REST, "RFC 3986 §2, §3; RFC 6749 §3.1.2",
         "Redirect URIs are refused at registration when they hold a character RFC 3986 "
         "never allows raw (space, controls, \" < > \\ { } | ^ `)."),
    Rule("rest.terminal-escaped", AT_REST, "RFC 6819 §5.1.4.1",
         "Nothing from the store reaches a terminal unescaped: the CLI escapes control "
         "characters in text and JSON output alike."),

    Rule("abuse.cache-untracked-throttle", TRANSPORT, "RFC 6749 §2.3.1",
         "Failure counters, written by unauthenticated requests, send no invalidation "
         "message to the workers' local caches."),
    Rule("transport.https", TRANSPORT, "RFC 6749 §3.1, §3.2, §10.9; RFC 6750 §5.3",
         "Outside debug mode plain HTTP is refused everywhere with a clear error (JSON on "
         "the token endpoints)."),
    Rule("transport.local-http", TRANSPORT, "RFC 6750 §5.3; W3C Secure Contexts §3.1",
         "Without debug, plain HTTP is accepted only when the peer AND the Host header are "
         "loopback and no proxy header is present; the first such request logs one warning."),
    Rule("transport.configured-urls", TRANSPORT, "RFC 8414 §3.3",
         "URLs we build (issuer, redirects) come from configuration, not the Host header."),
    Rule("abuse.throttle", TRANSPORT, "RFC 6749 §2.3.1, §4.3.2, §10.10",
         "Failed client authentications and failed logins are counted in Redis and "
         "answered 429 + Retry-After past a threshold; the window expires."),
    Rule("abuse.throttle.count-first", TRANSPORT, "RFC 6749 §2.3.1",
         "Failures are counted FIRST (one atomic increment that returns the count) and the "
         "answer is decided from that count, so concurrency gains nothing: of N concurrent "
         "wrong guesses exactly the limit are answered, the rest 429."),
    Rule("abuse.throttle.reserve-first", TRANSPORT, "RFC 6749 §2.3.1, §4.3.2",
         "A password check reserves its place in the caller's allowance in one atomic script "
         "BEFORE the verify_password hook runs (refused while failures plus checks in flight "
         "reach it), so N concurrent attempts make the hook hash at most the allowance; the "
         "place is freed however the request ends (answer, hook error, cancellation) and "
         "stops counting after attempt_timeout if never freed."),
    Rule("abuse.throttle.no-lockout", TRANSPORT, "RFC 6749 §2.3.1, §4.3.2, §10.10",
         "Limits are keyed so that an attacker cannot lock other people out (per client id "
         "or username AND caller address, never per client alone); codes, refresh tokens "
         "and verifiers are not counted; a right secret from an address without failures "
         "passes."),
    Rule("abuse.throttle.normalised-username", TRANSPORT, "RFC 6749 §4.3.2",
         "Password-grant limits count the username normalised (NFKC, case-folded, "
         "trimmed): spellings of one name share one counter."),
    Rule("abuse.caps", TRANSPORT, "RFC 6749 §3.2",
         "Every parameter's length and the header, query and body sizes are capped."),
    Rule("abuse.bounded.pending-consents", TRANSPORT, "RFC 6819 §4.4.1.11; RFC 6749 §10.12",
         "Pending consent transactions are bounded per user: past the cap the oldest is "
         "dropped (and can no longer be approved), decided atomically in one script, so no "
         "loop of GET auth/ grows storage."),
    Rule("abuse.bounded.remembered-consents", TRANSPORT, "RFC 6819 §4.4.1.11",
         "Remembered consents are bounded per user: past the cap the entry that expires "
         "first is dropped, decided in the one script that writes an approval, so concurrent "
         "approvals never overshoot it."),
    Rule("abuse.bounded-storage", TRANSPORT, "RFC 6819 §4.4.1.11; RFC 9700 §4.14.2",
         "Every per-user or per-grant collection in Redis is bounded (pending consents, "
         "rotated refresh tokens, grant members): no request loop grows storage without "
         "limit."),
    Rule("abuse.single-use-state", TRANSPORT, "RFC 6749 §4.1.2, §10.5; RFC 9700 §4.14.2",
         "Single use is decided by a state field or nonce inside the Lua script, never by "
         "comparing a whole serialized record (a rolling deploy must not look like a "
         "replay)."),
    Rule("abuse.bounded.demo-sessions", TRANSPORT, "RFC 6819 §4.4.1.11",
         "The demo keeps a bounded number of login and client-app sessions in memory, the "
         "oldest dropped first: no loop of cookie-less visits or of logins grows the process."),
    Rule("abuse.bounded.grants-per-user", TRANSPORT, "RFC 6819 §4.4.1.11; RFC 9700 §4.14",
         "Live grants per user are bounded: a loop of code redemptions or password grants "
         "for one user stops growing her grants (past the cap the oldest is revoked)."),
    Rule("abuse.bounded.grants-per-client", TRANSPORT, "RFC 6819 §4.4.1.11; RFC 6749 §4.4",
         "A client's own grants (client credentials) are bounded per client: a loop of "
         "client_credentials requests stops growing them (past the cap the oldest is revoked), "
         "and its users' grants are not counted with them."),
    Rule("abuse.bounded.memory", TRANSPORT, "RFC 6819 §4.4.1.11",
         "In-process caches keyed by request data hold only short keys: no loop of requests "
         "with long paths grows a worker by more than a small, fixed amount."),
    Rule("abuse.bounded.audit-stream", TRANSPORT, "RFC 6819 §4.4.1.11",
         "The audit trail's stream is trimmed on every append (MAXLEN ~ retention), and a "
         "guessing loop writes one throttle event per window, not one per refused guess."),
    Rule("abuse.malformed-400", TRANSPORT, "RFC 6749 Appendix B; RFC 3986 §2.1",
         "Malformed percent-escapes, NUL bytes and non-UTF-8 input are 400, never 500."),
    Rule("abuse.unreadable-record", TRANSPORT, "RFC 6749 §5.2; RFC 9700 §4.14.2",
         "A stored refresh record this version cannot read (not an object, a field missing or "
         "of another type, no current digest) stands for no token at token/, revoke/ and "
         "introspect/: invalid_grant, 200, inactive; never a 500, never taken for a replay."),

    Rule("par.endpoint", SIDE, "RFC 9126 §2.1, §2.2, §2.3",
         "par/ takes a POST form only, from a client authenticated as at token/ (a public "
         "client by client_id alone); the parameters pass the checks auth/ makes, their "
         "errors answered as JSON (never a redirect); a request_uri inside is "
         "invalid_request; success is 201 {request_uri: urn:ietf:params:oauth:request_uri:..., "
         "expires_in} with Cache-Control: no-store."),
    Rule("par.stored", SIDE, "RFC 9126 §2.2, §7.1; RFC 6749 §10.10",
         "A pushed request is stored under the SHA-256 digest of its reference with the "
         "TTL it is announced with (at most 600 s), bound to its client, without the "
         "client's secret; a client keeps at most max_pushed_requests (one more drops its "
         "oldest)."),
    Rule("par.one-time", AUTHORIZE, "RFC 9126 §4; RFC 6749 §10.5",
         "A request_uri answers one authorization: the consent page may be reloaded, but "
         "the request is taken by one atomic script when the user decides or a remembered "
         "consent answers; of 50 concurrent uses exactly one gets a code."),
    Rule("par.bound", AUTHORIZE, "RFC 9126 §4; RFC 6749 §4.1.2.1",
         "A request_uri presented with another client_id, or unknown, expired, used or "
         "tampered with, is an HTML error page with no Location, and leaves the request "
         "of its own client usable."),
    Rule("par.only-pushed-params", AUTHORIZE, "RFC 9126 §4; RFC 9101 §6.3",
         "With a request_uri only the pushed parameters count: a query parameter saying "
         "the same is ignored, one saying otherwise is invalid_request, one the push "
         "lacks is ignored."),
    Rule("par.prompt-login", AUTHORIZE, "RFC 9126 §4; OpenID Connect Core 1.0 §3.1.2.1",
         "A pushed request with prompt=login comes back from the login page with only "
         "client_id, request_uri and a signed, expiring mark bound to that request_uri; it "
         "reaches the consent page only when the host's auth_time is at or after the mark, "
         "and a forged, altered, expired or moved mark sends the person to log in again."),
    Rule("par.required", AUTHORIZE, "RFC 9126 §5, §6",
         "With require_par (server) or require_pushed_authorization_requests (client) "
         "auth/ refuses a request that was not pushed (invalid_request); the metadata names "
         "pushed_authorization_request_endpoint and require_pushed_authorization_requests."),
    Rule("par.client-auth", SIDE, "RFC 9126 §2; RFC 6749 §2.3.1",
         "A bearer token is no client authentication at par/ (401 invalid_client, Basic "
         "challenge); failed client authentications there count in the token endpoint's "
         "throttle (429 slow_down + Retry-After)."),
    Rule("registration.policy", SIDE, "RFC 7591 §3",
         "Dynamic registration is off unless configured; open registration takes public "
         "clients only (token_endpoint_auth_method none, loopback or private-use redirect "
         "URIs); gated registration needs the initial access token (constant-time compare)."),
    Rule("registration.metadata", SIDE, "RFC 7591 §2, §2.1, §3.2.2",
         "Client metadata is validated as register_client validates (redirect URIs, texts "
         "without controls, registered scopes, https links, consistent grant and response "
         "types); refusals are invalid_redirect_uri / invalid_client_metadata, JSON 400 "
         "no-store, and odd bodies (not JSON, not an object, duplicated keys, not UTF-8, "
         "oversized) never reach a 500."),
    Rule("registration.management", SIDE, "RFC 7592 §2",
         "The registration access token is stored as a digest only; with it, and only with "
         "it, a dynamic client is read, replaced under the same validation, and deleted with "
         "its tokens revoked."),
    Rule("registration.bounded", SIDE, "RFC 7591 §3, RFC 6749 §10.10",
         "Registrations are counted per caller address by one script (exactly the allowance "
         "of concurrent requests succeeds, then 429 slow_down) and capped server-wide by the "
         "script that writes."),
    Rule("documents.opt-in", SIDE, "RFC 8414 §2; CIMD draft §5",
         "Client ID Metadata Documents are off unless configured: a URL client_id is then an "
         "unknown client and nothing is fetched; when on, the server metadata says "
         "client_id_metadata_document_supported: true."),
    Rule("documents.client-id-url", SIDE, "RFC 3986 §6.2.1; CIMD draft §2",
         "A URL client_id is accepted only in one canonical form (https, lowercase host, no "
         "userinfo, default port, dot or empty segment, query, fragment, needless escape or "
         "control character), so one document has one id, and no URL can be a registered "
         "client's id."),
    Rule("documents.validated", SIDE, "RFC 7591 §2; CIMD draft §3, §6.3",
         "The document's client_id must equal its URL exactly; its metadata is validated as a "
         "public client's registration (auth method none, no secret, redirect URIs by the "
         "registration rules, https ones on the URL's host); the client is public, PKCE-bound, "
         "and the consent page shows it unverified with its host name."),
    Rule("documents.ssrf", TRANSPORT, "RFC 6890 §2.2; CIMD draft §6.5",
         "The document is fetched over https only, from a host whose every address is public "
         "(no loopback, private, unique-local, link-local, CGNAT, multicast, reserved or "
         "IPv4-mapped forms of those), connecting to the vetted address under the original "
         "name (no second lookup), following no redirect and no environment proxy."),
    Rule("documents.bounded-fetch", TRANSPORT, "RFC 9110 §8.3; CIMD draft §6.6",
         "A document is only a 200 with a JSON media type, read while counting up to "
         "max_bytes (5 KB by default) and within one time limit for the whole fetch."),
    Rule("documents.cache", TRANSPORT, "RFC 9111 §4.2.1; CIMD draft §4.2",
         "A document is kept for its HTTP freshness (max-age, Expires, no-store) within the "
         "policy's bounds and shared by every worker through the store; a failed fetch is "
         "remembered for failure_ttl only; one fetch per URL runs at a time in a worker."),
    Rule("documents.bounded", TRANSPORT, "RFC 6819 §4.4.1.11; RFC 6749 §10.10",
         "Fetches are counted per caller address first (429 slow_down past the allowance) and "
         "document clients are capped server-wide by the script that writes them."),
    Rule("jwks.public-only", SIDE, "RFC 7517 §9.3; RFC 8414 §2",
         "jwks/ publishes only public key members (never d, p, q, dp, dq, qi, oth, k), and "
         "the metadata's jwks_uri names it whenever the server has signing keys."),
    Rule("jwks.rotation", SIDE, "RFC 7517 §4.5, §5",
         "A rotated-out signing key stays published until every token it signed has expired, "
         "then drops out by itself; a retired key drops out at once; a current key cannot be "
         "retired."),
    Rule("resource.jwt-revocation-exact", RESOURCE, "RFC 9068 §2; RFC 7009 §2.1",
         "A JWT access token of ours is looked up in the store like any token: a revoked "
         "grant's JWT is refused on the next request; introspection and revocation accept it."),
    Rule("rest.signing-keys-sealed", AT_REST, "RFC 7517 §9.3",
         "Private signing keys are stored only encrypted (AES-GCM under a key HKDF derives from "
         "secret_key, bound to kid and alg); a wrong secret_key or an altered record is a clear "
         "error and a 503, never a 500, never key material in a log."),
    Rule("abuse.single-current-key", TRANSPORT, "RFC 7517 §4.5",
         "Workers making the first signing key at once end with one current key per algorithm "
         "(one atomic script); concurrent rotations leave one current key, every other one "
         "published, and at most MAX_SIGNING_KEYS records."),
    Rule("registration.expire-unused", SIDE, "RFC 7591 §3, RFC 6749 §10.10",
         "When configured, a dynamically registered client that got no code and no token "
         "for expire_unused_after seconds disappears (a Redis TTL each use restarts, never "
         "shorter than an access token's life); its refresh tokens then fail client "
         "authentication, and expired clients stop counting against the cap."),
    Rule("device.codes", TOKEN, "RFC 8628 §3.1, §3.2, §6.1; RFC 8707 §2",
         "device_authorization/ authenticates the client as token/ does, refuses a client "
         "not allowed the device grant, validates scopes as auth/ and answers a 256-bit "
         "device_code (stored as a digest), an 8-letter base-20 user_code shown WDJB-MJHT, "
         "verification_uri(_complete), expires_in and interval; a client's waiting codes "
         "are bounded."),
    Rule("device.authorization.flood", TOKEN, "RFC 8628 §3.1, §5.2; RFC 6749 §10.10",
         "device_authorization/ requests are counted per client id and caller address "
         "before a device code is stored (counted first, in one script): past the "
         "allowance 429 slow_down with Retry-After and nothing stored, so a request loop "
         "cannot grow Redis; another address is unaffected."),
    Rule("device.polling", TOKEN, "RFC 8628 §3.4, §3.5",
         "Polling answers authorization_pending, slow_down (interval raised by 5 s in the "
         "script that records the poll), access_denied, expired_token; a device code is "
         "bound to its client."),
    Rule("device.single-use", TOKEN, "RFC 8628 §3.5; RFC 6749 §4.1.2",
         "An approved device code gives exactly one token response: of N concurrent polls "
         "one succeeds, the others and every replay are invalid_grant."),
    Rule("device.page.login", AUTHORIZE, "RFC 8628 §3.3; RFC 9700 §4.14",
         "The verification page is protected by the host's login (anonymous: sent to "
         "login with next=), never by a bearer token (400, nothing decided)."),
    Rule("device.page.confirm", AUTHORIZE, "RFC 8628 §5.4",
         "verification_uri_complete only prefills: the page shows the client and scopes "
         "and the person approves or denies by POST; a GET never decides."),
    Rule("device.page.csrf", AUTHORIZE, "RFC 6749 §10.12; RFC 8628 §5.4",
         "The decision POST needs a CSRF token bound to the user and the user code and a "
         "same-origin browser; approve and deny racing leave exactly one decision."),
    Rule("account.own-grants-only", SIDE, "RFC 7009 §2.1; RFC 9700 §4.14",
         "The connected-apps page lists and revokes only the signed-in person's own grants "
         "(as a user: a client's own grants under an id like a user's never); a form naming "
         "someone else's grant or client changes nothing and says so (404)."),
    Rule("account.login-only", SIDE, "RFC 6749 §3.1; RFC 9700 §4.14",
         "The connected-apps page admits only the host's signed-in person: a request "
         "carrying a bearer token (header, query, form body) is a 400 page that changes "
         "nothing; anonymous visitors are sent to the login page with next=."),
    Rule("account.csrf", SIDE, "RFC 6749 §10.12",
         "Every connected-apps POST needs a CSRF token bound to the signed-in person and a "
         "same-site browser: missing, foreign, expired or cross-site is a 403, nothing "
         "revoked."),
    Rule("device.user-code.brute-force", TRANSPORT, "RFC 8628 §5.1, §5.2",
         "Wrong user codes are counted first, per caller address (10 per window) and "
         "overall (past 100, one per address); concurrent guesses gain nothing."),
    Rule("redis.token-503", REDIS, "RFC 6749 §5.2",
         "Token endpoints: 503 JSON temporarily_unavailable + Retry-After, never "
         "invalid_grant."),
    Rule("redis.resource-503", REDIS, "RFC 6750 §3.1",
         "Protected routes: 503, never invalid_token, never 200, the app not called."),
    Rule("redis.auth-503", REDIS, "RFC 6749 §4.1.2.1",
         "auth/: a 503 page, no redirect."),
    # temporarily_unavailable is defined for auth/ (§4.1.2.1: "a temporary overloading or
    # maintenance"); the token family carries it in the §5.2 error format.
    Rule("redis.bounded-time", REDIS, "RFC 6749 §4.1.2.1, §5.2",
         "A frozen Redis gives 503 within about 2 s (socket timeouts, explicit retry "
         "policy)."),
    Rule("redis.resume", REDIS, "RFC 6749 §4.1.2.1",
         "When Redis returns, service resumes without a restart."),
    Rule("redis.readiness", REDIS, "RFC 6749 §4.1.2.1",
         "/readyz answers 503 naming only the failing check (no host, no error text) while "
         "Redis is unreachable and 200 once it is back; /healthz reads nothing."),
    Rule("redis.no-unstored-token", REDIS, "RFC 6749 §5.1, §5.2",
         "No token is ever returned that was not stored."),
    Rule("redis.full-503", REDIS, "RFC 6749 §4.1.2.1, §5.2",
         "A Redis at maxmemory with noeviction refuses writes: every endpoint that must "
         "write answers 503 + Retry-After, never a 500, and leaves no half-written grant."),
    Rule("redis.no-silent-loss", REDIS, "RFC 6749 §10.3, §10.4",
         "The store refuses to start on a Redis that may evict keys without a TTL (allkeys-*) "
         "unless explicitly allowed, and warns, naming the setting, when Redis has neither AOF "
         "nor RDB persistence."),
    Rule("redis.durable-writes", REDIS, "RFC 7009 §2.2, RFC 6749 §4.1.2, §6",
         "A revocation, a code redemption and a refresh rotation answer success only once "
         "min_replicas replicas acknowledged them (WAIT); fewer in time is a 503 + "
         "Retry-After, and one answered 200 survives the primary's death."),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
