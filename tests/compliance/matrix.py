"""docs/compliance.md from the collected rule markers (SECURITY.md, rule by rule).

:func:`collect` runs ``pytest --collect-only`` over the suite with the
:mod:`tests.compliance.collect` plugin (nothing is executed) and returns test
-> rule ids. :func:`render` turns that into the matrix: one row per rule of
:data:`~tests.compliance.rules.RULES` with its RFC reference and the tests
that prove it. ``python -m tests.compliance`` (``scripts/compliance``) writes
the file; ``--check`` only compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tests.compliance.collect import OUT
from tests.compliance.rules import BY_ID, RULES, SECTIONS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compliance.md"


def collect() -> dict[str, list[str]]:
    """Test id -> rule ids, from a collection-only run of the whole suite."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rules.json"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "-p", "tests.compliance.collect", "tests"],
            cwd=ROOT, env={**os.environ, OUT: str(out)}, capture_output=True, text=True,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"collecting the suite failed:\n{done.stdout}\n{done.stderr}")
        found: dict[str, list[str]] = json.loads(out.read_text())
    return found


def by_rule(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """Rule id -> the tests that name it, sorted."""
    tests: dict[str, list[str]] = defaultdict(list)
    for test, rules in found.items():
        for rule in rules:
            tests[rule].append(test)
    return {rule: sorted(names) for rule, names in tests.items()}


def unknown(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """Tests whose markers name a rule the registry does not know."""
    bad = {test: [r for r in rules if r not in BY_ID] for test, rules in found.items()}
    return {test: rules for test, rules in bad.items() if rules}


def render(found: dict[str, list[str]]) -> str:
    tests = by_rule(found)
    proved = sum(1 for rule in RULES if tests.get(rule.id))
    lines = [
        "# Compliance matrix",
        "",
        "Every requirement of SECURITY.md, rule by rule, with the RFC section behind it and",
        "the tests that prove it. Generated from the `@pytest.mark.rule(...)` markers of the",
        "test suite by `scripts/compliance` — do not edit by hand; the suite fails when this",
        "file is out of date, when a rule has no test or when a marker names an unknown rule.",
        "The rules themselves live in `tests/compliance/rules.py`.",
        "",
        f"**{proved} of {len(RULES)} rules proved by {len(found)} tests.**",
    ]
    for section in SECTIONS:
        lines += ["", f"## {section}", "", "| rule | RFC | requirement | proved by |",
                  "|---|---|---|---|"]
        for rule in (r for r in RULES if r.section == section):
            names = tests.get(rule.id, [])
            proof = "<br>".join(f"`{name}`" for name in names) or "**no test**"
            text = rule.text.replace("|", "\\|")
            lines.append(f"| `{rule.id}` | {rule.rfc} | {text} | {proof} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(collect())
    if "--check" in argv:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print("docs/compliance.md is out of date: run scripts/compliance", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0
