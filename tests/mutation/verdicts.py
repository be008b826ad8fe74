"""What a mutation run judged, read back from ``mutants/``: the harness's report, and its resume.

mutmut writes each mutant's verdict into ``mutants/<source>.meta`` the moment it has it
(``exit_code_by_key``: the exit code of the mutant's tests, None while not yet run), so a
run stopped part way is reported from those files as well as a finished one, and a later
run can judge only what is left. The rate is killed over judged: a mutant not yet run
counts for neither (it is shown apart, as "not judged"), one that no selected test reaches
("no tests") is a survivor, and so is every survivor listed in EQUIVALENT.md.

mutmut clears every verdict when the tests a run selects change (it keeps a hash of the
list). A kill stays a kill when tests are only added, so a resumed run whose list holds
every test of the run before tells mutmut its list is unchanged (:func:`carry_selection`)
and mutmut collects what the added tests reach as it does for any new test.
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.stats import status_by_exit_code

#: Verdicts that count as caught: the tests failed, or ran past their time.
CAUGHT = frozenset({"killed", "timeout"})
#: Verdicts that are no judgement: not run yet, cut short by a stop, or skipped by config.
UNJUDGED = frozenset({"not checked", "check was interrupted by user", "skipped"})
#: The harness's record, next to mutmut's files, of the tests the last run selected.
SELECTION = "selection.json"
#: mutmut's own record of the last run: test durations, coverage, configuration hashes.
STATS = "mutmut-stats.json"


def metas(root: Path, patterns: Iterable[str], left_out: Iterable[str] = ()
          ) -> dict[str, Path]:
    """The verdict file of each mutated source under ``root`` that ``patterns`` pick."""
    wanted, skipped = list(patterns), set(left_out)
    found = {}
    for meta in sorted(root.rglob("*.py.meta")):
        source = meta.relative_to(root).as_posix()[: -len(".meta")]
        if source not in skipped and any(fnmatch.fnmatch(source, p) for p in wanted):
            found[source] = meta
    return found


def _verdicts(meta: Path) -> dict[str, int | None]:
    verdicts: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return verdicts


@dataclass
class Tally:
    """The totals of a report: caught and judged mutants, those not judged, the survivors."""

    caught: int = 0
    judged: int = 0
    unjudged: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.caught / self.judged if self.judged else 0.0


def report(files: dict[str, Path]) -> Tally:
    """Print one line per source (caught/judged, every verdict counted); return the totals,
    the survivors as ``status: name``, sorted."""
    tally = Tally()
    for source, meta in files.items():
        counts: Counter[str] = Counter()
        for name, code in _verdicts(meta).items():
            status = status_by_exit_code[code]
            counts[status] += 1
            if status not in CAUGHT | UNJUDGED:
                tally.survivors.append(f"{status}: {name}")
        caught = sum(counts[s] for s in CAUGHT)
        unjudged = sum(counts[s] for s in UNJUDGED)
        judged = sum(counts.values()) - unjudged
        tally.caught, tally.judged = tally.caught + caught, tally.judged + judged
        tally.unjudged += unjudged
        print(f"{source}: {caught}/{judged} killed, {unjudged} not judged ({dict(counts)})")
    tally.survivors.sort()
    return tally


def reopen(files: dict[str, Path]) -> int:
    """Clear every verdict but a kill (or a skip, which is the configuration's), so the
    next run judges those mutants again (a test added since may kill a survivor); return
    how many. Kills stand: a test that got weaker since is what a fresh run is for."""
    reopened = 0
    for meta in files.values():
        data = json.loads(meta.read_text())
        verdicts = data["exit_code_by_key"]
        for name, code in verdicts.items():
            if code is not None and status_by_exit_code[code] not in CAUGHT | {"skipped"}:
                verdicts[name] = None
                reopened += 1
        meta.write_text(json.dumps(data, indent=4))
    return reopened


def record_selection(root: Path, selection: list[str]) -> None:
    """Remember the tests this run selects, for :func:`carry_selection` on a resume."""
    root.mkdir(parents=True, exist_ok=True)
    (root / SELECTION).write_text(json.dumps(selection, indent=1))


def carry_selection(root: Path, selection: list[str], fingerprint: str) -> bool:
    """Give mutmut's record the hash of ``selection`` (``fingerprint``) when the run before
    selected no test that ``selection`` lacks; say whether it did. Otherwise (or with no
    record of the run before) mutmut sees the change and judges every mutant again."""
    try:
        before = json.loads((root / SELECTION).read_text())
        stats = json.loads((root / STATS).read_text())
    except FileNotFoundError:
        return False
    if not set(before) <= set(selection):
        return False
    stats["config_fingerprint"]["test_selection"] = fingerprint
    (root / STATS).write_text(json.dumps(stats, indent=4))
    return True
