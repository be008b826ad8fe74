"""The compliance matrix is complete, consistent and current (docs/compliance.md)."""

from __future__ import annotations

import re

import pytest

from tests.compliance.matrix import DOC, by_rule, collect, render, unknown
from tests.compliance.rules import BY_ID, RULES, SECTIONS

_ID = re.compile(r"[a-z0-9]+(\.[a-z0-9-]+)+")


@pytest.fixture(scope="module")
def found() -> dict[str, list[str]]:
    return collect()


def test_every_rule_of_the_registry_has_a_test(found: dict[str, list[str]]) -> None:
    tests = by_rule(found)
    assert [rule.id for rule in RULES if not tests.get(rule.id)] == []


def test_every_rule_marker_names_a_known_rule(found: dict[str, list[str]]) -> None:
    assert unknown(found) == {}


def test_docs_compliance_md_is_what_the_generator_writes(found: dict[str, list[str]]) -> None:
    assert DOC.read_text() == render(found), "run scripts/compliance and commit the result"


def test_rule_ids_are_unique_well_formed_and_in_a_known_section() -> None:
    assert len(BY_ID) == len(RULES)
    for rule in RULES:
        assert _ID.fullmatch(rule.id), rule.id
        assert rule.section in SECTIONS
        assert rule.rfc and rule.text.endswith(".")


def test_every_rule_cites_an_rfc_section() -> None:
    """A reader looks each rule up by its reference: a dash is a gap, not a reference."""
    assert [rule.id for rule in RULES if not re.search(r"RFC \d+ (§|Appendix )", rule.rfc)] == []
