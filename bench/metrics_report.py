#!/usr/bin/env python3
"""The metrics-query latency table (issue #5) of bench/README.md, from saved scale runs.

    .venv/bin/python bench/metrics_report.py bench/results/scale/<stamp>-scale-spyglass.json [...]
    .venv/bin/python bench/metrics_report.py --print RESULT.json ...   # Markdown to stdout only

One block of rows per run (dataset size), every read query of bench/reads.py in its order,
the two ``/api/public/v2/metrics`` queries first, then the run's stamp, commit and machine.
Writes between ``<!-- metrics-v2:start -->`` and ``<!-- metrics-v2:end -->``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from reads import QUERIES  # noqa: E402
from report import README, num, write_between  # noqa: E402

START, END = "<!-- metrics-v2:start -->", "<!-- metrics-v2:end -->"
HEADING = "## Metrics v2 query latency (issue #5)"
LABELS = {
    "metrics_cost_by_model_day_30d": (
        "**v2 metrics: sum totalCost by providedModelName per day, 30 days**",
        "`GET /api/public/v2/metrics`",
    ),
    "metrics_p95_latency_by_trace_name_30d": (
        "**v2 metrics: p95 latency by traceName, 30 days (no time dimension)**",
        "`GET /api/public/v2/metrics`",
    ),
    "cost_by_model_day_30d": ("tokens and cost per model per day, 30 days", "`GET /api/public/metrics/daily`"),
    "latest_50_traces_24h": ("latest 50 traces, 24 h", "`GET /api/public/traces`"),
    "traces_by_user_24h": ("traces by user id, 24 h", "`GET /api/public/traces?userId=`"),
    "traces_by_tag_24h": ("traces by tag, 24 h", "`GET /api/public/traces?tags=`"),
    "trace_100_observations": ("one trace with 100 observations", "`GET /api/public/traces/{id}`"),
}
ORDER = [q for q in LABELS if q in QUERIES] + [q for q in QUERIES if q not in LABELS]


def _size(spans: int) -> str:
    return f"{round(spans / 1e6, 1):g}M" if spans >= 1_000_000 else f"{spans:,}"


def _items(q: dict) -> str:
    lo, hi = q.get("items_min"), q.get("items_max")
    if lo is None:
        return "–"
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def _duration(result: dict) -> str:
    if not result.get("finished_at"):
        return ""
    s = (datetime.fromisoformat(result["finished_at"]) - datetime.fromisoformat(result["started_at"])).total_seconds()
    return f" → {result['finished_at']} ({s / 60:,.1f} min in all)"


def markdown(results: list[dict]) -> str:
    results = sorted(results, key=lambda r: r["workload"]["spans"])
    lines = [
        "| Dataset | Query | Endpoint | p50 ms | p95 ms | Rows returned | Status |",
        "|--:|---|---|--:|--:|--:|---|",
    ]
    for r in results:
        size = f"{_size(r['workload']['spans'])} ({r['workload']['spans']:,} obs.)"
        queries = r["reads"]["queries"]
        for name in ORDER:
            q = queries.get(name)
            if q is None:
                continue
            label, endpoint = LABELS.get(name, (name, ""))
            cells = [size, label, endpoint, num(q["p50_ms"]), num(q["p95_ms"]), _items(q), q["status"]]
            lines.append("| " + " | ".join(cells) + " |")
    foot = [""]
    for r in results:
        m, ld, rd = r["machine"], r["load"], r["reads"]
        dirty = " + uncommitted changes under src/" if m.get("git_src_dirty") else ""
        loadavg = rd.get("loadavg_at_start")
        foot.append(
            f"{_size(r['workload']['spans'])}: run {r['started_at']}{_duration(r)} · commit {m.get('git_commit')}"
            f"{dirty} · {m.get('nproc')} cores ({m.get('cpu_model')}), {num(m.get('mem_total_mb'))} MB RAM, "
            f"Python {m.get('python')} · {num(r['workload']['spans'])} spans over {r['workload']['days']:g} days "
            f"loaded at {num(ld.get('queryable_spans_per_s'))} queryable spans/s ({num(ld.get('wall_s'))} s sending"
            f", all readable {num(ld.get('queryable_after_last_ack_s'), ',.0f')} s after the last ack) · reads: "
            f"{rd['warmup']} warm-up + {rd['repeats']} timed rounds, one request at a time"
            + (f", 1-min load average {loadavg[0]:.2f} as they started" if loadavg else "")
            + ".  "
        )
    foot[-1] = foot[-1].rstrip()
    return "\n".join(lines + foot)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/metrics_report.py", description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", type=Path, help="bench/results/scale/*.json of Spyglass runs")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--print", action="store_true", help="print the Markdown instead of writing the README")
    a = p.parse_args(argv)
    body = markdown([json.loads(path.read_text()) for path in a.results])
    if a.print:
        print(body)
    else:
        write_between(a.readme, START, END, body, heading=HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
