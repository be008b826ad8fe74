"""``oauth-middleware token …`` against both store backends: issue, list, inspect, revoke."""

from __future__ import annotations

import pytest

from oauth_middleware.models import IssuedTokens
from oauth_middleware.security import fingerprint
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import MAX_LIFETIME, issue_token, register_client
from tests.cli.harness import Cli, assert_error, lines_of
from tests.store_helpers import redis_of


def _setup(cli: Cli, **options: object) -> None:
    async def work(store: TokenStore) -> None:
        await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                              scopes_list=["polls:vote", "polls:results"], **options)  # type: ignore[arg-type]
        await register_client(store, "Spa", "spa", "https://a.example/cb",
                              scopes_list=["polls:vote"])

    cli.run(work)


def _alive(cli: Cli, issued: IssuedTokens) -> bool:
    return cli.run(lambda store: store.resolve(issued.access_token)) is not None


def _issue(cli: Cli, client_id: str = "web", user: str | None = "alice") -> IssuedTokens:
    """Issue a token one second after the previous one (listings sort by issue time)."""
    cli.clock.advance(1)
    return cli.run(lambda store: issue_token(store, client_id, user=user))


def test_token_issue_for_a_user_prints_an_access_and_a_refresh_token(cli: Cli) -> None:
    _setup(cli)
    out = cli.json("token", "issue", "--client-id", "web", "--user", "alice",
                   "--scope", "polls:vote", "--lifetime", "600")
    assert list(out) == ["access_token", "token_type", "expires_in", "refresh_token", "scope"]
    assert out["token_type"] == "Bearer" and out["expires_in"] == 600
    assert out["scope"] == "polls:vote"
    record = cli.run(lambda store: store.resolve(out["access_token"]))
    assert record is not None and record.subject == "alice" and record.client_id == "web"
    refresh = cli.run(lambda store: store.lookup(out["refresh_token"]))
    assert refresh is not None and refresh.grant_id == record.grant_id


def test_token_issue_for_the_client_itself_has_no_refresh_token(cli: Cli) -> None:
    _setup(cli)
    out = cli.json("token", "issue", "--client-id", "web")
    assert "refresh_token" not in out and out["expires_in"] == 3600
    assert out["scope"] == "polls:results polls:vote"
    record = cli.run(lambda store: store.resolve(out["access_token"]))
    assert record is not None and record.subject_type == "client" and record.user is None


def test_token_issue_for_a_never_expiring_client_omits_expires_in(cli: Cli) -> None:
    _setup(cli, token_lifetime=None)
    out = cli.json("token", "issue", "--client-id", "web", "--user", "alice")
    assert "expires_in" not in out
    record = cli.run(lambda store: store.resolve(out["access_token"]))
    assert record is not None and record.expires_at is None


def test_token_issue_text_prints_one_field_per_line(cli: Cli) -> None:
    _setup(cli)
    lines = lines_of(cli.ok("token", "issue", "--client-id", "spa", "--user", "bob"))
    assert [line.split(":")[0] for line in lines] == [
        "access_token", "token_type", "expires_in", "refresh_token", "scope"]
    token = lines[0].split()[-1]
    record = cli.run(lambda store: store.resolve(token))
    assert record is not None and record.subject == "bob"


@pytest.mark.parametrize(("args", "message"), [
    (["--client-id", "nope"], "no client 'nope'"),
    (["--client-id", "spa", "--user", "bob", "--scope", "polls:results"],
     "not allowed for this client"),
    (["--client-id", "web", "--scope", "unknown:scope"], "not allowed for this client"),
])
def test_token_issue_refuses_what_the_scope_rules_refuse(
    cli: Cli, args: list[str], message: str
) -> None:
    _setup(cli)
    assert_error(cli.invoke("token", "issue", *args), message)
    assert cli.run(lambda store: store.list_tokens()) == (0, [])


@pytest.mark.parametrize("args", [["--client-id", "web", "--lifetime", "0"], ["--user", "x"]])
def test_token_issue_bad_usage_exits_2(cli: Cli, args: list[str]) -> None:
    _setup(cli)
    assert_error(cli.invoke("token", "issue", *args), "", status=2)


