"""OAuth error classes: codes, statuses and safe rendering in every form."""

from __future__ import annotations

import json

import pytest

from oauth_middleware import errors
from oauth_middleware.error_response import render


def _leaf_classes() -> list[type[errors.OAuthError]]:
    found: list[type[errors.OAuthError]] = []
    pending: list[type[errors.OAuthError]] = [errors.OAuthError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return [c for c in found if not c.__name__.startswith("_")]


@pytest.mark.parametrize(("cls", "code", "status"), [
    (errors.InvalidRequest, "invalid_request", 400),
    (errors.RequestTooLarge, "invalid_request", 413),
    (errors.InvalidClient, "invalid_client", 401),
    (errors.InvalidGrant, "invalid_grant", 400),
    (errors.UnauthorizedClient, "unauthorized_client", 400),
    (errors.UnsupportedGrantType, "unsupported_grant_type", 400),
    (errors.UnsupportedResponseType, "unsupported_response_type", 400),
    (errors.UnsupportedTokenType, "unsupported_token_type", 400),
    (errors.InvalidScope, "invalid_scope", 400),
    (errors.AccessDenied, "access_denied", 403),
    (errors.ServerError, "server_error", 500),
    (errors.TemporarilyUnavailable, "temporarily_unavailable", 503),
    (errors.SlowDown, "slow_down", 429),
    (errors.InvalidToken, "invalid_token", 401),
])
@pytest.mark.rule("responses.token-family.error-shape")
def test_each_error_carries_its_code_and_status(
    cls: type[errors.OAuthError], code: str, status: int
) -> None:
    exc = cls()
    assert (exc.error, exc.status_code) == (code, status)
    assert json.loads(exc.body()) == {"error": code, "error_description": exc.description}
    assert exc.redirect_params()["error"] == code


@pytest.mark.rule("responses.token-family.error-shape")
def test_descriptions_are_filtered_to_the_rfc_character_set() -> None:
    exc = errors.InvalidRequest('bad "quote" \\ back\nslash é\x00')
    assert exc.description == "bad quote  backslash "
    assert exc.www_authenticate("api").count('"') == 6


@pytest.mark.parametrize("cls", _leaf_classes())
@pytest.mark.rule("responses.token-family.error-shape")
def test_default_descriptions_are_already_safe(cls: type[errors.OAuthError]) -> None:
    assert errors.safe_text(cls.default_description) == cls.default_description


@pytest.mark.rule("token.client-auth.failure")
def test_invalid_client_challenges_with_basic() -> None:
    assert errors.InvalidClient().headers == {"WWW-Authenticate": 'Basic realm="oauth"'}


@pytest.mark.rule("redis.token-503", "abuse.throttle")
def test_retry_errors_carry_retry_after() -> None:
    assert errors.TemporarilyUnavailable(retry_after=7).headers == {"Retry-After": "7"}
    assert errors.SlowDown(retry_after=0).headers == {"Retry-After": "1"}


@pytest.mark.rule("resource.missing-401")
def test_missing_token_challenge_has_no_error_attribute() -> None:
    exc = errors.MissingToken()
    assert exc.www_authenticate("api") == 'Bearer realm="api"'
    assert "error" not in exc.to_dict()


@pytest.mark.rule("resource.no-echo")
def test_insufficient_scope_names_only_valid_scopes() -> None:
    exc = errors.InsufficientScope(["polls:vote", 'bad"scope', "a b"])
    assert exc.www_authenticate("api").endswith(', scope="polls:vote"')
    assert exc.to_dict()["scope"] == "polls:vote"


@pytest.mark.rule("redis.resource-503")
def test_bearer_refusal_for_unavailable_has_no_challenge() -> None:
    refusal = render(errors.TemporarilyUnavailable(), "api")
    status, headers, body = refusal.status, refusal.headers, refusal.body
    names = [k for k, _ in headers]
    assert status == 503 and b"www-authenticate" not in names
    assert (b"retry-after", b"5") in headers and (b"cache-control", b"no-store") in headers
    assert json.loads(body)["error"] == "temporarily_unavailable"


def test_repr_shows_class_and_description() -> None:
    expected = "InvalidGrant('The grant is invalid, expired or revoked.')"
    assert repr(errors.InvalidGrant()) == expected
