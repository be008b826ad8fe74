"""A script's form for one shape of event (store ``_events.Evented``): the names are in
its source and only the values travel, so it must write exactly the entry the generic
form writes, for every outcome, and stay bounded however many shapes callers build."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_middleware.audit import AuditTrail
from oauth_middleware.audit.trail import CascadeEvents
from oauth_middleware.store import Cause, StreamEvent, TokenStore
from oauth_middleware.store._cascade import EventedCascade, Taken
from oauth_middleware.store._events import MAX_NAMES, MAX_SHAPES, Evented
from oauth_middleware.store._gateway import Script, evalsha
from oauth_middleware.store._gateway.monitoring import check
from oauth_middleware.store._gateway.script import SCRIPTS
from tests.store_helpers import gateway, redis_of, texts

#: The change is the script's reply: its first argument, read as the outcome.
_CHANGE = Script("return tonumber(ARGV[1])")

_FIELDS = ("time", "1700000000.000", "actor", "client:web", "client", "web", "user", "alice",
           "grant_type", "authorization_code", "scopes", "a b", "grant", "G",
           "fingerprint", "f-issued")


def _event(fields: tuple[str, ...] = _FIELDS, lost: str = "code.replayed",
           presented: str = "f-presented") -> StreamEvent:
    return StreamEvent("code.redeemed", fields, 1000, lost, presented)


async def _written(store: TokenStore, script: Script, outcome: int, more: list[str]) -> Any:
    """Run ``script`` with the outcome and its event's arguments; the entry it appended."""
    stream = store.keys.events
    client = redis_of(store)
    await client.delete(stream)
    reply = await gateway(store).one(evalsha(script, [stream], [outcome, *more]), script)
    assert reply == outcome  # the change's own reply comes back untouched
    entries: Any = await client.xrange(stream)
    return [dict(zip(texts(list(fields)), texts(list(fields.values())), strict=True))
            for _, fields in entries]


@pytest.mark.not_on_cluster
@pytest.mark.parametrize("outcome", [0, 1, 2])
@pytest.mark.parametrize(("lost", "presented"), [("code.replayed", "f-presented"),
                                                  ("code.replayed", ""), ("", "")])
async def test_the_shaped_form_writes_what_the_generic_form_writes(
        store: TokenStore, outcome: int, lost: str, presented: str) -> None:
    family = Evented(_CHANGE, "r")
    event = _event(lost=lost, presented=presented)
    shaped, values = family.call(event)
    assert shaped is not family.generic
    assert values == [*_FIELDS[1::2], "1000", "code.redeemed", lost, presented]
    expected = event.written(outcome)
    assert await _written(store, shaped, outcome, values) == (
        [] if expected is None else [expected])
    assert await _written(store, family.generic, outcome, event.args()) == (
        [] if expected is None else [expected])


@pytest.mark.not_on_cluster
async def test_a_form_is_made_once_per_shape_and_survives_a_flushed_script_cache(
        store: TokenStore) -> None:
    family = Evented(_CHANGE, "r")
    first, _ = family.call(_event())
    again, _ = family.call(_event(fields=("time", "1.000", *_FIELDS[2:])))
    other, _ = family.call(_event(fields=_FIELDS[:-4]))
    assert first is again and other is not first
    await redis_of(store).script_flush()  # a restarted Redis has no script
    assert await _written(store, first, 1, family.call(_event())[1])  # loaded on NOSCRIPT
    await redis_of(store).script_flush()
    assert await check(gateway(store), "scripts")  # readiness loads every form made
    assert all(await redis_of(store).script_exists(first.sha, other.sha))


@pytest.mark.rule("abuse.bounded.memory")
def test_shapes_past_the_bound_and_names_outside_plain_lower_case_go_generic() -> None:
    """However many shapes callers build (whether a field is there follows the request:
    its id, a user or none), a script keeps at most MAX_SHAPES forms, in the process and
    in Redis's script cache; and nothing but plain names ever reaches a form's source."""
    family = Evented(_CHANGE, "r")
    before = len(SCRIPTS)
    for n in range(MAX_SHAPES + 10):  # as many shapes as a caller may build
        script, args = family.call(_event(fields=("time", "1.000", *(f"by{'_' * n}", "x"))))
        if n < MAX_SHAPES:
            assert script is not family.generic
        else:
            assert script is family.generic and args == _event(
                fields=("time", "1.000", f"by{'_' * n}", "x")).args()
    assert len(SCRIPTS) - before == MAX_SHAPES
    for name in ("Type", "to'x", "a b", "", "n" * 33, "naïve"):
        fresh = Evented(_CHANGE, "r")
        assert fresh.call(_event(fields=("time", "1.000", name, "x")))[0] is fresh.generic
    with pytest.raises(ValueError, match="control character"):  # the generic form's check
        Evented(_CHANGE, "r").call(_event(fields=("time", "1.000", "x\n')", "x")))


