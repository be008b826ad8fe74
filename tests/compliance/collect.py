"""A pytest plugin that writes which collected test carries which ``rule`` markers.

Loaded only by the generator (``-p tests.compliance.collect``), with the output
path in ``OM_COMPLIANCE_OUT``: a JSON object mapping each test (node id without
its parameters) to the sorted rule ids of its markers, for every test that has
any. Markers on modules (``pytestmark``) and on functions both count.
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


def pytest_collection_finish(session: pytest.Session) -> None:
    found: dict[str, set[str]] = {}
    for item in session.items:
        for marker in item.iter_markers(name="rule"):
            found.setdefault(test_id(item.nodeid), set()).update(str(a) for a in marker.args)
            if not marker.args or marker.kwargs:
                found[test_id(item.nodeid)].add("<a rule marker needs rule ids as arguments>")
    out = os.environ.get(OUT)
    if out:
        Path(out).write_text(json.dumps({k: sorted(v) for k, v in sorted(found.items())},
                                        indent=1))
