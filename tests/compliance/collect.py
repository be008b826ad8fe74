"""A pytest plugin that writes which collected test carries which ``rule`` markers.

Loaded only by the generator (``-p tests.compliance.collect``), with the output
path in ``OM_COMPLIANCE_OUT``: a JSON object mapping each test (node id without
its parameters) to the sorted rule ids of its markers, for every test that has
any. Only a test's own markers count: a ``rule`` marker on a module
(``pytestmark``) or a class claims the rule for every test in it, whether it
asserts it or not, so such a marker is reported as an error (an unknown rule id
the matrix test refuses) instead of proof.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

OUT = "OM_COMPLIANCE_OUT"


def test_id(nodeid: str) -> str:
    """``tests/x.py::test_y[fake-1]`` -> ``tests/x.py::test_y``."""
    return nodeid.split("[", 1)[0]


#: Reported in place of the rule ids of a module- or class-level marker.
NOT_PER_TEST = "<a rule marker belongs on the test that asserts it, not on its module or class>"


def pytest_collection_finish(session: pytest.Session) -> None:
    found: dict[str, set[str]] = {}
    for item in session.items:
        for node, marker in item.iter_markers_with_node(name="rule"):
            rules = found.setdefault(test_id(item.nodeid), set())
            if node is not item:
                rules.add(NOT_PER_TEST)
                continue
            rules.update(str(a) for a in marker.args)
            if not marker.args or marker.kwargs:
                rules.add("<a rule marker needs rule ids as arguments>")
    out = os.environ.get(OUT)
    if out:
        Path(out).write_text(json.dumps({k: sorted(v) for k, v in sorted(found.items())},
                                        indent=1))