def test_a_value_with_a_control_character_is_refused_in_either_form() -> None:
    family = Evented(_CHANGE, "r")
    for value in ("a\nb", "\x1b[2J", "del\x7f"):
        event = _event(fields=("time", "1.000", "user", value))
        with pytest.raises(ValueError, match="control character"):
            family.call(event)
        with pytest.raises(ValueError, match="control character"):
            event.args()


def test_an_issue_sends_no_cascade_template_unless_a_constant_cannot_be_quoted() -> None:
    """The issuing script's form quotes the cascade's type and constant fields in its
    source: only text a Lua literal holds as it is goes there; anything else (a quote, a
    backslash, a newline) takes the generic form, with the template as arguments."""
    store = TokenStore.from_url(None)
    trail = AuditTrail(store)
    cascades = store._grants._sweeper.cascades
    family = EventedCascade(_CHANGE, "{}", "r")
    event = trail.stream_event("token.issued", actor="client:web", client="web")
    shaped, keys, args = family.call_with(event, Taken(trail.cascaded, "displaced", event),
                                          cascades)
    assert shaped is not family.generic
    assert (keys, args) == ([store.keys.events], event.values())

    class Odd(CascadeEvents):
        def constant(self, cause: Cause) -> tuple[str, tuple[str, ...]]:
            return "token.revoked", ("reason", "it's")

    odd = Taken(Odd(trail), "displaced", event)
    generic, keys, args = family.call_with(event, odd, cascades)
    stream, parts = cascades.parts(odd)
    assert generic is family.generic
    assert (keys, args) == ([*stream, store.keys.events], [*parts, *event.args()])


@pytest.mark.not_on_cluster
@pytest.mark.parametrize("count", [MAX_NAMES, MAX_NAMES + 1, 130])
async def test_an_event_of_many_names_is_written_whether_or_not_a_form_holds_them(
        store: TokenStore, count: int) -> None:
    """Lua compiles no call past a couple of hundred arguments: an event with more names
    than a form may hold takes the generic form (names as arguments, handed on whole)."""
    names = [f"n{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(count)]
    fields = tuple(item for name in names for item in (name, "v"))
    family = Evented(_CHANGE, "r")
    event = StreamEvent("code.redeemed", fields, 1000, "code.replayed", "p")
    script, more = family.call(event)
    assert (script is family.generic) == (count > MAX_NAMES)
    assert await _written(store, script, 1, more) == [event.written(1)]


def test_a_form_adds_one_script_and_the_issuing_forms_no_script_of_their_own() -> None:
    """Every script made is one a call runs by SHA (readiness loads each one into Redis):
    the cascade's body inside an issuing form is source, not a script of its own."""
    store = TokenStore.from_url(None)
    trail = AuditTrail(store)
    cascades = store._grants._sweeper.cascades
    before = len(SCRIPTS)
    family = EventedCascade(_CHANGE, "{}", "r")
    assert SCRIPTS[before:] == [family.generic]
    used = {family.generic}
    for n in range(MAX_SHAPES + 4):
        event = StreamEvent("token.issued", ("time", "1.000", f"by{'_' * n}", "x"), 10)
        used.add(family.call_with(event, Taken(trail.cascaded, "displaced", event),
                                  cascades)[0])
    assert len(used) == MAX_SHAPES + 1 and set(SCRIPTS[before:]) == used


@pytest.mark.real_redis_only
async def test_readiness_answers_while_a_request_makes_a_form(
        store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forms are made while the process serves: one made while the readiness check waits
    for ``SCRIPT EXISTS`` is left to the next check, never a failed probe."""
    client: Any = redis_of(store)
    exists = client.script_exists
    family = Evented(_CHANGE, "r")

    async def meanwhile(*shas: str) -> Any:
        reply = await exists(*shas)
        made, _ = family.call(_event(fields=("time", "1.000", "made_meanwhile", "x")))
        assert made is SCRIPTS[-1]
        return reply

    monkeypatch.setattr(client, "script_exists", meanwhile)
    assert await check(gateway(store), "scripts")
    monkeypatch.setattr(client, "script_exists", exists)
    assert await check(gateway(store), "scripts")
    assert all(await client.script_exists(*(s.sha for s in SCRIPTS)))
