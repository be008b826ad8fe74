"""scripts/mutate's map of modules to tests names files that exist (tests/mutation/plan.py)."""

from __future__ import annotations

import fnmatch
import signal
from pathlib import Path

import pytest

from tests.mutation.plan import MODULES, NOT_MUTATED, arguments, chosen
from tests.mutation.wall_clock import MutantHung, wall_clock

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutated_module_and_every_test_file_of_the_plan_exists() -> None:
    for module, tests in MODULES.items():
        assert list(ROOT.glob(module)), module
        for test in tests:
            path, _, name = test.partition("::")  # a file, or one test of it
            assert (ROOT / path).is_file(), (module, test)
            assert not name or f"def {name}(" in (ROOT / path).read_text(), (module, test)


def test_each_module_left_unmutated_exists_under_a_pattern_and_says_why() -> None:
    for module, why in NOT_MUTATED.items():
        assert (ROOT / module).is_file(), module
        assert any(fnmatch.fnmatch(module, pattern) for pattern in MODULES), module
        assert why.strip(), module


def test_modules_are_chosen_by_path_or_file_name_and_an_unknown_one_is_refused() -> None:
    assert chosen([]) == list(MODULES)
    assert chosen(["pkce.py", "oauth_middleware/server/client_auth.py"]) == [
        "oauth_middleware/pkce.py", "oauth_middleware/server/client_auth.py"]
    assert chosen(["grants/*"]) == ["oauth_middleware/server/grants/*"]
    with pytest.raises(SystemExit, match=r"nope\.py is not one of"):
        chosen(["nope.py"])


def test_a_run_is_fresh_resumed_or_only_reported_never_both() -> None:
    fresh = arguments(["pkce.py"])
    assert (fresh.resume, fresh.report, fresh.modules) == (False, False,
                                                           ["oauth_middleware/pkce.py"])
    resumed = arguments(["--resume", "_gateway/*"])
    assert resumed.resume and resumed.modules == ["oauth_middleware/store/_gateway/*"]
    assert arguments(["--report"]).modules == list(MODULES)
    with pytest.raises(SystemExit):
        arguments(["--resume", "--report"])
    with pytest.raises(SystemExit, match=r"nope\.py is not one of"):
        arguments(["--report", "nope.py"])


def test_a_test_hung_under_a_mutant_fails_at_its_wall_clock_limit() -> None:
    """mutmut's timeout counts CPU; an idle hang is ended by the alarm instead."""
    with pytest.raises(MutantHung, match="within 1 s"), wall_clock(1):
        signal.pause()
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.alarm(0) == 0
