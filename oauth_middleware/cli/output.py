"""What the command line prints: one JSON document with ``--json``, aligned text otherwise.

Records become plain dictionaries here and nowhere else, so the JSON keys of a
client, a scope or a token are the same in every command. No function here
ever receives a client-secret hash; the only secrets printed are the ones a
command was asked to create (``client_secret``, ``access_token``,
``refresh_token``), once.

Nothing read from the store reaches the terminal raw: a title stored as
``"\\x1b]0;pwned\\x07"`` (before registration refused controls, or written to
Redis directly) would retitle the window, or worse. Text output shows every
character ``str.isprintable`` rejects (controls, C1, bidi overrides, line
separators, lone surrogates) as Python's repr does (``\\x1b``); JSON output as a
JSON escape (``\\u001b``), which ``json.dumps`` only does for C0 controls.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from oauth_middleware.models import AccessToken, Client, RefreshToken, Scope

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """``--json``: print exactly one JSON document on stdout instead of text."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout instead of text.")(func)


#: Every character that may not be printable: anything outside printable ASCII and newline.
_SUSPECT = re.compile(r"[^\n\x20-\x7e]")


def _escaped(text: str, escape: Callable[[str], str]) -> str:
    return _SUSPECT.sub(
        lambda m: m.group() if m.group().isprintable() else escape(m.group()), text)


def printable(text: str) -> str:
    """``text`` for a terminal: each unprintable character (newline included) as in repr."""
    return text if text.isprintable() else "".join(
        ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def emit_json(data: object) -> None:
    """One JSON document; unprintable characters inside strings as ``\\uXXXX`` escapes
    (the only raw newlines left are the indentation's, outside strings)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    click.echo(_escaped(text, lambda ch: json.dumps(ch)[1:-1]))


def when(timestamp: float | None) -> str:
    """A stored time for people: ISO 8601 in UTC, or ``never``."""
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def text_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return " ".join(printable(str(v)) for v in value) or "-"
    return printable(str(value)) or "-"


def echo_fields(data: Mapping[str, object]) -> None:
    """``key: value`` lines with the values aligned."""
    width = max((len(key) for key in data), default=0) + 2
    for key, value in data.items():
        click.echo(f"{key + ':':<{width}}{text_value(value)}")


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell; the last column is never padded."""
    cells = [list(headers), *[[text_value(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        click.echo("  ".join([*padded, row[-1]]).rstrip())


def client_dict(client: Client, secret: str | None = None) -> dict[str, object]:
    """A client's public fields (never its secret hash); ``client_secret`` only when given."""
    data: dict[str, object] = {"client_id": client.client_id}
    if secret is not None:
        data["client_secret"] = secret
    data.update({
        "title": client.title,
        "redirect_uris": list(client.redirect_uris),
        "scopes": list(client.scopes),
        "public": client.public,
        "dynamic": client.dynamic,
        "grant_types": list(client.grant_types),
        "token_lifetime": client.token_lifetime,
        "description": client.description,
        "link": client.link,
        "registrant": client.registrant,
        "allow_plain_pkce": client.allow_plain_pkce,
        "created_at": int(client.created_at),
    })
    if client.resources:
        data["resources"] = list(client.resources)
    if client.post_logout_redirect_uris:
        data["post_logout_redirect_uris"] = list(client.post_logout_redirect_uris)
    if client.access_token_format != "opaque":
        data["access_token_format"] = client.access_token_format
    if client.access_token_alg:
        data["access_token_alg"] = client.access_token_alg
    if client.require_pushed_authorization_requests:
        data["require_pushed_authorization_requests"] = True
    if client.require_dpop:
        data["dpop_bound_access_tokens"] = True
    if client.id_token_signed_response_alg:
        data["id_token_signed_response_alg"] = client.id_token_signed_response_alg
    return data


def scope_dict(scope: Scope) -> dict[str, object]:
    return {"identifier": scope.identifier, "title": scope.title, "enabled": scope.enabled}


def token_dict(record: AccessToken | RefreshToken, now: float) -> dict[str, object]:
    """A token's metadata and fingerprint; the token itself is never part of a record."""
    expires_in = None if record.expires_at is None else max(0, math.ceil(record.expires_at - now))
    return {
        "type": "refresh_token" if isinstance(record, RefreshToken) else "access_token",
        "fingerprint": record.fingerprint,
        "grant_id": record.grant_id,
        "client_id": record.client_id,
        "subject": record.subject,
        "subject_type": record.subject_type,
        # The user the token acts for; null for a client's own token, never the client id.
        "user": record.subject if record.subject_type == "user" else None,
        "scopes": sorted(record.scopes),
        "issued_at": int(record.issued_at),
        "expires_at": None if record.expires_at is None else int(record.expires_at),
        "expires_in": expires_in,
    }
