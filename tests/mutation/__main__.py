"""``python -m tests.mutation [module ...]``: mutmut over the security-critical modules.

A mutant is a small bug mutmut writes into one function (``<=`` turned into ``&``,
a string emptied, a branch inverted); the suite should fail on every one. Each
module is tested against the fast test files that exercise it (``plan.MODULES``:
fakeredis only, no browser, no uvicorn, no real redis-server), and mutmut runs,
for each mutant, only those of them that reached the mutated function. The run
starts from scratch (``mutants/`` is deleted first: a cached verdict would hide a
test that changed) and ends with the kill rate per module and the survivors,
which ``.venv/bin/mutmut show NAME`` prints as a diff. The exit status is 1 when
the kill rate is under :data:`TARGET`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from mutmut.configuration import config
from mutmut.stats import status_by_exit_code

from tests.mutation.plan import MODULES, NOT_MUTATED, chosen

#: The kill rate a run must reach (killed and timed-out mutants over all tested ones).
TARGET = 0.95


def report(modules: list[str], seconds: float) -> float:
    """Print the verdicts per module and the survivors; return the kill rate."""
    per_module: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        source = str(meta.relative_to("mutants"))[: -len(".meta")]
        verdicts = json.loads(meta.read_text())["exit_code_by_key"]
        counts = per_module.setdefault(source, Counter())
        for name, code in verdicts.items():
            status = status_by_exit_code[code]
            counts[status] += 1
            if status not in ("killed", "timeout", "skipped"):
                survivors.append(f"{status}: {name}")
    killed = tested = 0
    for source, counts in sorted(per_module.items()):
        caught = counts["killed"] + counts["timeout"]
        judged = sum(counts.values()) - counts["skipped"]
        killed, tested = killed + caught, tested + judged
        print(f"{source}: {caught}/{judged} killed ({dict(counts)})")
    rate = killed / tested if tested else 0.0
    print("\n".join(sorted(survivors)))
    print(f"kill rate {killed}/{tested} = {rate:.1%} over {len(modules)} module pattern(s) "
          f"in {seconds / 60:.1f} min (target {TARGET:.0%})")
    return rate


def main(argv: list[str]) -> int:
    modules = chosen(argv)
    settings = config()
    settings.only_mutate = modules
    settings.do_not_mutate = [*settings.do_not_mutate, *NOT_MUTATED]
    settings.pytest_add_cli_args_test_selection = sorted({t for m in modules for t in MODULES[m]})
    shutil.rmtree("mutants", ignore_errors=True)
    started = time.monotonic()
    from mutmut.__main__ import _run

    try:
        _run([], None)
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    return 0 if report(modules, time.monotonic() - started) >= TARGET else 1


sys.exit(main(sys.argv[1:]))