def test_token_issue_refuses_a_lifetime_past_ten_years_and_later_issues_work(cli: Cli) -> None:
    """A huge lifetime once poisoned the client's and the user's index: every later issue
    for them failed. It is a usage error now, and nothing reaches the store."""
    _setup(cli)
    before = cli.run(lambda store: redis_of(store).keys("*"))
    for lifetime in ("99999999999999999999", str(MAX_LIFETIME + 1)):
        result = cli.invoke("token", "issue", "--client-id", "web", "--user", "alice",
                            "--lifetime", lifetime)
        assert_error(result, f"Invalid value for '--lifetime': {lifetime} is not in the range "
                             f"1<=x<={MAX_LIFETIME}.", status=2)
    assert sorted(cli.run(lambda store: redis_of(store).keys("*"))) == sorted(before)
    out = cli.json("token", "issue", "--client-id", "web", "--user", "alice")
    assert out["expires_in"] == 3600
    longest = cli.json("token", "issue", "--client-id", "web", "--lifetime", str(MAX_LIFETIME))
    assert longest["expires_in"] == MAX_LIFETIME


@pytest.mark.rule("rest.no-secret-in-logs")
def test_token_list_shows_fingerprints_and_metadata_never_tokens(cli: Cli) -> None:
    _setup(cli)
    alice = _issue(cli)
    bob = _issue(cli, "spa", "bob")
    machine = _issue(cli, user=None)
    result = cli.invoke("token", "list", "--json")
    out = cli.json("token", "list")
    for issued in (alice, bob, machine):
        assert issued.access_token not in result.stdout
        assert issued.refresh_token is None or issued.refresh_token not in result.stdout
    assert [t["fingerprint"] for t in out] == [
        fingerprint(t.access_token) for t in (alice, bob, machine)]
    assert out[0] == {
        "type": "access_token", "fingerprint": fingerprint(alice.access_token),
        "grant_id": alice.token.grant_id, "client_id": "web", "subject": "alice",
        "subject_type": "user", "user": "alice", "scopes": ["polls:results", "polls:vote"],
        "issued_at": int(alice.token.issued_at), "expires_at": int(alice.token.issued_at + 3600),
        "expires_in": 3598,
    }
    assert [t["subject"] for t in cli.json("token", "list", "--user", "alice")] == ["alice"]
    assert [t["subject"] for t in cli.json("token", "list", "--client-id", "web")] == [
        "alice", "web"]
    assert cli.json("token", "list", "--client-id", "spa", "--user", "alice") == []


def test_token_list_text_is_a_table(cli: Cli) -> None:
    _setup(cli)
    assert cli.ok("token", "list") == "No live access tokens.\n"
    alice = _issue(cli)
    machine = _issue(cli, user=None)
    lines = lines_of(cli.ok("token", "list"))
    assert lines[0].split() == ["FINGERPRINT", "GRANT", "CLIENT", "SUBJECT", "EXPIRES", "SCOPES"]
    assert lines[1].split()[:4] == [fingerprint(alice.access_token), alice.token.grant_id,
                                    "web", "alice"]
    assert lines[2].split()[3:5] == ["(client)", "web"]
    assert alice.access_token not in "\n".join(lines)
    assert machine.access_token not in "\n".join(lines)


def test_token_inspect_describes_access_and_refresh_tokens(cli: Cli) -> None:
    _setup(cli)
    issued = _issue(cli)
    out = cli.json("token", "inspect", issued.access_token)
    assert out["type"] == "access_token" and out["subject"] == "alice"
    assert out["fingerprint"] == fingerprint(issued.access_token)
    assert out["expires_in"] == 3600 and out["scopes"] == ["polls:results", "polls:vote"]
    assert issued.access_token not in str(out)
    assert issued.refresh_token is not None
    refresh = cli.json("token", "inspect", "-", input=issued.refresh_token + "\n")
    assert refresh["type"] == "refresh_token" and refresh["grant_id"] == issued.token.grant_id
    text = cli.ok("token", "inspect", issued.access_token)
    assert "subject:      alice" in lines_of(text)


def test_token_inspect_of_an_unknown_or_expired_token_fails_with_one_line(cli: Cli) -> None:
    _setup(cli)
    issued = _issue(cli)
    assert_error(cli.invoke("token", "inspect", "not-a-token"), "unknown, expired or revoked")
    cli.clock.advance(3601)
    assert_error(cli.invoke("token", "inspect", issued.access_token), "unknown, expired")
    assert_error(cli.invoke("token", "inspect", "-", input="\n"), "the token is empty", status=2)


