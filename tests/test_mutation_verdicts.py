"""The mutation harness's report and resume (tests/mutation/verdicts.py): read from ``mutants/``.

mutmut leaves each mutant's exit code in ``mutants/<source>.meta`` (None: not run yet). A
stopped run is reported from those files; a mutant never run counts as neither caught nor
judged, so a run cut short does not pass for one with survivors; a resumed run judges again
everything but a kill.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.mutation.verdicts import carry_selection, metas, record_selection, reopen, report

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = "oauth_middleware/store/_gateway/*"
#: mutmut's exit codes: 1 killed, 36 timeout, 0 survived, 33 no tests, 34 skipped, None not run.
BATCH = {"batch.x_a__mutmut_1": 1, "batch.x_a__mutmut_2": 36, "batch.x_a__mutmut_3": 0,
         "batch.x_a__mutmut_4": 33, "batch.x_a__mutmut_5": None, "batch.x_a__mutmut_6": 34}


def _meta(root: Path, source: str, verdicts: dict[str, int | None]) -> Path:
    path = root / "mutants" / f"{source}.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": verdicts, "hash_by_function_name": {},
                                "type_check_error_by_key": {}, "durations_by_key": {},
                                "estimated_durations_by_key": {}}, indent=4))
    return path


def _mutants(root: Path) -> Path:
    _meta(root, "oauth_middleware/store/_gateway/batch.py", BATCH)
    _meta(root, "oauth_middleware/store/_gateway/cluster.py", {"cluster.x_b__mutmut_1": 0})
    _meta(root, "oauth_middleware/pkce.py", {"pkce.x_c__mutmut_1": 0})
    return root / "mutants"


def test_only_the_sources_the_patterns_pick_are_read_and_the_unmutated_are_left_out(
    tmp_path: Path,
) -> None:
    mutants = _mutants(tmp_path)
    assert list(metas(mutants, [GATEWAY], ["oauth_middleware/store/_gateway/cluster.py"])) == [
        "oauth_middleware/store/_gateway/batch.py"]
    assert list(metas(mutants, [GATEWAY, "oauth_middleware/pkce.py"])) == [
        "oauth_middleware/pkce.py", "oauth_middleware/store/_gateway/batch.py",
        "oauth_middleware/store/_gateway/cluster.py"]


def test_a_mutant_not_run_is_neither_caught_nor_judged_and_one_no_test_reaches_survives(
    tmp_path: Path,
) -> None:
    cluster = "oauth_middleware/store/_gateway/cluster.py"
    tally = report(metas(_mutants(tmp_path), [GATEWAY], [cluster]))
    assert (tally.caught, tally.judged, tally.unjudged) == (2, 4, 2)
    assert tally.rate == 0.5
    assert tally.survivors == ["no tests: batch.x_a__mutmut_4", "survived: batch.x_a__mutmut_3"]


def test_resuming_clears_every_verdict_but_a_kill_and_keeps_the_rest_of_the_file(
    tmp_path: Path,
) -> None:
    files = metas(_mutants(tmp_path), [GATEWAY])
    assert reopen(files) == 3  # survived, no tests, and cluster's survivor; skipped stays
    data = json.loads(files["oauth_middleware/store/_gateway/batch.py"].read_text())
    assert data["exit_code_by_key"] == {**BATCH, "batch.x_a__mutmut_3": None,
                                        "batch.x_a__mutmut_4": None}
    assert set(data) == {"exit_code_by_key", "hash_by_function_name", "type_check_error_by_key",
                         "durations_by_key", "estimated_durations_by_key"}
    assert reopen(files) == 0


def test_the_report_of_a_stopped_run_runs_nothing_and_fails_under_the_target(
    tmp_path: Path,
) -> None:
    _mutants(tmp_path)
    done = subprocess.run([sys.executable, "-m", "tests.mutation", "--report", "_gateway/*"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("oauth_middleware/store/_gateway/batch.py: 2/4 killed, 2 not judged "
                        "({'killed': 1, 'timeout': 1, 'survived': 1, 'no tests': 1, "
                        "'not checked': 1, 'skipped': 1})")
    assert lines[1:3] == ["no tests: batch.x_a__mutmut_4", "survived: batch.x_a__mutmut_3"]
    assert lines[3].startswith("kill rate 2/4 = 50.0% (2 not judged) over 1 module pattern(s)")
    assert not (tmp_path / "mutants" / "oauth_middleware" / "pkce.py").exists()


def test_a_resume_with_tests_only_added_keeps_the_kills_any_other_change_does_not(
    tmp_path: Path,
) -> None:
    mutants = tmp_path / "mutants"
    assert not carry_selection(mutants, ["tests/a.py"], "new")  # no record: mutmut decides
    record_selection(mutants, ["tests/a.py", "tests/b.py::test_x"])
    stats = {"config_fingerprint": {"test_selection": "old", "timeout": "t"}, "stats_time": 1}
    (mutants / "mutmut-stats.json").write_text(json.dumps(stats))
    for changed in (["tests/a.py"], ["tests/a.py", "tests/b.py"]):  # one dropped, one widened
        assert not carry_selection(mutants, changed, "new")
        assert json.loads((mutants / "mutmut-stats.json").read_text()) == stats
    assert carry_selection(mutants, ["tests/a.py", "tests/b.py::test_x", "tests/c.py"], "new")
    assert json.loads((mutants / "mutmut-stats.json").read_text()) == {
        **stats, "config_fingerprint": {"test_selection": "new", "timeout": "t"}}
