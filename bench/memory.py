"""``python -m bench --memory``: resident memory of one worker across many protected requests.

wrk loads the header-token route in slices; between slices the worker's RSS is
read from /proc. The first slice is warm-up and sets the baseline; the target is
RSS staying within 10% of it until the last request.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import procs, report, wrk
from bench.runner import Bench, Settings

#: Seconds of load between two RSS samples.
SLICE = 10.0


def main(settings: Settings, total: int, command: str) -> int:
    with ExitStack() as stack, TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(replace(settings, only=("header",)), stack, Path(tmp))
        proc = bench.apps["protected"]
        request = wrk.Request(headers={"Authorization": f"Bearer {bench.seeded.token}"})
        warm = bench.load(proc, request, SLICE)
        samples = [(warm.requests, procs.rss_kib(proc.pid))]
        print(f"bench: after warm-up ({warm.requests:,} requests) RSS {samples[0][1]:,} KiB")
        done = 0
        started = time.monotonic()
        while done < total:
            run = bench.load(proc, request, SLICE)
            if run.status_errors or run.socket_errors:
                raise RuntimeError(f"errors under load: {run}")
            done += run.requests
            samples.append((done, procs.rss_kib(proc.pid)))
            print(f"bench: {done:,} requests, RSS {samples[-1][1]:,} KiB", flush=True)
    base = samples[0][1]
    peak = max(rss for _, rss in samples)
    summary = {
        "command": command, "machine": report.machine(), "requests": done,
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib_after_warmup": base, "rss_kib_peak": peak, "rss_kib_end": samples[-1][1],
        "growth_percent": round(100 * (samples[-1][1] - base) / base, 2),
        "peak_growth_percent": round(100 * (peak - base) / base, 2),
        "samples": [{"requests": n, "rss_kib": rss} for n, rss in samples],
    }
    report.RESULTS.mkdir(exist_ok=True)
    path = report.RESULTS / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"bench: RSS {base:,} KiB after warm-up, {samples[-1][1]:,} KiB after {done:,} "
          f"requests ({summary['growth_percent']:+.2f}%), peak {peak:,} KiB "
          f"({summary['peak_growth_percent']:+.2f}%)\nbench: written to {path}")
    return 0
