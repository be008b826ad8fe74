"""``client add --post-logout-redirect-uri --id-token-alg``: an OpenID Connect client from the
command line (RP-Initiated Logout 1.0 §3.1; Dynamic Client Registration 1.0 §2), under the
toolbox's rules. Both store backends."""

from __future__ import annotations

from tests.cli.harness import Cli, assert_error

CB = "https://rp.example/cb"
BYE = "https://rp.example/bye"


def test_client_add_registers_post_logout_uris_and_the_id_token_algorithm(cli: Cli) -> None:
    out = cli.json("client", "add", "RP", "--client-id", "rp", "--redirect-uri", CB,
                   "--post-logout-redirect-uri", BYE, "--post-logout-redirect-uri", BYE + "2",
                   "--id-token-alg", "ES256")
    assert out["post_logout_redirect_uris"] == [BYE, BYE + "2"]
    assert out["id_token_signed_response_alg"] == "ES256"
    client = cli.run(lambda store: store.get_client("rp"))
    assert client is not None
    assert client.post_logout_redirect_uris == (BYE, BYE + "2")
    assert client.id_token_signed_response_alg == "ES256"
    plain = cli.json("client", "add", "Plain", "--redirect-uri", CB)
    assert "post_logout_redirect_uris" not in plain
    assert "id_token_signed_response_alg" not in plain


def test_client_add_refuses_a_post_logout_uri_no_redirect_uri_could_be(cli: Cli) -> None:
    for uri in ("http://rp.example/bye", BYE + "#x", "/bye"):
        result = cli.invoke("client", "add", "RP", "--client-id", "rp", "--redirect-uri", CB,
                            "--post-logout-redirect-uri", uri)
        assert_error(result, "")
    assert cli.run(lambda store: store.get_client("rp")) is None


def test_client_add_refuses_an_id_token_algorithm_it_does_not_offer(cli: Cli) -> None:
    result = cli.invoke("client", "add", "RP", "--redirect-uri", CB, "--id-token-alg", "HS256")
    assert_error(result, "Invalid value for '--id-token-alg'", status=2)
