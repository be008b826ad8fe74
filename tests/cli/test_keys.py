"""``oauth-middleware keys list|rotate|retire`` against both store backends."""

from __future__ import annotations

import json

import pytest

from oauth_middleware.keyring import KeyRingError, StoreKeys
from tests.cli.harness import Cli, assert_error, lines_of

SECRET = "c" * 32
ENV: dict[str, str | None] = {"OAUTH_SECRET_KEY": SECRET}


def kids(cli: Cli) -> set[str]:
    jwks = cli.run(lambda store: StoreKeys(store, SECRET.encode()).public_jwks())
    return {jwk["kid"] for jwk in jwks["keys"]}


@pytest.mark.rule("jwks.rotation")
def test_rotate_makes_new_current_keys_and_keeps_the_old_ones_published(cli: Cli) -> None:
    assert cli.json("keys", "list") == []
    assert lines_of(cli.ok("keys", "list")) == [
        "No signing keys yet: the server makes them on first use."]
    first = kids(cli)  # the server's first use
    result = cli.invoke("keys", "rotate", "--json", env=ENV)
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert [(k["alg"], k["state"], k["retire_after"]) for k in made] == [
        ("RS256", "current", None), ("ES256", "current", None)]
    listed = cli.json("keys", "list")
    states = {k["kid"]: (k["state"], k["retire_after"]) for k in listed}
    now = int(cli.clock.now)
    for kid in first:
        state, retire_after = states[kid]
        assert state == "published" and retire_after >= now + 24 * 3600
    assert {k["kid"] for k in made} | first == kids(cli)
    assert set(listed[0]) == {"kid", "alg", "state", "created_at", "retire_after"}
    table = lines_of(cli.ok("keys", "list"))
    assert table[0].split() == ["KID", "ALG", "STATE", "CREATED", "PUBLISHED", "UNTIL"]
    assert sum("while current" in line for line in table) == 2


def test_rotate_one_algorithm_and_the_lifetime_it_publishes_for(cli: Cli) -> None:
    kids(cli)
    result = cli.invoke("keys", "rotate", "--alg", "ES256", "--max-token-lifetime", "600",
                        env=ENV)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("New current ES256 key ")
    listed = cli.json("keys", "list")
    (old,) = [k for k in listed if k["state"] == "published"]
    assert old["alg"] == "ES256"
    assert old["retire_after"] == pytest.approx(cli.clock.now + 600 + 30 + 60, abs=1)


def test_rotate_needs_the_secret_key_from_the_environment(cli: Cli) -> None:
    assert_error(cli.invoke("keys", "rotate", env={"OAUTH_SECRET_KEY": None}),
                 "set OAUTH_SECRET_KEY to the server's secret_key", status=2)
    assert_error(cli.invoke("keys", "rotate", env={"OAUTH_SECRET_KEY": "short"}),
                 "secret_key must be the server's (at least 32 bytes)")
    assert_error(cli.invoke("keys", "rotate", "--secret-key-env", "MINE", env=ENV),
                 "set MINE to the server's secret_key", status=2)
    assert cli.json("keys", "list") == []


def test_retire_drops_a_published_key_and_refuses_the_current_one(cli: Cli) -> None:
    first = kids(cli)
    current = next(iter(first))
    # "--": a thumbprint kid may start with "-", which click would read as an option.
    assert_error(cli.invoke("keys", "retire", "--", current),
                 f"{current!r} is a current key: rotate first, then retire it")
    cli.invoke("keys", "rotate", env=ENV)
    retired = cli.invoke("keys", "retire", "--json", "--", current)
    assert retired.exit_code == 0, retired.output
    assert json.loads(retired.stdout) == {"kid": current, "retired": True}
    assert current not in kids(cli)
    assert_error(cli.invoke("keys", "retire", "--", current), f"no signing key {current!r}")
    assert_error(cli.invoke("keys", "retire", "odd\x1b[31m"), "no signing key 'odd\\x1b[31m'")


def test_a_rotation_with_another_secret_key_cannot_be_used_by_the_server(cli: Cli) -> None:
    kids(cli)
    cli.invoke("keys", "rotate", env={"OAUTH_SECRET_KEY": "x" * 32})
    with pytest.raises(KeyRingError, match="does not decrypt: the secret_key differs"):
        kids(cli)


def test_client_add_registers_a_jwt_client_and_shows_it(cli: Cli) -> None:
    out = cli.json("client", "add", "API", "--confidential", "--grant-type",
                   "client_credentials", "--access-token-format", "jwt",
                   "--access-token-alg", "ES256")
    assert out["access_token_format"] == "jwt" and out["access_token_alg"] == "ES256"
    stored = cli.run(lambda store: store.get_client(out["client_id"]))
    assert stored is not None and stored.access_token_format == "jwt"
    plain = cli.json("client", "add", "Other", "--confidential", "--grant-type",
                     "client_credentials")
    assert "access_token_format" not in plain and "access_token_alg" not in plain
    assert_error(cli.invoke("client", "add", "X", "--confidential", "--grant-type",
                            "client_credentials", "--access-token-alg", "ES256"),
                 "access_token_alg needs access_token_format='jwt'")
