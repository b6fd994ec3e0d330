#!/usr/bin/env python3
"""Scale-out benchmark (issue #4): a fleet's ingest throughput against the embedded mode, its queue lag, and
where the CPU goes.

    .venv/bin/python bench/scaleout.py                        # embedded, then scale-out: 100k spans each
    .venv/bin/python bench/scaleout.py --quick                # 5k spans: checks the harness in about a minute
    .venv/bin/python bench/scaleout.py --repeat 3 --profile --max-load 1.0   # how bench/README.md's table was made

Configurations, each on fresh stores, every process stopped by PID afterwards:

* embedded: one `spyglass serve` as bench/run.py starts it (chDB, the local queue and blobs in its data
  dir); 4 concurrent senders of 512-span OTLP requests.
* scaleout: a scratch PostgreSQL database, a Redis key prefix and a moto S3 bucket (tests/support/stack.py)
  shared by one owner `spyglass serve` (chDB, the worker, the read API) and two `spyglass serve --no-worker`
  API processes (accept → raw batch to S3 → pointer job on the Redis stream → ack). The same workload is
  split across the API processes (2 senders each) and read back through the owner.

Measured from the first request until everything is readable: accepted spans/s (until the last ack),
queryable spans/s, request latency; the owner's queue (`GET /api/public/status` every 0.25 s: depth, in
flight, age of the oldest un-acked job); CPU seconds per process from /proc — each Spyglass process, moto,
redis-server, the PostgreSQL backends of the scratch database, this load generator, and the whole machine —
with the owner split into web, worker and chDB threads (Python threads named by `py-spy dump` when py-spy is
installed); peak RSS per process. `--repeat N` measures each configuration N times, taking turns, and
reports the run with the median queryable spans/s. `--profile` adds, per configuration, one more run with
`py-spy record --idle` on the owner and the first API process, and keeps where each of their Python threads
spends its wall-clock time.

Writes bench/results/scaleout/<UTC stamp>.json and the table between the scaleout markers of
bench/README.md. Exit status 0 when every span was acknowledged and became readable, else 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO)]  # sibling bench modules; tests.support for the shared engines

from encode import otlp_requests  # noqa: E402
from fleet import check_services  # noqa: E402
from processes import run_main  # noqa: E402
from procstats import machine_info  # noqa: E402
from pyspy import PYSPY  # noqa: E402
from report import README, save_json  # noqa: E402
from rich.console import Console  # noqa: E402
from run import PUBLIC_KEY  # noqa: E402
from scaleout_report import render, update_readme  # noqa: E402
from scaleout_run import median_run, ok, profiled_run, run_config  # noqa: E402
from workload import RunIdentity, generate, iso, salt_arg, traces_for  # noqa: E402

CONFIGS = ("embedded", "scaleout")
RESULTS_DIR = BENCH / "results" / "scaleout"
console = Console()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/scaleout.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)} (default: both)")
    p.add_argument(
        "--spans",
        type=int,
        default=None,
        help="OTLP spans per configuration (default 100000; --quick: 5000), rounded up to whole traces of 5",
    )
    p.add_argument("--quick", action="store_true", help="a small smoke run of the harness")
    p.add_argument("--batch-spans", type=int, default=512, help="spans per OTLP request (default 512)")
    p.add_argument(
        "--senders",
        type=int,
        default=4,
        help="concurrent senders in all, split evenly over the API processes (default 4)",
    )
    p.add_argument("--api-processes", type=int, default=2, help="`serve --no-worker` processes (default 2)")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measured runs per configuration, the configurations "
        "taking turns; the table shows the run with the median queryable spans/s and every run's "
        "figures (default 1)",
    )
    p.add_argument("--seed", type=int, default=42, help="decides the content (default 42)")
    p.add_argument("--salt", default=None, help="hex; decides ids and time window (default: random)")
    p.add_argument("--sample-interval", type=float, default=0.25, help="queue/RSS sampling period, s (default 0.25)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after each measured run, a second run with py-spy "
        "record on the owner and api-1; keeps their top functions (needs py-spy)",
    )
    p.add_argument("--profile-rate", type=int, default=50, help="py-spy samples per second (default 50)")
    p.add_argument(
        "--max-load",
        type=float,
        default=0.0,
        help="before each configuration, wait until the 1-minute load average is below this (default 0: don't wait)",
    )
    p.add_argument("--max-load-wait", type=float, default=900, help="longest wait for --max-load, s (default 900)")
    p.add_argument("--startup-timeout", type=float, default=120, help="per process, s (default 120)")
    p.add_argument("--readback-timeout", type=float, default=300, help="after the last ack, s (default 300)")
    p.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="longest pause between read-back polls (they start at 50 ms and back off), s (default 1)",
    )
    p.add_argument("--max-send-seconds", type=float, default=600, help="stop sending after this, s (default 600)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=f"default {RESULTS_DIR.relative_to(REPO)}")
    p.add_argument("--no-save", action="store_true", help="do not write the JSON result")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    p.add_argument("--keep-workdir", action="store_true", help="keep the data dirs and process logs")
    a = p.parse_args(argv)
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    if not a.configs or any(c not in CONFIGS for c in a.configs):
        p.error(f"--configs: choose from {', '.join(CONFIGS)}")
    a.spans = a.spans or (5_000 if a.quick else 100_000)
    if not 1 <= a.spans <= 1_000_000:
        p.error("--spans must be 1..1,000,000 (bodies are prebuilt in memory)")
    if not 1 <= a.repeat <= 10:
        p.error("--repeat must be 1..10")
    if not 1 <= a.api_processes <= 8 or a.senders < a.api_processes:
        p.error("--api-processes must be 1..8 and --senders at least one per API process")
    if a.profile and not PYSPY:
        p.error("--profile needs py-spy (.venv/bin/pip install py-spy)")
    a.salt = salt_arg(p, a.salt)
    return a


def main(argv: list[str] | None = None) -> tuple[int, dict]:
    a = parse_args(argv)
    if "scaleout" in a.configs:
        check_services()
    ident = RunIdentity(seed=a.seed, salt=a.salt)
    with console.status(f"building {traces_for(a.spans):,} traces …"):
        t0 = time.perf_counter()
        requests = otlp_requests(generate(traces_for(a.spans), ident), ident, a.batch_spans, False, PUBLIC_KEY)
        prebuild_s = time.perf_counter() - t0
    spans = sum(r.spans for r in requests)
    console.print(
        f"[dim]{spans:,} spans in {len(requests):,} requests "
        f"({sum(len(r.body) for r in requests) / 2**20:,.1f} MiB, built in {prebuild_s:.1f} s), "
        f"run tag {ident.run_tag}, window {iso(ident.window_start_ns)[:13]}h; py-spy: {PYSPY or 'no'}[/]"
    )
    run: dict = {
        "schema": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()} | {"spans": spans},
        "workload": {
            "spans": spans,
            "traces": traces_for(a.spans),
            "requests": len(requests),
            "wire_bytes": sum(len(r.body) for r in requests),
            "run_tag": ident.run_tag,
            "seed": a.seed,
            "salt": a.salt,
        },
        "machine": machine_info(),
        "configs": {},
    }
    status = 0
    runs: dict[str, list[dict]] = {c: [] for c in a.configs}
    for i in range(a.repeat):  # the configurations take turns, so a drift of the machine hits both
        for config in a.configs:
            turn = f" · run {i + 1} of {a.repeat}" if a.repeat > 1 else ""
            console.rule(f"[bold]{config}[/] · {spans:,} spans{turn}")
            runs[config].append(run_config(config, requests, ident, a))
            status |= 0 if ok(runs[config][-1], spans) else 1
    run["configs"] = {config: median_run(runs[config]) for config in a.configs}
    for config in a.configs if a.profile else ():
        console.rule(f"[bold]{config}[/] · profiled run (py-spy, not in the table)")
        run.setdefault("profiles", {})[config] = profiled_run(config, requests, ident, a)
    render(run)
    if not a.no_save:
        console.print(f"[dim]result {save_json(run, a.results_dir)}[/]")
    if not a.no_readme:
        update_readme(run)
        console.print(f"[dim]updated {README}[/]")
    return status, run


if __name__ == "__main__":
    run_main(main, "every process was stopped and the scratch stores removed")
