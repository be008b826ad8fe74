"""Redirect URI registration rules, exact matching and parameter encoding (RFC 6749 §3.1.2)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from oauth_middleware.redirects import (
    InvalidRedirectURI,
    add_params,
    find_registered,
    matches,
    validate_redirect_uri,
)


@pytest.mark.parametrize("uri", [
    "https://app.example/cb",
    "https://app.example/cb?tenant=1",
    "http://127.0.0.1:8000/client/callback",
    "http://[::1]/cb",
    "http://localhost:3000/cb",
    "com.example.app:/oauth2redirect",
    "https://app.example/cb?a=!'()",  # sub-delims (RFC 3986 §2.2), the lowest printable first
    "https://a/" + "x" * 1990,  # exactly at the length cap
])
@pytest.mark.rule("auth.redirect.registration-rules")
def test_registrable_redirect_uris(uri: str) -> None:
    assert validate_redirect_uri(uri) == uri


@pytest.mark.parametrize(("uri", "reason"), [
    ("http://myapp.com/", "plain http"),
    ("https://app.example/cb#frag", "fragment"),
    ("/relative/cb", "absolute"),
    ("https://*.example/cb", "wildcards"),
    ("https://app.example/c b", "ASCII"),
    ("https://app.example/\x00", "ASCII"),
    ("https://app.example/\x7f", "ASCII"),
    ("javascript:alert(1)", "private-use"),
    ("https:///nohost", "host"),
    ("https://app.example:99999/cb", "absolute"),
    ("", "2000"),
    ("https://a/" + "x" * 2000, "2000"),
])
@pytest.mark.rule("auth.redirect.registration-rules")
def test_unsafe_redirect_uris_are_refused_with_a_reason(uri: str, reason: str) -> None:
    with pytest.raises(InvalidRedirectURI, match=reason):
        validate_redirect_uri(uri)


@pytest.mark.rule("auth.redirect.registration-rules")
def test_plain_http_can_be_allowed_for_development() -> None:
    assert validate_redirect_uri("http://myapp.com/", allow_http=True) == "http://myapp.com/"


@pytest.mark.parametrize(("registered", "requested", "expected"), [
    ("https://app.example/cb", "https://app.example/cb", True),
    ("https://app.example/cb", "https://app.example/cb/", False),
    ("https://app.example/cb", "https://APP.example/cb", False),
    ("https://app.example/cb", "https://app.example/cb?x=1", False),
    ("https://app.example/cb", "https://app.example/cb/../cb", False),
    ("https://app.example:443/cb", "https://app.example/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", True),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb", True),
    ("http://[::1]:80/cb", "http://[::1]:5000/cb", True),
    ("http://[::1]/cb", "http://[::1]:5000/cb", True),
    ("http://[::1]:80/cb", "http://[::2]:80/cb", False),  # another address, same port
    ("http://127.0.0.1/cb", "http://127.0.0.1:51234/other", False),
    ("http://localhost/cb", "http://localhost:5000/cb", False),
    ("https://127.0.0.1/cb", "https://127.0.0.1:5000/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:bad/cb", False),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1/cb", True),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1:8000/cb#", False),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb?#", False),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb?", False),
    ("http://127.0.0.1:8000/cb", " http://127.0.0.1:8000/cb", False),
    ("http://127.0.0.1:8000/cb", "HTTP://127.0.0.1:8000/cb", False),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb\t", False),
    ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/c\nb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:\uff15\uff10/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000@evil.example/cb", False),
    ("http://[::1]/cb", "http://[::1]:5000:6000/cb", False),
    ("http://[::1]/cb", "http://[::0001]:5000/cb", False),
    ("HTTP://127.0.0.1/cb", "HTTP://127.0.0.1:5000/cb", True),
])
@pytest.mark.rule("auth.redirect.exact-match")
def test_matching_is_exact_except_loopback_ip_port(
    registered: str, requested: str, expected: bool
) -> None:
    assert matches(registered, requested) is expected


@pytest.mark.rule("auth.redirect.exact-match")
def test_find_registered_keeps_the_requested_loopback_port() -> None:
    registered = ["https://app.example/cb", "http://127.0.0.1/cb"]
    assert find_registered(registered, "http://127.0.0.1:4444/cb") == "http://127.0.0.1:4444/cb"
    assert find_registered(registered, "https://evil.example/cb") is None


@pytest.mark.rule("auth.redirect.registered-query-kept", "auth.state.round-trip")
def test_parameters_are_encoded_and_a_registered_query_is_kept() -> None:
    state = "a b&c=d#e%f/ü"
    url = add_params("https://app.example/cb?tenant=1", {"code": "x.y", "state": state})
    parts = urlsplit(url)
    assert parts.path == "/cb" and parts.fragment == ""
    assert parse_qsl(parts.query) == [("tenant", "1"), ("code", "x.y"), ("state", state)]
    assert "#" not in url and " " not in url


@pytest.mark.rule("auth.implicit")
def test_implicit_parameters_go_in_the_fragment() -> None:
    url = add_params("https://app.example/cb", {"access_token": "t", "state": "s s"}, fragment=True)
    parts = urlsplit(url)
    assert parts.query == ""
    assert parse_qsl(parts.fragment) == [("access_token", "t"), ("state", "s s")]


@pytest.mark.rule("auth.redirect.registered-query-kept")
def test_trailing_question_mark_gets_no_extra_separator() -> None:
    assert add_params("https://a.example/cb?", {"code": "c"}) == "https://a.example/cb?code=c"
    assert add_params("https://a.example/cb?t=1&", {"code": "c"}) == (
        "https://a.example/cb?t=1&code=c")


@pytest.mark.parametrize(("uri", "message"), [
    ("", "a redirect URI must be 1 to 2000 characters long"),
    ("https://app.example/c b", "a redirect URI must be ASCII, without spaces or controls"),
    ("https://app.example/cb#frag",
     "a redirect URI must not contain a fragment (RFC 6749 §3.1.2)"),
    ("https://*.example/cb", "wildcards are not allowed: register each redirect URI exactly"),
    ("/relative/cb", "a redirect URI must be absolute, e.g. https://app.example/cb"),
    ("https:///nohost", "a redirect URI must name a host"),
    ("http://myapp.com/", "plain http is only allowed for loopback addresses: use https "
                          "(or allow_http=True for local development)"),
    ("javascript:alert(1)", "use an https URI, a loopback http URI, or a private-use scheme "
                            "such as com.example.app:/cb"),
    ("https://app.example/cb?x={y}|z", "a redirect URI must not contain { | } raw: "
                                       "percent-encode it (RFC 3986 §2)"),
    ("https://app.example/cb?off=100%", "a % in a redirect URI must start an escape such as "
                                        "%20 (RFC 3986 §2.1)"),
])
@pytest.mark.rule("auth.redirect.registration-rules")
def test_each_refusal_says_what_to_change_in_full(uri: str, message: str) -> None:
    """The message is what a developer registering a client reads: all of it, exactly."""
    with pytest.raises(InvalidRedirectURI) as refused:
        validate_redirect_uri(uri)
    assert str(refused.value) == message


@pytest.mark.rule("auth.redirect.exact-match")
@pytest.mark.parametrize(("registered", "requested"), [
    ("http://127.0.0.1", "http://127.0.0.1:5000"),
    ("http://127.0.0.1/cb?next=http://a.example/", "http://127.0.0.1:5000/cb?next=http://a.example/"),
    ("http://127.0.0.1:80/cb", "http://127.0.0.1:65535/cb"),
])
def test_a_loopback_uri_matches_with_any_port_whatever_follows_its_authority(
    registered: str, requested: str
) -> None:
    assert matches(registered, requested) and matches(requested, registered)


@pytest.mark.rule("auth.redirect.exact-match")
@pytest.mark.parametrize("port", [":65536", ":065535", ":\u066112", ":a1", ":1a", ":"])
def test_a_loopback_port_that_is_not_one_matches_nothing(port: str) -> None:
    """Only 1 to 5 ASCII digits up to 65535 are a port; anything else is another URI."""
    assert not matches("http://127.0.0.1/cb", f"http://127.0.0.1{port}/cb")


@pytest.mark.rule("auth.redirect.exact-match")
def test_text_after_a_loopback_port_is_not_taken_for_the_path() -> None:
    """``127.0.0.1:80X`` has no port: it never matches a URI registered as ``127.0.0.1X``."""
    assert not matches("http://127.0.0.1X/cb", "http://127.0.0.1:80X/cb")
