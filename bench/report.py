"""The results table: printed, and written as JSON and markdown under ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.wrk import Result

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class RowResult:
    key: str
    title: str
    runs: list[Result] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    redis_cmds: list[float] = field(default_factory=list)
    skipped: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs) if self.runs else 0.0

    def median(self, name: str) -> float:
        values = [getattr(r, name) for r in self.runs]
        return statistics.median(values) if values else 0.0


def _cell(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if value else "-"


def table(results: list[RowResult]) -> list[list[str]]:
    bare = next((r for r in results if r.key == "bare"), None)
    lines = [["row", "requests/s", "p50 ms", "p99 ms", "vs bare", "CPU µs/req",
              "vs bare (CPU)", "Redis cmds/req", "note"]]
    for row in results:
        if row.skipped:
            lines.append([row.title, "-", "-", "-", "-", "-", "-", "-", row.skipped])
            continue
        ratio = f"{row.rps / bare.rps:.2f}" if bare and bare.rps and row.runs else "-"
        cpu = statistics.median(row.cpu_us) if row.cpu_us else 0.0
        bare_cpu = statistics.median(bare.cpu_us) if bare and bare.cpu_us else 0.0
        cmds = statistics.median(row.redis_cmds) if row.redis_cmds else 0.0
        lines.append([row.title, _cell(row.rps), _cell(row.median("p50_ms"), 2),
                      _cell(row.median("p99_ms"), 2), ratio, _cell(cpu, 1),
                      f"{bare_cpu / cpu:.2f}" if cpu and bare_cpu else "-",
                      f"{cmds:.2f}" if row.redis_cmds else "-", "; ".join(row.problems)])
    return lines


def text(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown(lines: list[list[str]]) -> str:
    header, *body = lines
    align = ["---"] + ["--:"] * (len(header) - 2) + ["---"]
    return "\n".join("| " + " | ".join(line) + " |" for line in [header, align, *body])


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "machine": platform.machine()}


def write(results: list[RowResult], settings: dict[str, Any], command: str) -> tuple[Path, Path]:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = table(results)
    host = machine()
    meta = {"command": command, "settings": settings, "machine": host,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    rows = [{**{k: v for k, v in asdict(r).items() if k != "runs"},
             "runs": [{**asdict(run), "rps": run.rps} for run in r.runs],
             "median_rps": r.rps} for r in results]
    json_path = RESULTS / f"bench-{stamp}.json"
    json_path.write_text(json.dumps({**meta, "rows": rows}, indent=2))
    md_path = RESULTS / f"bench-{stamp}.md"
    md_path.write_text(
        f"Command: `{command}`  \nMachine: {host['cpus']} cores, Python "
        f"{host['python']}, {host['platform']}  \nSettings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
        + "  \nAll rows measured in the same run; ratios are to the bare route of this run. "
        "CPU µs/req is the worker's CPU time per request; 'vs bare (CPU)' is bare's CPU "
        "per request over the row's, the throughput ratio of a CPU-bound worker, steadier "
        "than requests/s when other work shares the machine. Redis cmds/req counts every "
        "command Redis executed (INFO commandstats), those run inside Lua scripts included; "
        "below 1 for the middleware rows because one MGET serves a batch of requests.\n\n"
        + markdown(lines) + "\n"
    )
    return json_path, md_path
