#!/usr/bin/env python3
"""The whole benchmark, Spyglass and Arize Phoenix side by side, in one run (`make bench`).

    .venv/bin/python bench/suite.py                          # default sizes, ~1 hour (10M spans: ~30 min)
    .venv/bin/python bench/suite.py --scale-spans 1000000    # reads at 1M spans only, ~25 minutes
    .venv/bin/python bench/suite.py --quick                  # small sizes, to try the harness

Steps, each on a fresh server with an empty store:

1. single-core Python ceiling (bench/ceiling.py);
2. ingestion: the same seeded OTLP workload (and, for Spyglass, the Langfuse batch variant)
   → accepted spans/s, request p50/p99, *queryable* spans/s, peak RSS, disk per span;
3. for Spyglass, 1M and 10M spans spread over 30 days, then the read queries
   through its public API; for Phoenix the same loader and queries at `--phoenix-scale-spans`
   (at its ~100 stored spans/s, 1M spans would take hours);
4. freshness (ack → readable) under a background load of half Spyglass's queryable rate.

Phoenix (`arize-phoenix`, pinned in bench/phoenix.py) is installed once into its own
virtualenv under ~/.cache/spyglass-bench and runs on SQLite and on a throw-away PostgreSQL
database. The result goes to bench/results/suite/<UTC stamp>.json and the table between the
`suite` markers in bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ceiling  # noqa: E402
import freshness  # noqa: E402
import httpx  # noqa: E402
import ingest  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import scale  # noqa: E402
import suite_report  # noqa: E402
from phoenix import BACKENDS, PhoenixReader, PhoenixServer, ensure_phoenix  # noqa: E402
from procstats import machine_info  # noqa: E402
from readback import PhoenixReadback, graphql_data  # noqa: E402
from rich.console import Console  # noqa: E402

console = Console()
SUITE_DIR = report.RESULTS_DIR / "suite"


def spyglass_server(workdir: Path) -> run.Server:
    return run.Server(run.SERVER_CMD, workdir, startup_timeout=120)


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- ingestion


def spyglass_ingest(mode: str, spans: int) -> dict:
    console.rule(f"[bold]Spyglass · ingest {mode}[/] · {spans:,} spans")
    options = argparse.Namespace(server_cmd=run.SERVER_CMD,
                                 startup_timeout=120, spans=spans)  # fmt: skip
    with temp_dir(f"spyglass-suite-{mode}-") as workdir:
        _rc, result = run.bench_mode(mode, options, [], workdir)
    return result


def phoenix_ingest(server: PhoenixServer, spans: int, timeout_s: float) -> dict:
    console.rule(f"[bold]Phoenix ({server.backend}) · ingest otlp[/] · {spans:,} spans")
    before = server.disk_bytes()
    argv = [
        "--mode=otlp", f"--spans={spans}", f"--endpoint={server.otlp_endpoint}", "--no-auth",
        "--readback=phoenix", f"--readback-timeout={timeout_s}", f"--label=phoenix-{server.backend}",
        f"--server-pid={server.pid}", "--no-save",
    ]  # fmt: skip
    _rc, result = ingest.main(argv)
    growth = server.disk_bytes() - before
    acked = result["send"]["acked_spans"]
    # Same measure for both stores: growth of what the server keeps on disk, per acknowledged span.
    result["disk"] = {"growth_bytes": growth, "bytes_per_span": growth / acked if acked else None,
                      "measured": "sqlite files" if server.backend == "sqlite" else "pg_database_size"}  # fmt: skip
    if server.backend == "postgres":
        result["postgres_backends"] = server.postgres_backend_memory_kb()
    result["server"] = {**(result.get("server") or {}), **server.result()}
    return result


# ---------------------------------------------------------------- reads at scale


def phoenix_counts(base_url: str) -> Callable[[httpx.Client, scale.Plan, str], tuple[int, int]]:
    """Stored spans and traces of the plan's time window, through Phoenix's GraphQL API."""

    def count(client: httpx.Client, plan: scale.Plan, _run_tag: str) -> tuple[int, int]:
        window = {"start": scale.iso(plan.window_start_ns - 10**9), "end": scale.iso(plan.window_end_ns + 3600 * 10**9)}
        r = client.post(base_url + "/graphql",
                        json={"query": PhoenixReadback.QUERY, "variables": {"name": PhoenixReadback.PROJECT,
                                                                             "timeRange": window}})  # fmt: skip
        project = graphql_data(r)["project"]
        return (0, 0) if project is None else (int(project["recordCount"]), int(project["traceCount"]))

    return count


def scale_args(spans: int, label: str, extra: list[str]) -> argparse.Namespace:
    return scale.parse_args([f"--spans={spans}", f"--label={label}", "--no-save", "--readback-timeout=3600", *extra])


def spyglass_scale(spans: int) -> dict:
    console.rule(f"[bold]Spyglass · {spans:,} spans over 30 days, then reads[/]")
    with temp_dir("spyglass-suite-scale-") as workdir:
        server = spyglass_server(workdir)
        try:
            a = scale_args(spans, "spyglass", [f"--base-url={server.base}", f"--server-pid={server.proc.pid}",
                                               f"--data-dir={server.data_dir}", f"--public-key={run.PUBLIC_KEY}",
                                               f"--secret-key={run.SECRET_KEY}"])  # fmt: skip
            _rc, result = scale.run(a, console)
        finally:
            server.stop()
    scale.render(result, console)
    return result


def phoenix_scale(server: PhoenixServer, spans: int) -> dict:
    console.rule(f"[bold]Phoenix ({server.backend}) · {spans:,} spans over 30 days, then reads[/]")
    before = server.disk_bytes()
    a = scale_args(spans, f"phoenix-{server.backend}", [f"--base-url={server.base_url}", f"--server-pid={server.pid}"])
    target = scale.ScaleTarget(
        label=a.label, otlp_url=server.otlp_endpoint, send_headers={},
        read_client=httpx.Client(timeout=120), reader=PhoenixReader(server.base_url),
        counts=phoenix_counts(server.base_url), version=lambda _client: server.version,
    )  # fmt: skip
    _rc, result = scale.run(a, console, target)
    acked = result["load"]["acked_spans"]
    result["load"]["disk_bytes_per_span"] = (server.disk_bytes() - before) / acked if acked else None
    scale.render(result, console)
    return result


# ---------------------------------------------------------------- freshness under load


def freshness_args(rate: float, duration: float) -> argparse.Namespace:
    return argparse.Namespace(load_rate=rate, duration=duration, interval=0.1, poll_ms=10, probe_timeout=30, settle=2)


def spyglass_freshness(rate: float, duration: float) -> dict:
    console.rule(f"[bold]Spyglass · freshness under {rate:,.0f} spans/s[/]")
    with temp_dir("spyglass-suite-fresh-") as workdir:
        server = spyglass_server(workdir)
        try:
            with httpx.Client(base_url=server.base, auth=(run.PUBLIC_KEY, run.SECRET_KEY), timeout=30) as client:
                return freshness.loaded(client, server.base, run.PUBLIC_KEY, run.SECRET_KEY,
                                        freshness_args(rate, duration))  # fmt: skip
        finally:
            server.stop()


def phoenix_freshness(server: PhoenixServer, rate: float, duration: float) -> dict:
    console.rule(f"[bold]Phoenix ({server.backend}) · freshness under {rate:,.0f} spans/s[/]")
    reader = PhoenixReader(server.base_url)
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        return freshness.loaded(client, server.base_url, None, None, freshness_args(rate, duration),
                                observations=reader.trace, otlp_path="/v1/traces")  # fmt: skip


# ---------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/suite.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    p.add_argument("--spans", type=int, default=100_000, help="Spyglass ingestion runs")
    p.add_argument("--phoenix-spans", type=int, default=10_000, help="Phoenix ingestion runs (it stores ~100/s)")
    p.add_argument("--scale-spans", type=int, nargs="+", default=[1_000_000, 10_000_000], help="Spyglass read runs")
    p.add_argument("--phoenix-scale-spans", type=int, default=10_000, help="Phoenix read runs")
    p.add_argument("--freshness-seconds", type=float, default=60)
    p.add_argument("--phoenix", default=",".join(BACKENDS), help="Phoenix backends to run ('' for none)")
    p.add_argument("--quick", action="store_true", help="small sizes everywhere: a harness check, not a result")
    p.add_argument("--no-readme", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.spans, a.phoenix_spans, a.scale_spans, a.phoenix_scale_spans, a.freshness_seconds = (
            20_000, 1_000, [50_000], 1_000, 15)
    a.phoenix = [b for b in a.phoenix.split(",") if b]
    if unknown := set(a.phoenix) - set(BACKENDS):
        p.error(f"unknown Phoenix backend(s) {sorted(unknown)}")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    started = time.perf_counter()
    suite: dict = {"schema": 1, "kind": "suite", "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "machine": machine_info(), "config": {k: v for k, v in vars(a).items()}, "spyglass": {},
                   "phoenix": {}}  # fmt: skip
    if a.phoenix:
        ensure_phoenix()

    console.rule("[bold]single-core Python ceiling[/]")
    suite["ceiling"] = ceiling.measure(50_000, 3)
    console.print(suite["ceiling"])

    SUITE_DIR.mkdir(parents=True, exist_ok=True)
    path = SUITE_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"

    def save() -> None:  # after every step: a crash late in a long run keeps what was measured
        suite["wall_s"] = round(time.perf_counter() - started, 1)
        path.write_text(suite_report.dumps(suite))

    sg = suite["spyglass"]
    sg["ingest"] = {mode: spyglass_ingest(mode, a.spans) for mode in ("otlp", "batch")}
    max_rate = sg["ingest"]["otlp"]["queryable"]["queryable_spans_per_s"] or 0
    load_rate = max(100.0, round(max_rate / 2, -2))
    suite["freshness_load_rate"] = load_rate
    sg["freshness"] = spyglass_freshness(load_rate, a.freshness_seconds)
    sg["scale"] = []
    save()
    scale_sizes = sorted(a.scale_spans)
    sg["scale"].append(spyglass_scale(scale_sizes[0]))
    save()

    for backend in a.phoenix:
        with PhoenixServer(backend) as server:
            px = suite["phoenix"][backend] = {"server": server.result()}
            px["ingest"] = phoenix_ingest(server, a.phoenix_spans, timeout_s=max(600, a.phoenix_spans / 10))
            px["scale"] = phoenix_scale(server, a.phoenix_scale_spans)
            # Last: Phoenix falls behind under this load and would still be draining it afterwards.
            px["freshness"] = phoenix_freshness(server, load_rate, min(a.freshness_seconds, 30))
        px["server"] = server.result()
        save()

    for spans in scale_sizes[1:]:  # the long ones last
        sg["scale"].append(spyglass_scale(spans))
        save()

    console.print(f"[dim]result {path}[/]")
    console.print(suite_report.markdown(suite))
    if not a.no_readme:
        suite_report.update_readme(suite)
        console.print(f"[dim]updated {report.README}[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
