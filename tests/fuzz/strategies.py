"""Hypothesis strategies for hostile HTTP input: parameters, encodings, headers, bodies.

Parameters are drawn from the names an endpoint reads plus random ones, with
values that are valid, almost valid or nasty (empty, NUL, non-UTF-8, malformed
escapes, control characters, markup, oversized), repeated at will, and encoded
in one of several ways: properly percent-encoded, raw UTF-8, raw random bytes
or with broken escapes. Nothing here knows what the right answer is.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from hypothesis import strategies as st

NASTY: tuple[str, ...] = (
    "", " ", "+", "&", "=", "%", "%z", "%zz", "%00", "%ff", "%C3%28", "\x00", "a\x00b",
    "\r\n", "é", "\u202e", "\ud800", "<script>alert(1)</script>", '"', "\\", "'; --",
    "a" * 300, "a" * 5000,
)
#: Rarely drawn: bigger than every parameter, query and body cap.
HUGE: tuple[str, ...] = ("b" * 20_000, "c" * 70_000)


def values(interesting: Sequence[str] = ()) -> st.SearchStrategy[str]:
    known = st.sampled_from(tuple(interesting) or ("x",))
    return st.one_of(known, known, known, st.sampled_from(NASTY), st.text(max_size=40),
                     st.sampled_from(HUGE))


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _quoted(text: str) -> bytes:
    return quote(_raw(text), safe="").encode("ascii")


def component(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """One name or value as it travels: encoded properly, raw, broken, or random bytes."""
    return st.one_of(
        text.map(_quoted),
        text.map(_quoted),
        text.map(_raw),
        text.map(lambda s: _raw(s) + b"%" + _raw(s[:1])),
        st.binary(max_size=30),
    )


def pairs(names: Sequence[str], vals: Mapping[str, Sequence[str]] | None = None,
          max_size: int = 10) -> st.SearchStrategy[bytes]:
    """An urlencoded query or body: known or random names, repeats allowed."""
    vals = vals or {}
    name = st.one_of(st.sampled_from(tuple(names)), st.text(max_size=12))

    def pair(chosen: str) -> st.SearchStrategy[bytes]:
        value = component(values(vals.get(chosen, ())))
        return st.tuples(component(st.just(chosen)), value).map(
            lambda nv: nv[0] + b"=" + nv[1])

    joined = st.lists(name.flatmap(pair), max_size=max_size).map(b"&".join)
    return st.one_of(joined, joined, st.binary(max_size=200))


def authorization(valid: Sequence[bytes] = ()) -> st.SearchStrategy[bytes]:
    """An Authorization header value: valid, almost valid, malformed or enormous."""
    b64 = st.binary(max_size=60).map(base64.b64encode)
    return st.one_of(
        st.sampled_from(tuple(valid) or (b"Bearer x",)),
        b64.map(lambda v: b"Basic " + v),
        st.text(max_size=60).map(lambda t: b"Basic " + base64.b64encode(_raw(t))),
        st.binary(max_size=80).map(lambda v: b"Bearer " + v),
        st.sampled_from((b"bearer", b"Bearer ", b"Basic", b"Basic =", b"Basic !!!!",
                         b"Bearer a b", b"Bearer " + b"a" * 70_000, b"Basic " + b"A" * 70_000,
                         b"\xff\xfe", b"Bearer \x00", b"Digest x")),
        st.binary(max_size=80),
    )


def headers(valid_auth: Sequence[bytes] = (),
            extra: Mapping[bytes, Sequence[bytes]] | None = None
            ) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """Headers: zero, one or two Authorization headers, a content type, maybe more, and
    now and then a header every boundary reads (length, origin, fetch metadata, cookie,
    host) with a value no well-behaved client sends."""
    content_types = (b"application/x-www-form-urlencoded",
                     b"application/x-www-form-urlencoded; charset=utf-8",
                     b"APPLICATION/X-WWW-FORM-URLENCODED", b"application/json",
                     b"multipart/form-data; boundary=x", b"text/plain", b"", b"\xff")
    auth = st.lists(authorization(valid_auth), max_size=2).map(
        lambda vs: [(b"authorization", v) for v in vs])
    ctype = st.one_of(st.none(), st.sampled_from(content_types), st.binary(max_size=20)).map(
        lambda v: [] if v is None else [(b"content-type", v)])
    more: st.SearchStrategy[list[tuple[bytes, bytes]]] = st.just([])
    if extra:
        more = st.lists(st.sampled_from([(k, v) for k, vs in extra.items() for v in vs]),
                        max_size=3)
    noise = st.lists(st.tuples(st.sampled_from(NOISY_HEADERS),
                               st.one_of(st.sampled_from(ODD_VALUES), st.binary(max_size=12))),
                     max_size=2)
    return st.tuples(auth, ctype, more, noise).map(lambda t: t[0] + t[1] + t[2] + t[3])


#: Headers the boundaries read besides Authorization and Content-Type.
NOISY_HEADERS = (b"content-length", b"origin", b"sec-fetch-site", b"cookie", b"host",
                 b"transfer-encoding", b"x-forwarded-proto", b"accept")
#: Values that look like something: Unicode digits, an int() too long, "null", schemes.
ODD_VALUES = (b"\xb2", "\u0663".encode(), b"9" * 5000, b"-1", b"0", b"null", b"chunked",
              b"https://evil.example", b"same-origin", b"cross-site", b"a=b; a=c", b"")


def mutated(base: dict[str, str], names: Sequence[str],
            vals: Mapping[str, Sequence[str]] | None = None) -> st.SearchStrategy[bytes]:
    """A valid request with a few things wrong: parameters dropped, replaced, repeated,
    added, and now and then one component encoded badly."""
    vals = vals or {}
    keys = sorted(base)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        items = [(k, base[k]) for k in keys if draw(st.integers(0, 9))]
        for _ in range(draw(st.integers(0, 3))):
            name = draw(st.one_of(st.sampled_from(tuple(names)), st.text(max_size=8)))
            value = draw(values(vals.get(name, ())))
            replace: bool = draw(st.booleans())
            if items and replace:
                items[draw(st.integers(0, len(items) - 1))] = (name, value)
            else:
                items.append((name, value))
        encoded = [_quoted(k) + b"=" + _quoted(v) for k, v in items]
        if encoded and not draw(st.integers(0, 4)):
            encoded[draw(st.integers(0, len(encoded) - 1))] = draw(component(st.text()))
        return b"&".join(encoded)

    return build()