def test_token_revoke_kills_one_access_token(cli: Cli) -> None:
    _setup(cli)
    first, second = _issue(cli), _issue(cli)
    assert cli.json("token", "revoke", first.access_token) == {"revoked": True}
    assert cli.run(lambda store: store.resolve(first.access_token)) is None
    assert cli.run(lambda store: store.resolve(second.access_token)) is not None


def test_token_revoke_again_exits_0_saying_already_revoked(cli: Cli) -> None:
    """Idempotent for scripts: the token is dead either way, and the other one stays live."""
    _setup(cli)
    first, second = _issue(cli), _issue(cli)
    assert cli.ok("token", "revoke", first.access_token) == "Revoked.\n"
    again = cli.invoke("token", "revoke", first.access_token)
    assert (again.exit_code, again.stdout, again.stderr) == (
        0, "Already revoked (or expired): nothing to do.\n", "")
    assert cli.json("token", "revoke", first.access_token) == {
        "revoked": False, "already_revoked": True}
    assert cli.ok("token", "revoke", "-", input=f"{first.refresh_token}\n") == "Revoked.\n"
    assert cli.ok("token", "revoke", "-", input=f"{first.refresh_token}\n") == (
        "Already revoked (or expired): nothing to do.\n")
    assert _alive(cli, second)


@pytest.mark.parametrize("value", ["not-a-token", "abc.def", "a" * 200, "AAAAAAAAAAAAAAAA.bad!"])
def test_token_revoke_of_a_malformed_value_is_still_an_error(cli: Cli, value: str) -> None:
    _setup(cli)
    issued = _issue(cli)
    assert_error(cli.invoke("token", "revoke", value),
                 "that is not a token of this server (it is malformed)")
    assert _alive(cli, issued)


def test_token_issue_refuses_a_user_token_for_a_client_credentials_only_client(cli: Cli) -> None:
    """The token endpoint never issues a user's token to such a client: neither does the CLI."""
    cli.run(lambda store: register_client(store, "Svc", "svc", public=False,
                                          grant_types=["client_credentials"],
                                          scopes_list=["polls:vote"]))
    assert_error(cli.invoke("token", "issue", "--client-id", "svc", "--user", "alice"),
                 "client 'svc' may not have a token for a user: it is registered only for "
                 "client_credentials, and a user's token needs authorization_code, implicit "
                 "or password (leave out the user for the client's own token)")
    assert cli.run(lambda store: store.list_tokens()) == (0, [])
    own = cli.json("token", "issue", "--client-id", "svc")
    record = cli.run(lambda store: store.resolve(own["access_token"]))
    assert record is not None and record.subject_type == "client" and record.subject == "svc"


def test_token_issue_refuses_a_public_clients_own_token(cli: Cli) -> None:
    """A client's own token is client_credentials: confidential clients only (RFC 6749 §4.4)."""
    _setup(cli)
    assert_error(cli.invoke("token", "issue", "--client-id", "spa"),
                 "client 'spa' may not have a token of its own: that is the client_credentials "
                 "grant, which it is not registered for")
    assert cli.run(lambda store: store.list_tokens()) == (0, [])


def test_token_revoke_of_a_refresh_token_revokes_its_grant(cli: Cli) -> None:
    _setup(cli)
    issued = _issue(cli)
    assert cli.ok("token", "revoke", "-", input=f"{issued.refresh_token}\n") == "Revoked.\n"
    assert cli.run(lambda store: store.resolve(issued.access_token)) is None


def test_token_revoke_grant_uses_the_grant_id_from_the_listing(cli: Cli) -> None:
    _setup(cli)
    issued, other = _issue(cli), _issue(cli)
    grant = cli.json("token", "list")[0]["grant_id"]
    assert grant == issued.token.grant_id
    assert cli.json("token", "revoke-grant", grant) == {"revoked": 2}
    assert cli.run(lambda store: store.resolve(issued.access_token)) is None
    assert cli.run(lambda store: store.resolve(other.access_token)) is not None
    assert_error(cli.invoke("token", "revoke-grant", grant), f"no live grant '{grant}'")


