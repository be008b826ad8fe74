"""``python -m tests.mutation [--resume | --report] [module ...]``: mutmut over the
security-critical modules.

A mutant is a small bug mutmut writes into one function (``<=`` turned into ``&``,
a string emptied, a branch inverted); the suite should fail on every one. Each
module is tested against the fast test files that exercise it (``plan.MODULES``:
fakeredis only, no browser, no uvicorn, no real redis-server), and mutmut runs,
for each mutant, only those of them that reached the mutated function. A run ends
with the kill rate per module and the survivors (:mod:`.verdicts`), which
``.venv/bin/mutmut show NAME`` prints as a diff; the exit status is 1 when the kill
rate is under :data:`TARGET`.

By default a run starts from scratch (``mutants/`` is deleted first: a cached verdict
would hide a test that changed). A long run can be stopped and taken up again:

* ``kill PID`` (SIGTERM) or Ctrl-C stops it as mutmut's own interrupt does (the mutants
  in flight are dropped, not judged) and still prints the report of what it judged.
* ``--report`` runs nothing: the report of the verdicts left in ``mutants/`` (a run
  killed outright, or one whose output was lost).
* ``--resume`` keeps ``mutants/``: mutmut judges the mutants that have no verdict yet,
  and those of functions changed since (it hashes each function); every verdict but a
  kill is cleared first, so a test added since gets its chance at the survivors. Test
  files added to the plan since keep the kills; any other change of the plan's tests
  makes mutmut judge everything again.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from mutmut.configuration import config

from tests.mutation.plan import MODULES, NOT_MUTATED, arguments
from tests.mutation.verdicts import carry_selection, metas, record_selection, reopen, report

#: The kill rate a run must reach (killed and timed-out mutants over all judged ones).
TARGET = 0.95
MUTANTS = Path("mutants")


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(modules: list[str], *, resume: bool) -> None:
    """mutmut over ``modules``, from scratch or (``resume``) from the verdicts it left."""
    settings = config()
    settings.only_mutate = modules
    settings.do_not_mutate = [*settings.do_not_mutate, *NOT_MUTATED]
    selection = sorted({t for m in modules for t in MODULES[m]})
    settings.pytest_add_cli_args_test_selection = selection
    if resume:
        kept = carry_selection(MUTANTS, selection, settings.config_fingerprint()["test_selection"])
        print(f"resuming: {reopen(metas(MUTANTS, modules, NOT_MUTATED))} verdict(s) to judge "
              f"again; the kills {'stand' if kept else 'too, as the tests changed'}")
    else:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    record_selection(MUTANTS, selection)
    # This process imported ``tests`` from the checkout; pytest, run in it from mutants/,
    # finds the copy there. mutmut allows that only while it collects coverage, which a
    # resume skips: the listing of the tests it does first would then fail.
    os.environ["PY_IGNORE_IMPORTMISMATCH"] = "1"
    from mutmut.__main__ import _run

    signal.signal(signal.SIGTERM, _stop)  # mutmut stops its workers on KeyboardInterrupt
    try:
        _run([], None)
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    except KeyboardInterrupt:  # before mutmut's own handler (generating, collecting)
        print("stopped")


def main(argv: list[str]) -> int:
    args = arguments(argv)
    modules = args.modules
    started = time.monotonic()
    if not args.report:
        run(modules, resume=args.resume)
    tally = report(metas(MUTANTS, modules, NOT_MUTATED))
    print("\n".join(tally.survivors))
    print(f"kill rate {tally.caught}/{tally.judged} = {tally.rate:.1%} ({tally.unjudged} not "
          f"judged) over {len(modules)} module pattern(s) in "
          f"{(time.monotonic() - started) / 60:.1f} min (target {TARGET:.0%})")
    return 0 if tally.rate >= TARGET else 1


sys.exit(main(sys.argv[1:]))
