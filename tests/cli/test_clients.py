"""``oauth-middleware client …`` against fakeredis and a real redis-server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oauth_middleware.models import Client, Scope
from oauth_middleware.security import verify_client_secret
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import MAX_LIFETIME, issue_token, register_client
from tests.cli.harness import Cli, assert_error, lines_of

CB = "https://polls.example/cb"


def _client(cli: Cli, client_id: str) -> Client | None:
    return cli.run(lambda store: store.get_client(client_id))


def _register(cli: Cli, client_id: str, **options: object) -> None:
    async def work(store: TokenStore) -> None:
        await register_client(store, client_id.title(), client_id, CB, **options)  # type: ignore[arg-type]

    cli.run(work)


@pytest.mark.rule("rest.no-raw-secrets")
def test_client_add_confidential_prints_the_secret_once_and_stores_only_its_hash(
    cli: Cli,
) -> None:
    out = cli.json("client", "add", "Polls", "--confidential", "--client-id", "polls",
                   "--redirect-uri", CB, "--redirect-uri", "http://127.0.0.1:8000/cb",
                   "--scope", "polls:vote polls:results", "--register-scopes")
    assert out["client_id"] == "polls" and out["title"] == "Polls"
    assert out["public"] is False
    assert out["redirect_uris"] == [CB, "http://127.0.0.1:8000/cb"]
    assert out["scopes"] == ["polls:vote", "polls:results"]
    assert out["grant_types"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert out["token_lifetime"] == 3600
    assert "secret_hash" not in out
    client = _client(cli, "polls")
    assert client is not None and client.secret_hash is not None
    assert out["client_secret"] not in client.secret_hash
    assert verify_client_secret(client.secret_hash, out["client_secret"])
    scopes = cli.run(lambda store: store.list_scopes())
    assert scopes == [Scope("polls:results", "Polls Results"), Scope("polls:vote", "Polls Vote")]
    shown = cli.json("client", "show", "polls")
    assert "client_secret" not in shown and out["client_secret"] not in str(shown)


def test_client_add_public_by_default_has_no_secret(cli: Cli) -> None:
    out = cli.json("client", "add", "Spa", "--redirect-uri", CB)
    assert out["public"] is True and "client_secret" not in out
    assert out["grant_types"] == ["authorization_code", "refresh_token"]
    assert out["scopes"] == []
    client = _client(cli, out["client_id"])
    assert client is not None and client.public and client.secret_hash is None


def test_client_add_text_names_the_client_and_warns_the_secret_is_shown_once(cli: Cli) -> None:
    out = cli.ok("client", "add", "Polls", "--confidential", "--client-id", "polls",
                 "--redirect-uri", CB)
    fields = dict(line.split(":", 1) for line in lines_of(out)[1:-1])
    assert fields["client_id"].strip() == "polls"
    client = _client(cli, "polls")
    assert client is not None
    assert verify_client_secret(client.secret_hash, fields["client_secret"].strip())
    assert lines_of(out)[0] == "Registered confidential client 'Polls'."
    assert "shown only once" in lines_of(out)[-1]


def test_client_add_sets_every_option(cli: Cli) -> None:
    cli.run(lambda store: store.save_scope(Scope("polls:vote", "Vote")))
    out = cli.json("client", "add", "Native", "--client-id", "native", "--redirect-uri",
                   "com.example.app:/cb", "--scope", "polls:vote", "--grant-type",
                   "authorization_code", "--token-lifetime", "never", "--registrant", "alice",
                   "--description", "A phone app", "--link", "https://app.example/",
                   "--allow-plain-pkce")
    assert out["token_lifetime"] is None and out["grant_types"] == ["authorization_code"]
    client = _client(cli, "native")
    assert client is not None
    assert client.token_lifetime is None and client.registrant == "alice"
    assert client.description == "A phone app" and client.link == "https://app.example/"
    assert client.allow_plain_pkce and client.scopes == ("polls:vote",)


def test_client_add_refuses_unknown_scopes_unless_told_to_register_them(cli: Cli) -> None:
    result = cli.invoke("client", "add", "Polls", "--client-id", "polls", "--scope", "polls:vote",
                        "--redirect-uri", CB)
    assert_error(result, "unknown scope 'polls:vote': register it first or pass --register-scopes")
    assert _client(cli, "polls") is None
    assert cli.run(lambda store: store.list_scopes()) == []


@pytest.mark.parametrize(("uri", "message"), [
    ("http://polls.example/cb", "or --allow-http for local development"),
    ("https://polls.example/cb#frag", "fragment"),
    ("https://*.example/cb", "wildcards"),
    ("/cb", "absolute"),
    ("ftp://polls.example/cb", "private-use scheme"),
])
@pytest.mark.rule("auth.redirect.registration-rules")
def test_client_add_refuses_redirect_uris_the_server_would_refuse(
    cli: Cli, uri: str, message: str
) -> None:
    result = cli.invoke("client", "add", "Polls", "--client-id", "polls", "--redirect-uri", uri)
    assert_error(result, message)
    assert _client(cli, "polls") is None


def test_client_add_allow_http_accepts_plain_http_for_development(cli: Cli) -> None:
    out = cli.json("client", "add", "Dev", "--redirect-uri", "http://dev.example/cb",
                   "--allow-http")
    assert out["redirect_uris"] == ["http://dev.example/cb"]


@pytest.mark.parametrize(("args", "message"), [
    (["--client-id", "taken"], "already registered"),
    (["--client-id", "bad id"], "client id"),
    (["--grant-type", "client_credentials"], "public clients cannot use client_credentials"),
    (["--grant-type", "password", "--public"], "public clients cannot use"),
    (["--scope", "bad\"scope"], "invalid scope identifier"),
])
def test_client_add_refuses_what_registration_refuses(
    cli: Cli, args: list[str], message: str
) -> None:
    _register(cli, "taken")
    assert_error(cli.invoke("client", "add", "T", "--redirect-uri", CB, *args), message)
    assert [c.client_id for c in _all_clients(cli)] == ["taken"]


@pytest.mark.parametrize("args", [
    ["--token-lifetime", "0"], ["--token-lifetime", "soon"], ["--grant-type", "magic"], [],
])
def test_client_add_bad_usage_exits_2(cli: Cli, args: list[str]) -> None:
    title = [] if not args else ["T"]
    assert_error(cli.invoke("client", "add", *title, *args), "", status=2)
    assert _all_clients(cli) == []


@pytest.mark.parametrize("grants", [
    [], ["--confidential"], ["--grant-type", "implicit"],
    ["--confidential", "--grant-type", "client_credentials", "--grant-type", "authorization_code"],
])
def test_client_add_without_a_redirect_uri_is_refused_when_its_grants_redirect(
    cli: Cli, grants: list[str]
) -> None:
    result = cli.invoke("client", "add", "T", *grants)
    assert_error(result, "Error: --redirect-uri is required for a client using "
                         "authorization_code or implicit (the default grants): name one, or "
                         "choose grants without redirects, e.g. --confidential --grant-type "
                         "client_credentials", status=2)
    assert _all_clients(cli) == []


@pytest.mark.parametrize("grants", [
    ["--grant-type", "client_credentials"],
    ["--grant-type", "password", "--grant-type", "refresh_token"],
])
def test_client_add_without_a_redirect_uri_is_fine_for_a_machine_client(
    cli: Cli, grants: list[str]
) -> None:
    out = cli.json("client", "add", "Machine", "--confidential", *grants)
    assert out["redirect_uris"] == [] and out["grant_types"] == grants[1::2]
    assert [c.client_id for c in _all_clients(cli)] == [out["client_id"]]


@pytest.mark.parametrize("lifetime", ["99999999999999999999", str(MAX_LIFETIME + 1)])
def test_client_add_refuses_a_token_lifetime_past_ten_years(cli: Cli, lifetime: str) -> None:
    result = cli.invoke("client", "add", "T", "--redirect-uri", CB, "--token-lifetime", lifetime)
    assert_error(result, "Invalid value for '--token-lifetime': a token lifetime is a positive "
                         f"number of seconds up to {MAX_LIFETIME} (ten years), or 'never'",
                 status=2)
    assert _all_clients(cli) == []
    out = cli.json("client", "add", "T", "--redirect-uri", CB,
                   "--token-lifetime", str(MAX_LIFETIME))
    assert out["token_lifetime"] == MAX_LIFETIME


def _all_clients(cli: Cli) -> list[Client]:
    async def work(store: TokenStore) -> list[Client]:
        found: list[Client] = []
        cursor = None
        while cursor != 0:
            cursor, page = await store.list_clients(cursor or 0)
            found += page
        return found

    return cli.run(work)


def test_client_list_prints_every_client_as_one_json_array(cli: Cli) -> None:
    async def work(store: TokenStore) -> None:
        for n in range(150):  # enough for SSCAN to page
            await register_client(store, f"Client {n}", f"c{n:03}", CB, public=n % 2 == 0)

    cli.run(work)
    out = cli.json("client", "list")
    assert [c["client_id"] for c in out] == [f"c{n:03}" for n in range(150)]
    assert out[1]["public"] is False and "client_secret" not in out[1]
    assert all("secret_hash" not in c for c in out)


def test_client_list_text_is_a_table(cli: Cli) -> None:
    assert cli.ok("client", "list") == "No clients registered.\n"
    _register(cli, "web", public=False, scopes_list=["polls:vote"], token_lifetime=None)
    _register(cli, "spa")
    assert lines_of(cli.ok("client", "list")) == [
        "CLIENT ID  TYPE          TOKEN LIFETIME  SCOPES      TITLE",
        "spa        public        3600s           (any)       Spa",
        "web        confidential  never           polls:vote  Web",
    ]


def test_client_show_prints_one_client(cli: Cli) -> None:
    _register(cli, "web", public=False)
    out = cli.json("client", "show", "web")
    assert out["client_id"] == "web" and out["redirect_uris"] == [CB]
    assert set(out) >= {"title", "scopes", "public", "grant_types", "token_lifetime"}
    assert "secret_hash" not in out and "client_secret" not in out
    text = cli.ok("client", "show", "web")
    assert "client_id:        web" in lines_of(text)
    assert "secret" not in text


def test_client_show_prints_created_at_as_token_list_prints_dates(cli: Cli) -> None:
    """One date format: ISO 8601 in UTC for people, the epoch in JSON (as for tokens)."""
    _register(cli, "web", public=False, scopes_list=["polls:vote"])
    created = (_client(cli, "web") or pytest.fail("not registered")).created_at
    iso = datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds")
    fields = dict(line.split(":", 1) for line in lines_of(cli.ok("client", "show", "web")))
    assert fields["created_at"].strip() == iso and iso.endswith("+00:00")
    assert cli.json("client", "show", "web")["created_at"] == int(created)
    cli.run(lambda store: issue_token(store, "web", user="alice"))
    listed = lines_of(cli.ok("token", "list"))[1].split()
    assert listed[4].endswith("+00:00") and len(listed[4]) == len(iso)


@pytest.mark.parametrize("command", [
    ["client", "show", "nope"], ["client", "remove", "nope"], ["client", "rotate-secret", "nope"],
    ["client", "add-redirect", "nope", CB], ["client", "remove-redirect", "nope", CB],
])
def test_commands_on_an_unknown_client_fail_with_one_line(cli: Cli, command: list[str]) -> None:
    assert_error(cli.invoke(*command), "no client 'nope'")


def test_client_remove_deletes_the_client_and_revokes_its_tokens(cli: Cli) -> None:
    _register(cli, "web", scopes_list=["polls:vote"])
    issued = cli.run(lambda store: issue_token(store, "web", user="alice"))
    assert cli.json("client", "remove", "web") == {"client_id": "web", "removed": True}
    assert _client(cli, "web") is None
    assert cli.run(lambda store: store.resolve(issued.access_token)) is None


def test_rotate_secret_prints_a_new_secret_and_the_old_one_stops_working(cli: Cli) -> None:
    first = cli.json("client", "add", "Web", "--confidential", "--client-id", "web",
                     "--redirect-uri", CB)
    out = cli.json("client", "rotate-secret", "web")
    assert out["client_id"] == "web" and out["client_secret"] != first["client_secret"]
    client = _client(cli, "web")
    assert client is not None
    assert verify_client_secret(client.secret_hash, out["client_secret"])
    assert not verify_client_secret(client.secret_hash, first["client_secret"])
    text = cli.ok("client", "rotate-secret", "web")
    assert lines_of(text)[0] == "New secret for client 'web'."


def test_rotate_secret_of_a_public_client_is_refused(cli: Cli) -> None:
    _register(cli, "spa")
    assert_error(cli.invoke("client", "rotate-secret", "spa"), "public and has no secret")


def test_add_redirect_appends_a_checked_uri_once(cli: Cli) -> None:
    _register(cli, "web")
    out = cli.json("client", "add-redirect", "web", "https://other.example/cb")
    assert out["redirect_uris"] == [CB, "https://other.example/cb"]
    cli.json("client", "add-redirect", "web", "https://other.example/cb")
    client = _client(cli, "web")
    assert client is not None and client.redirect_uris == (CB, "https://other.example/cb")
    assert lines_of(cli.ok("client", "add-redirect", "web", "http://127.0.0.1/cb")) == [
        "Redirect URIs of 'web':", f"  {CB}", "  https://other.example/cb",
        "  http://127.0.0.1/cb",
    ]


def test_add_redirect_refuses_a_uri_the_server_would_refuse(cli: Cli) -> None:
    _register(cli, "web")
    assert_error(cli.invoke("client", "add-redirect", "web", "http://a.example/cb"),
                 "--allow-http")
    assert_error(cli.invoke("client", "add-redirect", "web", "https://a.example/#x"), "fragment")
    cli.json("client", "add-redirect", "web", "http://a.example/cb", "--allow-http")
    client = _client(cli, "web")
    assert client is not None and client.redirect_uris == (CB, "http://a.example/cb")


def test_remove_redirect_removes_exactly_that_uri(cli: Cli) -> None:
    _register(cli, "web")
    cli.json("client", "add-redirect", "web", "https://other.example/cb")
    assert_error(cli.invoke("client", "remove-redirect", "web", "https://other.example/cb/"),
                 "has no redirect URI 'https://other.example/cb/'")
    out = cli.json("client", "remove-redirect", "web", CB)
    assert out["redirect_uris"] == ["https://other.example/cb"]
    assert lines_of(cli.ok("client", "remove-redirect", "web", "https://other.example/cb")) == [
        "Redirect URIs of 'web':", "  (none)",
    ]
    client = _client(cli, "web")
    assert client is not None and client.redirect_uris == ()
