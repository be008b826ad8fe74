"""scripts/mutate's map of modules to tests names files that exist (tests/mutation/plan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutation.plan import MODULES, chosen

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutated_module_and_every_test_file_of_the_plan_exists() -> None:
    for module, tests in MODULES.items():
        assert list(ROOT.glob(module)), module
        for test in tests:
            assert (ROOT / test).is_file(), (module, test)


def test_modules_are_chosen_by_path_or_file_name_and_an_unknown_one_is_refused() -> None:
    assert chosen([]) == list(MODULES)
    assert chosen(["pkce.py", "oauth_middleware/server/client_auth.py"]) == [
        "oauth_middleware/pkce.py", "oauth_middleware/server/client_auth.py"]
    assert chosen(["grants/*"]) == ["oauth_middleware/server/grants/*"]
    with pytest.raises(SystemExit, match=r"nope\.py is not one of"):
        chosen(["nope.py"])
