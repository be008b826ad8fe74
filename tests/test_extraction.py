"""Bearer token extraction from one source at a time (RFC 6750 §2)."""

from __future__ import annotations

from urllib.parse import quote, quote_from_bytes

import pytest

from oauth_middleware import extraction
from oauth_middleware.errors import InvalidRequest

TOKEN = "abcDEF012-_.~+/=="


@pytest.mark.rule("resource.bearer-case-insensitive")
def test_header_token_with_any_scheme_case() -> None:
    for scheme in (b"Bearer", b"bearer", b"BEARER"):
        assert extraction.from_header([(b"authorization", scheme + b" " + TOKEN.encode())]) == TOKEN


@pytest.mark.parametrize("token", ["X", "XaX", "a==", "~+/-._", "a" * extraction.MAX_TOKEN_LENGTH])
@pytest.mark.rule("resource.malformed-400")
def test_every_b64token_shape_up_to_the_cap_is_a_token_whatever_its_first_or_last_character(
    token: str,
) -> None:
    """RFC 6750 §2.1's b64token, whole: nothing is trimmed from either end of the token."""
    assert extraction.from_header([(b"authorization", b"Bearer " + token.encode())]) == token
    assert extraction.from_urlencoded(b"access_token=" + quote(token).encode()) == token


def test_other_schemes_and_no_header_mean_no_bearer_token() -> None:
    assert extraction.from_header([]) is None
    assert extraction.from_header([(b"authorization", b"Basic Zm9vOmJhcg==")]) is None
    assert extraction.from_header([(b"x-authorization", b"Bearer a")]) is None


@pytest.mark.parametrize("value", [b"Bearer", b"Bearer ", b"Bearer a,b", b"Bearer \xff",
                                   b"Bearer a=b", b"Bearer " + b"a" * 4097,
                                   b"Bearer \ta", b"Bearer \x0ba"])
@pytest.mark.rule("resource.malformed-400")
def test_malformed_header_tokens_are_invalid_request(value: bytes) -> None:
    with pytest.raises(InvalidRequest, match="malformed"):
        extraction.from_header([(b"authorization", value)])


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.rule("resource.malformed-400")
def test_any_byte_outside_the_b64token_alphabet_anywhere_in_a_jwt_sized_token_is_malformed(
    where: str,
) -> None:
    """Every one of the 256 byte values: the alphabet and ``=`` (trailing only) pass, all
    others are refused wherever they stand in an 800-character token (percent-encoded in a
    query, so that no header trimming hides a space or tab at either end)."""
    alphabet = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/")
    for byte in range(256):
        odd = bytes([byte])
        token = {"start": odd + b"a" * 799, "middle": b"a" * 400 + odd + b"a" * 399,
                 "end": b"a" * 799 + odd}[where]
        query = b"access_token=" + quote_from_bytes(token, safe="").encode()
        if byte in alphabet or (byte == ord("=") and where == "end"):
            assert extraction.from_urlencoded(query) == token.decode()
        else:
            with pytest.raises(InvalidRequest, match="malformed"):
                extraction.from_urlencoded(query)


def test_padding_alone_is_no_token() -> None:
    with pytest.raises(InvalidRequest, match="malformed"):
        extraction.from_header([(b"authorization", b"Bearer ===")])


@pytest.mark.rule("resource.single-method")
def test_two_authorization_headers_are_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="More than one"):
        extraction.from_header([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer a")])


@pytest.mark.rule("resource.query", "resource.form-body")
def test_urlencoded_token_is_found_and_decoded() -> None:
    assert extraction.from_urlencoded(b"x=1&access_token=abc%2Bd&y=2") == "abc+d"
    assert extraction.from_urlencoded(b"access%5Ftoken=abc") == "abc"
    assert extraction.from_urlencoded(b"x=1") is None
    assert extraction.from_urlencoded(b"access_token=") is None
    assert extraction.from_urlencoded(b"my_access_token=abc") is None
    assert extraction.from_urlencoded(b"access_token=abc=") == "abc="


@pytest.mark.parametrize("data", [b"access_token=a&access_token=b",
                                  b"access_token=a&access_token="])
@pytest.mark.rule("resource.single-method")
def test_repeated_access_token_is_invalid_request(data: bytes) -> None:
    with pytest.raises(InvalidRequest, match="repeated"):
        extraction.from_urlencoded(data)


@pytest.mark.parametrize("data", [b"access_token=a%zz", b"access_token=a%00b",
                                  b"access_token=%ff", b"access_token=a+b"])
@pytest.mark.rule("resource.malformed-400")
def test_malformed_urlencoded_tokens_are_invalid_request(data: bytes) -> None:
    with pytest.raises(InvalidRequest, match="malformed"):
        extraction.from_urlencoded(data)


@pytest.mark.rule("resource.form-body")
def test_form_content_type_detection() -> None:
    form = b"application/x-www-form-urlencoded"
    assert extraction.is_form([(b"content-type", form)])
    mixed = b"Application/X-WWW-Form-Urlencoded; charset=utf-8"
    assert extraction.is_form([(b"content-type", mixed)])
    several = b"application/x-www-form-urlencoded; charset=utf-8; x=y"
    assert extraction.is_form([(b"content-type", several)])
    assert not extraction.is_form([(b"content-type", b"application/json")])
    assert not extraction.is_form([])


@pytest.mark.rule("resource.single-method")
def test_only_one_method_per_request() -> None:
    assert extraction.single(None, None, None) is None
    assert extraction.single(None, "t", None) == extraction.Credential("t", "body")
    assert extraction.single("t", None, None) == extraction.Credential("t", "header")
    assert extraction.single(None, None, "t") == extraction.Credential("t", "query")
    with pytest.raises(InvalidRequest, match="More than one method"):
        extraction.single("t", None, "t")


@pytest.mark.rule("resource.no-token-in-logs")
def test_redaction_replaces_every_access_token_value() -> None:
    assert extraction.redact(b"a=1&access_token=secret&access%5Ftoken=x") == (
        b"a=1&access_token=redacted&access%5Ftoken=redacted")
    assert extraction.redact(b"a=1") == b"a=1"
    assert extraction.redact(b"access%5Ftoken=secret") == b"access%5Ftoken=redacted"
    assert extraction.redact(b"access_token=se=cret") == b"access_token=redacted"
    assert extraction.redact(b"access_token") == b"access_token"


@pytest.mark.parametrize(("data", "named"), [
    (b"access_token", True), (b"access_token=", True), (b"x=1&access_token=a", True),
    (b"access%5Ftoken=a", True), (b"x=%41&access_token=redacted", True),
    (b"", False), (b"x=1", False), (b"x=access_token", False), (b"x=%41", False),
    (b"my_access_token=a", False), (b"access_token+=a", False), (b"x=1&access_token2", False),
])
def test_an_access_token_parameter_is_noticed_even_empty_or_without_a_value(
    data: bytes, named: bool
) -> None:
    """What ``auth/`` refuses as a bearer credential: the parameter's name, whatever its value."""
    assert extraction.has_access_token(data) is named