def test_revoke_access_revokes_one_token_named_as_token_list_shows_it(cli: Cli) -> None:
    """The admin's per-token revoke button, on the command line: same toolbox call."""
    _setup(cli)
    issued, other = _issue(cli), _issue(cli)
    listed = {t["fingerprint"]: t for t in cli.json("token", "list")}
    row = listed[issued.token.fingerprint]
    assert cli.json("token", "revoke-access", row["grant_id"], row["fingerprint"]) == {
        "revoked": True}
    assert not _alive(cli, issued)
    assert cli.run(lambda store: store.lookup(issued.refresh_token or "")) is not None
    assert _alive(cli, other)
    assert_error(cli.invoke("token", "revoke-access", row["grant_id"], row["fingerprint"]),
                 f"no live access token '{row['fingerprint']}' in grant '{row['grant_id']}'")
    assert_error(cli.invoke("token", "revoke-access", other.token.grant_id, "not-hex"),
                 "no live access token 'not-hex'")
    assert _alive(cli, other)
    assert cli.ok("token", "revoke-access", other.token.grant_id,
                  other.token.fingerprint) == "Revoked.\n"


def test_revoke_user_logs_one_user_out_everywhere(cli: Cli) -> None:
    _setup(cli)
    alice = [_issue(cli), _issue(cli, "spa"), _issue(cli)]
    bob = _issue(cli, "spa", "bob")
    assert cli.json("token", "revoke-user", "alice") == {"revoked": 6}
    assert not any(_alive(cli, t) for t in alice)
    assert _alive(cli, bob)
    assert cli.ok("token", "revoke-user", "alice") == "Revoked 0 token(s) and code(s) of user " \
                                                      "'alice'.\n"


def test_revoke_client_revokes_its_tokens_and_keeps_the_client(cli: Cli) -> None:
    _setup(cli)
    web = [_issue(cli), _issue(cli, user=None)]
    spa = _issue(cli, "spa")
    assert cli.json("token", "revoke-client", "web") == {"revoked": 3}
    assert not any(_alive(cli, t) for t in web)
    assert _alive(cli, spa)
    assert cli.run(lambda store: store.get_client("web")) is not None


def test_revoke_client_of_an_unknown_client_fails_like_client_show(cli: Cli) -> None:
    _setup(cli)
    spa = _issue(cli, "spa")
    refused = cli.invoke("token", "revoke-client", "nope")
    assert_error(refused, "no client 'nope'")
    assert refused.stderr == cli.invoke("client", "show", "nope").stderr == (
        "Error: no client 'nope'\n")
    assert _alive(cli, spa)


@pytest.mark.rule("revoke.client-leftovers")
def test_list_and_revoke_client_work_for_a_client_no_longer_registered(cli: Cli) -> None:
    """What an interrupted removal leaves: the record is gone, its tokens are not."""
    _setup(cli)
    web = [_issue(cli), _issue(cli, user=None)]
    spa = _issue(cli, "spa")
    assert cli.run(lambda store: store.delete_client("web"))
    listed = cli.json("token", "list", "--client-id", "web")
    assert sorted(t["fingerprint"] for t in listed) == sorted(t.token.fingerprint for t in web)
    assert cli.json("token", "revoke-client", "web") == {"revoked": 3}
    assert not any(_alive(cli, t) for t in web)
    assert cli.json("token", "list", "--client-id", "web") == []
    assert cli.run(lambda store: redis_of(store).exists(store.keys.client_index("web"))) == 0
    assert _alive(cli, spa)
    # Nothing left and no record: now the id is unknown, as a mistyped one is.
    assert_error(cli.invoke("token", "revoke-client", "web"), "no client 'web'")


@pytest.mark.rule("revoke.client-leftovers")
def test_client_remove_of_a_gone_client_still_sweeps_its_leftover_tokens(cli: Cli) -> None:
    _setup(cli)
    web = [_issue(cli), _issue(cli, user=None)]
    assert cli.run(lambda store: store.delete_client("web"))
    assert_error(cli.invoke("client", "remove", "web"), "no client 'web'")
    assert not any(_alive(cli, t) for t in web)
    assert cli.json("token", "list", "--client-id", "web") == []


def test_token_issue_for_a_jwt_client_is_refused_and_issues_nothing(cli: Cli) -> None:
    """Only the authorization server signs RFC 9068 tokens (its issuer, its key ring): the
    CLI refuses rather than hand out an opaque token JWT-checking resource servers refuse."""
    _setup(cli, access_token_format="jwt")
    for user in ("alice", None):
        args = ["--client-id", "web", *(["--user", user] if user else [])]
        assert_error(cli.invoke("token", "issue", *args),
                     "client 'web' receives JWT access tokens (RFC 9068), which only the "
                     "authorization server signs")
    assert cli.run(lambda store: redis_of(store).keys(store.keys.access_pattern)) == []
    assert cli.json("token", "issue", "--client-id", "spa", "--user", "alice")["token_type"] \
        == "Bearer"
