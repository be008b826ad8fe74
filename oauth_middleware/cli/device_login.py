"""``oauth-middleware device-login``: a reference device client (RFC 8628 §3.1-3.5).

It asks the issuer's metadata (RFC 8414) for the device authorization and token
endpoints, requests codes, tells the person where to enter the user code, then polls
the token endpoint: every ``interval`` seconds, 5 s longer after each ``slow_down``
(§3.5), until tokens, ``access_denied`` or ``expired_token``. The token response is
printed as JSON on stdout, everything meant for the person on stderr. It needs no
Redis and no extra package: the standard library's HTTP client speaks to the server.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import click

from oauth_middleware.cli.output import printable
from oauth_middleware.transport import is_loopback_host

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
METADATA = "/.well-known/oauth-authorization-server"
#: Largest answer read from the server (a token response is a few kilobytes).
MAX_ANSWER = 256 * 1024
#: How the command waits between polls; tests replace it.
sleep = time.sleep


def _call(url: str, form: Sequence[tuple[str, str]] | None = None
          ) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of a GET, or of a form POST when ``form`` is given."""
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(  # noqa: S310 - every URL passed _checked_url
        _checked_url(url), data=data, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            status, raw = answer.status, answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read(MAX_ANSWER)
    except OSError as error:
        raise click.ClickException(f"cannot reach {url}: {type(error).__name__}") from None
    try:
        body = json.loads(raw)
    except ValueError:
        raise click.ClickException(f"{url} answered {status} without JSON") from None
    if not isinstance(body, dict):
        raise click.ClickException(f"{url} answered {status} with no JSON object")
    return status, body


def _checked_url(url: str) -> str:
    """``url`` if https, or http to this machine: codes and tokens never travel in clear."""
    parts = urlsplit(url)
    loopback = is_loopback_host(parts.netloc.encode())
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise click.ClickException(f"{printable(url)} is not an https URL (http only on this "
                                   "machine)")
    return url


def _endpoints(issuer: str) -> tuple[str, str]:
    status, doc = _call(issuer + METADATA)
    device, token = doc.get("device_authorization_endpoint"), doc.get("token_endpoint")
    if status != 200 or doc.get("issuer") != issuer or not isinstance(device, str) \
            or not isinstance(token, str):
        raise click.ClickException("the issuer's metadata names no device authorization "
                                   "endpoint (or another issuer)")
    return device, token


def _poll(token_url: str, form: Sequence[tuple[str, str]], interval: int, expires_in: int
          ) -> dict[str, Any]:
    waited = 0
    while waited < expires_in:
        sleep(interval)
        waited += interval
        status, body = _call(token_url, form)
        if status == 200:
            return body
        error = body.get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise click.ClickException(f"the device was not signed in: {printable(str(error))}")
    raise click.ClickException("the code expired before it was entered")


@click.command("device-login")
@click.option("--issuer", required=True, help="The authorization server's issuer URL.")
@click.option("--client-id", required=True, help="This device's client id.")
@click.option("--scope", "scopes", multiple=True, help="A scope to ask for (repeatable).")
@click.option("--resource", "resources", multiple=True,
              help="A resource (RFC 8707) the token is for (repeatable).")
def device_login(issuer: str, client_id: str, scopes: tuple[str, ...],
                 resources: tuple[str, ...]) -> None:
    """Sign this device in (RFC 8628).

    Prints a code to enter at the issuer's device page (on stderr), polls the token
    endpoint until it is allowed, then prints the token response as JSON.
    """
    issuer = _checked_url(issuer).rstrip("/")
    device_url, token_url = _endpoints(issuer)
    asked = [("client_id", client_id), *([("scope", " ".join(scopes))] if scopes else []),
             *(("resource", r) for r in resources)]
    status, codes = _call(device_url, asked)
    if status != 200 or not isinstance(codes.get("device_code"), str):
        raise click.ClickException(f"no device code: {printable(str(codes.get('error')))}")
    where = codes.get("verification_uri_complete") or codes.get("verification_uri")
    click.echo(f"To sign in, visit {printable(str(codes.get('verification_uri')))} and enter "
               f"the code {printable(str(codes.get('user_code')))}", err=True)
    click.echo(f"  (or open {printable(str(where))})", err=True)
    tokens = _poll(token_url, [("grant_type", DEVICE_CODE), ("device_code", codes["device_code"]),
                               ("client_id", client_id)],
                   int(codes.get("interval", 5)), int(codes.get("expires_in", 600)))
    click.echo(json.dumps(tokens, indent=2))
