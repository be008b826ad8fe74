"""``python -m bench``: the benchmark table (default) or the memory soak (``--memory``).

See docs/performance.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import memory, report
from bench.runner import Bench, Settings


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--runs", type=int, default=3, help="rounds over all rows (median; 3)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per row per round (5)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per app (2)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--no-peer", action="store_true", help="skip the django-oauth-toolkit row")
    p.add_argument("--only", default="", help="comma-separated row keys (bare always runs)")
    p.add_argument("--pool-rate", type=int, default=4000,
                   help="requests/s assumed when sizing the first pool of single-use values")
    p.add_argument("--memory", action="store_true",
                   help="instead of the table: RSS of one worker across --requests requests")
    p.add_argument("--requests", type=int, default=1_000_000, help="for --memory (1,000,000)")
    return p.parse_args(argv)


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: every child process is stopped


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_term)
    args = parse(argv)
    command = shlex.join(["python", "-m", "bench", *argv])
    settings = Settings(
        runs=args.runs, duration=args.duration, connections=args.connections,
        threads=args.threads, warmup=args.warmup, pin=not args.no_pin,
        peer=not args.no_peer and not args.memory,
        only=tuple(k for k in args.only.split(",") if k), pool_rate=args.pool_rate,
    )
    if args.memory:
        return memory.main(settings, args.requests, command)
    with ExitStack() as stack, TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(settings, stack, Path(tmp))
        rows = bench.rows()
        results = {row.key: report.RowResult(row.key, row.title) for row in rows}
        for row in rows:
            results[row.key].skipped = bench.probe(row)
        live = [row for row in rows if results[row.key].skipped is None]
        bench.warm()
        for round_no in range(settings.runs):
            print(f"bench: round {round_no + 1}/{settings.runs}", flush=True)
            for row in live:
                bench.measure(row, results[row.key])
    final = list(results.values())
    print(report.text(report.table(final)))
    extra = {"runs": settings.runs, "duration_s": settings.duration,
             "connections": settings.connections, "wrk_threads": settings.threads,
             "pinned": settings.pin, "peer": bench.peer_versions or "not run"}
    json_path, md_path = report.write(final, extra, command)
    print(f"\nbench: results written to {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
