"""The event a script writes with its change, as the store stamps and sends it.

Its fields travel as names and values in turn (``XADD``'s own shape); only the store
knows the grant and the fingerprint of what it issues, and it names them once, in place
of any the audit layer gave, whatever text a value holds."""

from __future__ import annotations

import re

from oauth_middleware import TokenStore
from oauth_middleware.audit import AuditTrail
from oauth_middleware.audit.events import MAX_VALUE, clean, has_control


def _trail() -> AuditTrail:
    return AuditTrail(TokenStore.from_url(None))  # nothing is written: no backend to vary


def test_the_store_names_the_grant_and_fingerprint_once_in_place_of_any_given() -> None:
    trail = _trail()
    given = trail.stream_event("token.issued", actor="host", user="grant", client="fingerprint",
                               grant="G-old", fingerprint="f-old")
    stamped = given.stamped("G-new", "f-new")
    assert stamped.fields[::2] == ("time", "actor", "client", "user", "grant", "fingerprint")
    assert stamped.written(1) == {"type": "token.issued", "time": given.fields[1],
                                  "actor": "host", "client": "fingerprint", "user": "grant",
                                  "grant": "G-new", "fingerprint": "f-new"}
    fresh = trail.stream_event("token.issued", actor="host").stamped("G", "f")
    assert fresh.fields[2:] == ("actor", "host", "grant", "G", "fingerprint", "f")


def test_a_replays_entry_names_the_value_presented_as_its_fingerprint() -> None:
    trail = _trail()
    event = trail.stream_event("code.redeemed", lost="code.replayed", actor="client:web",
                               client="web").stamped("G", "f-issued", "f-presented")
    replay = event.written(2)
    assert replay is not None
    assert (replay["type"], replay["fingerprint"], replay["grant"]) == (
        "code.replayed", "f-presented", "G")
    assert event.written(0) is None
    args = event.args()
    assert args[-5:] == [str(len(event.fields)), str(trail.retention), "code.redeemed",
                         "code.replayed", "f-presented"]
    assert args[:-5] == list(event.fields)


def test_control_characters_are_found_as_the_cleaning_finds_them() -> None:
    """The quick check of an event's fields finds exactly what ``clean`` replaces: C0
    controls and DEL, in any text; not a C1 control, a separator or a lone surrogate,
    which ``clean`` leaves (they are not a terminal's escapes on their own)."""
    samples = ["", "plain", "tab\there", "nul\x00", "del\x7f", "esc\x1b]0;x\x07", "ünïcödé ☃",
               "c1\x85", "sep\u2028", "nbsp\xa0", "lone\ud800", "emoji 😀\n", "\x1f" * 600]
    for text in samples:
        assert has_control(text) == bool(re.search(r"[\x00-\x1f\x7f]", text)), repr(text)
        assert (clean(text) == text) == (not has_control(text) and len(text) <= MAX_VALUE)
