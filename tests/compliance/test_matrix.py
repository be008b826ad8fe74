"""The compliance matrix is complete, consistent and current (docs/compliance.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compliance.collect import NOT_PER_TEST, OUT
from tests.compliance.matrix import DOC, ROOT, by_rule, collect, render, unknown
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


def test_a_rule_marker_on_a_module_or_a_class_is_refused_not_counted(tmp_path: Path) -> None:
    """A marker above the tests claims its rules for every one of them, asserting or not:
    only a test's own markers count, and the others surface as an unknown rule."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    rule: rules\n")
    (tmp_path / "test_module_marked.py").write_text(
        "import pytest\npytestmark = pytest.mark.rule('abuse.caps')\n"
        "@pytest.mark.rule('abuse.throttle')\ndef test_a(): pass\n")
    (tmp_path / "test_class_marked.py").write_text(
        "import pytest\n@pytest.mark.rule('abuse.caps')\nclass TestGroup:\n"
        "    def test_b(self): pass\n")
    (tmp_path / "test_own.py").write_text(
        "import pytest\n@pytest.mark.parametrize('x', [1, 2])\n"
        "@pytest.mark.rule('abuse.caps')\ndef test_c(x): pass\n")
    out = tmp_path / "rules.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "tests.compliance.collect", "--rootdir", str(tmp_path), "-c",
         str(tmp_path / "pytest.ini"), str(tmp_path)],
        cwd=tmp_path, env={**os.environ, OUT: str(out), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(out.read_text()) == {
        "test_class_marked.py::TestGroup::test_b": [NOT_PER_TEST],
        "test_module_marked.py::test_a": [NOT_PER_TEST, "abuse.throttle"],
        "test_own.py::test_c": ["abuse.caps"],
    }
    assert unknown({"t": [NOT_PER_TEST]}) == {"t": [NOT_PER_TEST]}
