"""The scale-out benchmark's table (bench/scaleout.py): on the terminal, and between its markers in bench/README.md."""

from __future__ import annotations

from pathlib import Path

from report import README, num, write_between
from rich.console import Console
from rich.table import Table

SECTION = "## Scale-out (issue #4)"
START, END = "<!-- scaleout:start -->", "<!-- scaleout:end -->"
README_THREADS = ("spyglass-worker", "spyglass-writer", "AnyIO worker thread")
CONFIG_TITLES = {"embedded": "embedded: 1 × `serve`", "scaleout": "scale-out: owner + {api} × `serve --no-worker`"}
console = Console()


def _title(run: dict, config: str) -> str:
    return CONFIG_TITLES.get(config, config).format(api=run["args"]["api_processes"])


def table_rows(run: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column titles, rows of (label, one cell per configuration)) for the terminal and the README."""
    configs = [c for c in CONFIG_TITLES if c in run["configs"]] + [c for c in run["configs"] if c not in CONFIG_TITLES]
    results = [run["configs"][c] for c in configs]
    nproc = run["machine"].get("nproc") or 0
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:  # noqa: ANN001
        rows.append((label, [fn(r) for r in results]))

    def cores(r: dict, seconds: float | None) -> str:
        w = r["cpu"]["window_s"]
        return f" ({seconds / w:.2f})" if seconds is not None and w else ""

    def cpu(key: str, seconds_of):  # noqa: ANN001, ANN202
        def cell(r: dict) -> str:
            v = r["cpu_us_per_span"].get(key)
            return "–" if v is None else f"{v:,.0f}{cores(r, seconds_of(r))}"

        return cell

    def comp(name: str):  # noqa: ANN202
        return cpu(name, lambda r: r["cpu"]["components_s"].get(name))

    def group(name: str):  # noqa: ANN202
        return cpu(f"owner.{name}", lambda r: r["cpu"]["owner_groups_s"].get(name))

    row(
        "spans sent · senders × spans per request",
        lambda r: (
            f"{r['send']['acked_spans'] + r['send']['failed_spans']:,} · {r['send']['senders']} × "
            f"{run['args']['batch_spans']}"
        ),
    )
    row("**accepted spans/s** (first request → last ack)", lambda r: f"**{num(r['send']['accepted_spans_per_s'])}**")
    row(
        "**queryable spans/s** (first request → all readable)",
        lambda r: (
            f"**{num(r['queryable']['queryable_spans_per_s'])}**"
            if r["queryable"]["status"] == "ok"
            else r["queryable"]["status"]
        ),
    )
    if run["args"].get("repeat", 1) > 1:
        row(
            f"each of the {run['args']['repeat']} runs: accepted / queryable spans/s",
            lambda r: " · ".join(
                f"{num(x['accepted_spans_per_s'])} / {num(x['queryable_spans_per_s'])}" for x in r["repeats"]
            ),
        )
    row("all readable after the last ack, s", lambda r: num(r["queryable"]["after_last_ack_s"], ".1f"))
    row(
        "request latency p50 / p99 ms",
        lambda r: f"{num(r['send']['latency_ms']['p50'])} / {num(r['send']['latency_ms']['p99'])}",
    )
    row("failed requests", lambda r: f"{r['send']['requests_failed']}")
    row(
        "queue: max depth / in flight / both (jobs of ≤ 512 spans)",
        lambda r: " / ".join(num(r["queue"][k]) for k in ("max_depth", "max_in_flight", "max_backlog")),
    )
    row(
        "queue: oldest un-acked job's age p50 / p95 / max, s",
        lambda r: " / ".join(num(r["queue"]["oldest_age_s"][k], ".1f") for k in ("p50", "p95", "max")),
    )
    rows.append(("*CPU µs per span (cores busy over the run)*", ["" for _ in results]))
    row("owner `spyglass serve` (the one process when embedded)", comp("owner"))
    row("  · web: event loop + request threads", group("web"))
    row("  · worker: take + merge, OLAP writer", group("worker"))
    row("  · chDB engine threads", group("chDB"))
    row("  · other Python / ended threads", group("other"))
    for i in range(run["args"]["api_processes"]):
        row(f"`serve --no-worker` api-{i + 1}", comp(f"api-{i + 1}"))
    row("moto S3 server", comp("moto"))
    row("redis-server", comp("redis-server"))
    row("PostgreSQL backends (scratch DB)", comp("postgres"))
    row("load generator (this script)", comp("loadgen"))
    row("rest of the machine (unattributed)", cpu("unattributed", lambda r: r["cpu"]["unattributed_s"]))
    row(f"**whole machine** (of {nproc} cores)", cpu("machine", lambda r: r["cpu"]["machine_busy_s"]))
    rows.append(("*peak RSS MB (sampled)*", ["" for _ in results]))
    names = dict.fromkeys(n for r in results for n in r["rss_mb"])
    for name in names:
        row(name, lambda r, name=name: num((r["rss_mb"].get(name) or {}).get("peak")))
    return [_title(run, c) for c in configs], rows


def markdown(run: dict) -> str:
    titles, rows = table_rows(run)
    lines = ["| Figure | " + " | ".join(titles) + " |", "|---|" + "--:|" * len(titles)]
    lines += [
        "| " + label.replace("  · ", "&nbsp;&nbsp;· ") + " | " + " | ".join(cells) + " |" for label, cells in rows
    ]
    m = run["machine"]
    loads = ", ".join(f"{c} {r['loadavg_at_start'][0]:.2f}" for c, r in run["configs"].items())
    lines.append("")
    lines.append(
        f"Run {run['started_at']} · commit {m.get('git_commit') or '–'} · {m.get('nproc')} cores "
        f"({m.get('cpu_model')}), {num(m.get('mem_total_mb'))} MB RAM, Python {m.get('python')} · 1-min load average "
        f"at the start of each configuration: {loads}. Every process, engine and the load generator share the "
        f"cores; S3 is moto's server mode (a Python process). CPU from /proc over first request → all readable; "
        f"owner threads named by {next(iter(run['configs'].values()))['cpu']['owner_threads_named_by']}."
    )
    profiled = [
        (c, node, thread, t)
        for c, prof in run.get("profiles", {}).items()
        for node, summary in prof["nodes"].items()
        for thread, t in summary.items()
        if thread in README_THREADS
    ]
    if profiled:
        lines += [
            "",
            f"Where the busiest Python threads spend their wall-clock time (py-spy --idle at "
            f"{run['args']['profile_rate']} Hz, a separate profiled run per configuration; share of the "
            "thread's samples inside each function):",
            "",
        ]
    for config, node, thread, t in profiled:
        top = ", ".join(
            f"`{f['function'].split(' (')[0]}` {f['share']:.0%}" for f in t["inclusive"][:6] if f["share"] >= 0.01
        )
        pool = f" ({t['threads']} threads)" if t["threads"] > 1 else ""
        lines.append(f"* {config} {node}, `{thread}`{pool}: {top}")
    return "\n".join(lines)


def update_readme(run: dict, readme: Path = README) -> None:
    write_between(readme, START, END, markdown(run), SECTION)


def render(run: dict) -> None:
    titles, rows = table_rows(run)
    t = Table(title=f"scale-out benchmark · {run['args']['spans']:,} spans")
    t.add_column("figure")
    for title in titles:
        t.add_column(title.replace("`", ""), justify="right")
    for label, cells in rows:
        t.add_row(label.replace("*", "").replace("`", ""), *(c.replace("*", "") for c in cells))
    console.print(t)
    for config, r in run["configs"].items():
        for msg in r["send"]["error_samples"]:
            console.print(f"[red]{config}: {msg}[/]")
        if r["queryable"].get("error"):
            console.print(f"[red]{config}: read-back {r['queryable']['error']}[/]")
        if r["queue"]["errors"]:
            console.print(f"[yellow]{config}: status sampler {r['queue']['errors'][0]}[/]")
    for config, prof in run.get("profiles", {}).items():
        for node, summary in prof["nodes"].items():
            for thread, t in list(summary.items())[:4]:
                pt = Table(
                    title=f"py-spy · {config} · {node} · {thread} × {t['threads']} · {t['samples']:,} samples "
                    "· share of its wall time inside",
                    show_header=False,
                )
                for f in t["inclusive"]:
                    pt.add_row(f"{f['share']:.1%}", f["function"])
                console.print(pt)
