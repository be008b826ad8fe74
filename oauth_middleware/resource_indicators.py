"""Resource indicators at the authorization server (RFC 8707 §2): which audience a grant gets.

"The value of the resource parameter MUST be an absolute URI, as specified by
Section 4.3 of [RFC3986], which MAY include a query component, but MUST NOT
include a fragment component" (§2); it may be repeated, and an authorization
server refuses a malformed one, or one it will not issue for, with
``invalid_target`` (§2). What the client asked for at ``auth/`` is bound to
the code and the refresh token; the token endpoint may narrow it to a subset
(§2.2), never widen it. A client sending none gets its own registered resources,
or else the server's ``default_resource``, or else no audience at all (as before).

A client's ``resources`` restrict what it may ask for (empty: any, as an empty
``scopes`` allows any scope), and are checked again at every token request, so a
resource taken from a client since stops being issued.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from oauth_middleware.errors import InvalidTarget
from oauth_middleware.models import Client

#: Most ``resource`` values one request may carry.
MAX_RESOURCES = 8
#: Longest accepted resource URI, in characters.
MAX_RESOURCE_LENGTH = 2048
#: RFC 3986 §4.3 ``absolute-URI``: a scheme, then unreserved, reserved and percent-encoded
#: characters only, no ``#`` (no fragment) — so no whitespace, control or non-ASCII either.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")


def is_resource(value: str) -> bool:
    """Is ``value`` an absolute URI without fragment (RFC 8707 §2), of bounded length, whose
    authority (when it has one: ``https://``) names a host?"""
    if len(value) > MAX_RESOURCE_LENGTH or not _ABSOLUTE_URI.fullmatch(value):
        return False
    if not value.partition(":")[2].startswith("//"):
        return True  # no authority: ``urn:example:api``
    try:
        return bool(urlsplit(value).hostname)
    except ValueError:  # an unbalanced IPv6 bracket
        return False


def check_resource(value: str) -> str:
    """``value`` if :func:`is_resource`; else ``invalid_target`` (RFC 8707 §2)."""
    if not is_resource(value):
        raise InvalidTarget("A resource must be an absolute URI without a fragment.")
    return value


def parse_resources(values: Sequence[str]) -> frozenset[str]:
    """The ``resource`` parameters of one request, each checked; a value sent twice is
    refused rather than guessed at, like any other repeated parameter."""
    if len(values) > MAX_RESOURCES:
        raise InvalidTarget(f"At most {MAX_RESOURCES} resource parameters are accepted.")
    if len(set(values)) != len(values):
        raise InvalidTarget("A resource parameter is repeated.")
    return frozenset(check_resource(v) for v in values)


def check_allowed(client: Client, audience: Iterable[str]) -> frozenset[str]:
    """``audience`` if the client may have tokens for all of it (RFC 8707 §2)."""
    wanted = frozenset(audience)
    if client.resources and not wanted <= set(client.resources):
        raise InvalidTarget("The client may not use this resource.")
    return wanted


def requested_audience(client: Client, values: Sequence[str],
                       default: frozenset[str]) -> frozenset[str]:
    """The audience of a new grant (``auth/``, client credentials, password): the resources
    asked for, or the client's registered ones, or the server's ``default``."""
    asked = parse_resources(values)
    if not asked:
        return frozenset(client.resources) or default
    return check_allowed(client, asked)


def narrowed_audience(client: Client, values: Sequence[str],
                      granted: frozenset[str]) -> frozenset[str]:
    """The audience of a token from an existing grant (code, refresh): a subset of what was
    ``granted`` (RFC 8707 §2.2), all of it when none is asked for. A grant from before
    resources were bound (none granted) gets the client's registered ones, if any: a
    client limited to some resources never gets a token valid everywhere."""
    asked = parse_resources(values)
    if asked and not asked <= granted:
        raise InvalidTarget("The resource was not authorized for this grant.")
    return check_allowed(client, asked or granted or frozenset(client.resources))
