"""The OpenID Connect parameters of an authorization request (Core 1.0 §3.1.2.1, §5.5, §6).

Read once at ``auth/``, checked here, then carried by the pending request and the code:
``nonce`` (echoed exactly in the ID token), ``prompt``, ``max_age``, ``login_hint``,
``id_token_hint``, ``ui_locales`` and the ``claims`` request. Every value is bounded (each
ends up in a URL, a page or a signed token); control characters never get this far (the
query parser refuses them in any value, :mod:`oauth_middleware.server.urlencoded`). ``request``
and ``request_uri`` are refused with their own error codes (§6: this server takes no
request objects, as its metadata says).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from oauth_middleware.errors import InvalidRequest, RequestNotSupported, RequestUriNotSupported
from oauth_middleware.server.urlencoded import Params

PARAMETERS = ("nonce", "prompt", "max_age", "login_hint", "id_token_hint", "ui_locales",
              "claims", "acr_values", "display", "claims_locales", "request", "request_uri")
MAX_LENGTHS = {"nonce": 512, "prompt": 64, "max_age": 10, "login_hint": 256,
               "id_token_hint": 8192, "ui_locales": 256, "claims": 4096}
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
#: RFC 5646 language tags, loosely: what ``ui_locales`` may name (others are ignored).
_LOCALE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}")
MAX_LOCALES = 8
#: What a claim name in a ``claims`` request may be; longer or odder names are dropped.
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:#/-]{1,64}")
MAX_REQUESTED_CLAIMS = 64


@dataclass(frozen=True, slots=True)
class OpenIDRequest:
    """The OpenID Connect parameters of one authorization request, checked."""

    nonce: str | None = None
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None
    id_token_hint: str | None = None
    ui_locales: tuple[str, ...] = ()
    #: The ``claims`` request, normalised (:func:`normalised_claims`), as JSON.
    claims: str | None = None

    @property
    def silent(self) -> bool:
        """``prompt=none``: answer without showing the user anything (§3.1.2.1)."""
        return "none" in self.prompt

    @property
    def forces_login(self) -> bool:
        """``prompt=login`` or ``select_account``: the host must ask the user again."""
        return bool(self.prompt & {"login", "select_account"})


#: A request without OpenID Connect parameters (or to a plain OAuth 2.0 server).
NO_OPENID = OpenIDRequest()


def parse(params: Params) -> OpenIDRequest:
    """The request's OpenID Connect parameters, or :class:`InvalidRequest` saying which."""
    if params.values("request"):
        raise RequestNotSupported()
    if params.values("request_uri"):
        raise RequestUriNotSupported()
    params.refuse_malformed(PARAMETERS, MAX_LENGTHS)
    return OpenIDRequest(
        nonce=params.get("nonce"), prompt=_prompt(params.get("prompt")),
        max_age=_max_age(params.get("max_age")), login_hint=params.get("login_hint"),
        id_token_hint=params.get("id_token_hint"), ui_locales=_locales(params.get("ui_locales")),
        claims=normalised_claims(params.get("claims")),
    )


def _prompt(raw: str | None) -> frozenset[str]:
    values = frozenset(raw.split()) if raw else frozenset()
    if not values <= PROMPTS:
        raise InvalidRequest("The prompt parameter names an unknown value.")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with another value.")
    return values


def _max_age(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise InvalidRequest("The max_age parameter must be a whole number of seconds.")
    return int(raw)


def _locales(raw: str | None) -> tuple[str, ...]:
    tags = [tag for tag in (raw or "").split(" ") if _LOCALE.fullmatch(tag)]
    return tuple(dict.fromkeys(tags))[:MAX_LOCALES]


def normalised_claims(raw: str | None) -> str | None:
    """The ``claims`` request (§5.5) reduced to what we act on, as sorted JSON: the
    ``userinfo`` and ``id_token`` members, each claim name mapped to ``null`` or its
    ``essential`` / ``value`` / ``values``. Not JSON, or not objects: invalid_request."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise InvalidRequest("The claims parameter is not JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The claims parameter must be a JSON object.")
    out: dict[str, dict[str, object]] = {}
    for member in ("userinfo", "id_token"):
        asked = data.get(member)
        if asked is None:
            continue
        if not isinstance(asked, dict):
            raise InvalidRequest(f"The claims parameter's {member} member must be an object.")
        out[member] = {name: _claim_spec(spec) for name, spec in
                       list(asked.items())[:MAX_REQUESTED_CLAIMS] if _CLAIM_NAME.fullmatch(name)}
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


def _claim_spec(spec: object) -> dict[str, object] | None:
    """One claim's request: ``null``, or the members §5.5.1 defines, others dropped."""
    if not isinstance(spec, dict):
        return None
    kept: dict[str, object] = {}
    if isinstance(spec.get("essential"), bool):
        kept["essential"] = spec["essential"]
    if isinstance(spec.get("value"), str | int | float | bool):
        kept["value"] = spec["value"]
    if isinstance(spec.get("values"), list):
        kept["values"] = [v for v in spec["values"] if isinstance(v, str | int | float | bool)]
    return kept or None


def requested(claims: str | None, member: str) -> dict[str, dict[str, object] | None]:
    """The claims requested for ``member`` (``userinfo`` or ``id_token``) of a stored
    request (:func:`normalised_claims`); empty when none."""
    if not claims:
        return {}
    found = json.loads(claims).get(member)
    return found if isinstance(found, dict) else {}
